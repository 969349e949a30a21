// chatlog: a replicated chat log on coraft. `chatlog help` lists the subcommands.
#include "chat_terminal.h"
#include "client_commands.h"
#include "command_line.h"
#include "message_format.h"
#include "serve.h"

#include <coraft/logging.h>
#include <coraft/tcp_node.h>

#include <chrono>
#include <iostream>
#include <string>
#include <vector>

namespace {

constexpr const char* usage = R"(usage: chatlog COMMAND [options]

A member of the cluster:
  serve --config FILE --id N [--log-level debug|info|warning|error]

Clients find the members with --config FILE or --servers HOST:PORT,... and
give up after --timeout SECONDS (default 30) without an answer:
  post --room R --user U TEXT...     post one message (exactly once)
  post --room R --user U --stdin     post each line of standard input, in order
       [--json]                      print each stored message as JSON
  tail --room R [--from N | --last N] [--follow] [--json]
       [--read linearizable|lease|follower|stale] [--stale]
  rooms [--read MODE] [--stale] [--json]
  status [--watch] [--json]          every member's role, term, indexes and lag
  chat --room R --user U             an interactive chat in this terminal
  members add --id N [--peer-address A --client-address A]
  members promote --id N | members remove --id N | members list
  transfer --to N                    hand leadership to node N
  snapshot                           every member given takes a snapshot
)";

const chatlog::command_spec serve_spec{{"config", "id", "log-level"}, {}};
const std::set<std::string> client_options_names = {"config", "servers", "timeout"};

std::vector<std::string> split(const std::string& list, char separator) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= list.size()) {
    const std::size_t end = std::min(list.find(separator, start), list.size());
    if (end > start) parts.push_back(list.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

coraft::log_level parse_log_level(const std::string& name) {
  for (auto level : {coraft::log_level::debug, coraft::log_level::info, coraft::log_level::warning,
                     coraft::log_level::error}) {
    if (coraft::to_string(level) == name) return level;
  }
  throw chatlog::usage_error("--log-level expects debug, info, warning or error");
}

// Log lines on stderr: "14:03:05.123 node 2 warning: ...".
void log_to_stderr(const std::string& who, coraft::log_level minimum) {
  // The library calls the sink one line at a time: no locking needed.
  coraft::set_log_sink(
      [who](coraft::log_level level, std::string_view line) {
        using namespace std::chrono;
        const auto now = duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
        const std::string stamp = chatlog::local_clock(static_cast<std::uint64_t>(now), true);
        std::cerr << stamp << " " << who << " " << coraft::to_string(level) << ": " << line << "\n";
      },
      minimum);
}

int serve(const std::vector<std::string>& words) {
  const chatlog::command_line args(words, serve_spec);
  const coraft::cluster_config config = coraft::load_cluster_config(args.required("config"));
  const coraft::node_id id(args.number("id").value_or(0));
  if (!config.member(id)) throw chatlog::usage_error("--id must name a member of the cluster file");
  log_to_stderr("node " + std::to_string(id.value), parse_log_level(args.option("log-level").value_or("info")));
  return chatlog::serve(config, id);
}

chatlog::command_spec with_client_options(chatlog::command_spec spec) {
  spec.options.insert(client_options_names.begin(), client_options_names.end());
  return spec;
}

chatlog::client_options client_options_of(const chatlog::command_line& args) {
  chatlog::client_options options;
  if (auto servers = args.option("servers")) {
    options.servers = split(*servers, ',');
  } else if (auto path = args.option("config")) {
    for (const coraft::cluster_member& member : coraft::load_cluster_config(*path).members) {
      options.servers.push_back(member.client_address);
    }
  }
  if (options.servers.empty()) throw chatlog::usage_error("give --config FILE or --servers HOST:PORT,...");
  if (auto seconds = args.number("timeout")) options.patience = std::chrono::seconds(*seconds);
  return options;
}

int run(const std::string& name, const std::vector<std::string>& words) {
  if (name == "serve") return serve(words);
  log_to_stderr("chatlog", coraft::log_level::warning);
  if (name == "chat") {
    const chatlog::command_line args(words, with_client_options({{"room", "user"}, {}}));
    return chatlog::run_chat(client_options_of(args), args.required("room"), args.required("user"));
  }
  if (chatlog::is_client_command(name)) {
    const chatlog::command_line args(words, with_client_options(chatlog::client_command_spec(name)));
    return chatlog::run_client_command(name, client_options_of(args), args);
  }
  throw chatlog::usage_error("unknown command " + name);
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> words(argv + std::min(argc, 2), argv + argc);
  const std::string name = argc >= 2 ? argv[1] : "help";
  if (name == "help" || name == "--help" || name == "-h") {
    std::cout << usage;
    return argc >= 2 ? 0 : 2;
  }
  try {
    return run(name, words);
  } catch (const chatlog::usage_error& error) {
    std::cerr << "chatlog " << name << ": " << error.what() << "\n\n" << usage;
    return 2;
  } catch (const coraft::cluster_config_error& error) {
    std::cerr << "chatlog " << name << ": " << error.what() << "\n";
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "chatlog " << name << ": " << error.what() << "\n";
    return 1;
  }
}
