#include "client_commands.h"

#include "chat_rules.h"
#include "follower.h"
#include "message_format.h"

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_future.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <future>
#include <functional>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

namespace chatlog {
namespace {

using namespace std::chrono_literals;

// Tail pages through a room this many messages at a time.
constexpr std::uint64_t page_length = 1000;
// status and snapshot ask every member once, and do not wait long for one.
constexpr std::chrono::milliseconds member_reply_timeout = 5s;

using command = std::function<asio::awaitable<int>(cluster_client&, const command_line&)>;

void check_usage(const std::optional<std::string>& problem) {
  if (problem) throw usage_error(*problem);
}

// Prints the refusal of a request; answers the exit status 1.
int refused(const std::string& what, const json& reply) {
  std::cerr << "chatlog " << what << ": " << reply.value("error", std::string("error")) << ": "
            << reply.value("message", std::string()) << "\n";
  return 1;
}

bool ok(const json& reply) { return reply.value("ok", false); }

std::string read_mode_of(const command_line& args) {
  const std::string mode = args.flag("stale") ? "stale" : args.option("read").value_or("linearizable");
  if (!parse_read_choice(mode)) throw usage_error("--read expects linearizable, lease, follower or stale");
  return mode;
}

// ---------------------------------------------------------------- post

class poster {
 public:
  poster(cluster_client& client, std::string room, std::string user, bool as_json)
      : client_(client), room_(std::move(room)), user_(std::move(user)), as_json_(as_json) {}

  // Posts `text`, retrying until it is stored (exactly once, thanks to the
  // session); false when it was refused. Throws unavailable_error when no
  // member answers within the client's patience.
  asio::awaitable<bool> post(const std::string& text) {
    const json request = {{"op", "post"}, {"room", room_}, {"user", user_}, {"text", text},
                          {"client", client_id_}, {"seq", ++sequence_}};
    json reply = co_await client_.call(request);
    if (!ok(reply)) {
      refused("post", reply);
      co_return false;
    }
    if (as_json_) {
      reply["text"] = text;
      std::cout << to_text(reply) << std::endl;
    } else {
      std::cout << "posted #" << reply.value("seq", std::uint64_t{0}) << " to " << room_ << std::endl;
    }
    co_return true;
  }

 private:
  cluster_client& client_;
  std::string room_;
  std::string user_;
  bool as_json_;
  const std::uint64_t client_id_ = new_client_id();
  std::uint64_t sequence_ = 0;
};

std::string joined(const std::vector<std::string>& words) {
  std::string text;
  for (const std::string& word : words) text += (text.empty() ? "" : " ") + word;
  return text;
}

asio::awaitable<int> post(cluster_client& client, const command_line& args) {
  const std::string room = args.required("room");
  const std::string user = args.required("user");
  check_usage(check_room(room));
  check_usage(check_user(user));
  poster session(client, room, user, args.flag("json"));
  if (!args.flag("stdin")) {
    const std::string text = joined(args.positional());
    check_usage(check_text(text));
    co_return co_await session.post(text) ? 0 : 1;
  }
  // One message per line, in order; blank lines are skipped.
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.find_first_not_of(' ') == std::string::npos) continue;
    if (auto problem = check_text(line)) {
      std::cerr << "chatlog post: skipped a line: " << *problem << "\n";
      continue;
    }
    if (!co_await session.post(line)) co_return 1;
  }
  co_return 0;
}

// ---------------------------------------------------------------- reads

void print_message(const json& message, bool as_json) {
  if (as_json) {
    std::cout << to_text(message) << "\n";
  } else {
    std::cout << format_message(message, false, false) << "\n";
  }
}

asio::awaitable<int> tail(cluster_client& client, const command_line& args) {
  const std::string room = args.required("room");
  check_usage(check_room(room));
  const std::string mode = read_mode_of(args);
  const bool as_json = args.flag("json");
  std::uint64_t next = args.number("from").value_or(1);
  std::optional<std::uint64_t> last = args.number("last");
  for (;;) {
    json request = {{"op", "tail"}, {"room", room}, {"limit", page_length}, {"read", mode}};
    if (last) {
      request["last"] = *std::exchange(last, std::nullopt);
    } else {
      request["from"] = next;
    }
    const json reply = co_await client.call(request);
    if (!ok(reply)) co_return refused("tail", reply);
    for (const json& message : reply.at("messages")) {
      print_message(message, as_json);
      next = message.at("seq").get<std::uint64_t>() + 1;
    }
    std::cout << std::flush;
    if (reply.at("messages").size() < page_length || next > reply.at("last").get<std::uint64_t>()) break;
  }
  if (!args.flag("follow")) co_return 0;
  follow_callbacks callbacks{[as_json](const json& message) {
                               print_message(message, as_json);
                               std::cout << std::flush;
                             },
                             [](const std::string& notice) { std::cerr << "-- " << notice << "\n"; }};
  co_await follow_room(client.options(), room, next, std::move(callbacks));
  co_return 0;
}

asio::awaitable<int> rooms(cluster_client& client, const command_line& args) {
  const json request = {{"op", "rooms"}, {"read", read_mode_of(args)}};
  const json reply = co_await client.call(request);
  if (!ok(reply)) co_return refused("rooms", reply);
  for (const json& room : reply.at("rooms")) {
    if (args.flag("json")) {
      std::cout << to_text(room) << "\n";
    } else {
      std::cout << std::left << std::setw(24) << room.at("room").get<std::string>() << " " << room.at("messages")
                << " messages\n";
    }
  }
  co_return 0;
}

// ---------------------------------------------------------------- status

// Each member's status reply, or its failure as {"address", "error"}.
asio::awaitable<std::vector<json>> status_of_members(cluster_client& client) {
  std::vector<json> replies;
  for (const std::string& address : client.options().servers) {
    const json request = {{"op", "status"}};
    try {
      json reply = co_await client.call_member(address, request);
      reply["address"] = address;
      replies.push_back(std::move(reply));
    } catch (const std::system_error& error) {
      replies.push_back({{"address", address}, {"ok", false}, {"error", "unreachable"}, {"message", error.what()}});
    }
  }
  co_return replies;
}

std::string status_table(const std::vector<json>& replies) {
  std::uint64_t highest_commit = 0;
  std::map<std::uint64_t, std::int64_t> since_contact;  // from the leader's view of its followers
  for (const json& reply : replies) {
    if (!ok(reply)) continue;
    const json& metrics = reply.at("metrics");
    highest_commit = std::max(highest_commit, metrics.at("commit").get<std::uint64_t>());
    if (metrics.at("role") != "leader") continue;
    for (const json& peer : metrics.at("peers")) {
      since_contact[peer.at("id").get<std::uint64_t>()] = peer.at("since_last_contact_ms").get<std::int64_t>();
    }
  }
  std::ostringstream table;
  table << std::left << std::setw(5) << "NODE" << std::setw(22) << "ADDRESS" << std::setw(14) << "ROLE"
        << std::setw(6) << "TERM" << std::setw(7) << "LEADER" << std::setw(9) << "COMMIT" << std::setw(9)
        << "APPLIED" << std::setw(6) << "LAG" << "LAST CONTACT\n";
  for (const json& reply : replies) {
    if (!ok(reply)) {
      table << std::setw(5) << "?" << std::setw(22) << reply.at("address").get<std::string>() << "unreachable: "
            << reply.at("message").get<std::string>() << "\n";
      continue;
    }
    const json& metrics = reply.at("metrics");
    const std::uint64_t id = metrics.at("id").get<std::uint64_t>();
    const std::uint64_t applied = metrics.at("applied").get<std::uint64_t>();
    std::string contact = "-";
    if (metrics.at("role") == "leader") {
      contact = "(leader)";
    } else if (auto found = since_contact.find(id); found != since_contact.end() && found->second >= 0) {
      contact = std::to_string(found->second) + " ms ago";
    }
    const std::uint64_t leader = metrics.at("leader").get<std::uint64_t>();
    table << std::setw(5) << id << std::setw(22) << reply.at("address").get<std::string>() << std::setw(14)
          << metrics.at("role").get<std::string>() << std::setw(6) << metrics.at("term").get<std::uint64_t>()
          << std::setw(7) << (leader == 0 ? std::string("-") : std::to_string(leader)) << std::setw(9)
          << metrics.at("commit").get<std::uint64_t>() << std::setw(9) << applied << std::setw(6)
          << (highest_commit > applied ? highest_commit - applied : 0) << contact << "\n";
  }
  return table.str();
}

asio::awaitable<int> status(cluster_client& client, const command_line& args) {
  for (;;) {
    const std::vector<json> replies = co_await status_of_members(client);
    if (args.flag("json")) {
      std::cout << to_text(json(replies)) << std::endl;
    } else {
      if (args.flag("watch")) std::cout << "\033[H\033[2J";
      std::cout << status_table(replies) << std::flush;
    }
    if (!args.flag("watch")) {
      co_return std::any_of(replies.begin(), replies.end(), ok) ? 0 : 1;
    }
    asio::steady_timer pause(co_await asio::this_coro::executor, 1s);
    co_await pause.async_wait(asio::use_awaitable);
  }
}

// ---------------------------------------------------------------- operators

std::string ids(const json& list) {
  std::string text;
  for (const json& id : list) text += (text.empty() ? "" : ", ") + std::to_string(id.get<std::uint64_t>());
  return text.empty() ? "none" : text;
}

asio::awaitable<int> list_members(cluster_client& client) {
  const json request = {{"op", "status"}};
  const json reply = co_await client.call(request);
  if (!ok(reply)) co_return refused("members", reply);
  const json& config = reply.at("metrics").at("config");
  std::cout << "voters:   " << ids(config.at("voters")) << "\n"
            << "learners: " << ids(config.at("learners")) << "\n";
  if (!config.at("outgoing_voters").empty()) std::cout << "leaving:  " << ids(config.at("outgoing_voters")) << "\n";
  co_return 0;
}

asio::awaitable<int> members(cluster_client& client, const command_line& args) {
  if (args.positional().size() != 1) throw usage_error("expected one action: add, remove, promote or list");
  const std::string action = args.positional().front();
  if (action == "list") co_return co_await list_members(client);
  if (action != "add" && action != "remove" && action != "promote") {
    throw usage_error("unknown action " + action + ": expected add, remove, promote or list");
  }
  const std::optional<std::uint64_t> id = args.number("id");
  if (!id || *id == 0) throw usage_error("--id names the member (a node id from 1)");
  json request = {{"op", "members"}, {"action", action}, {"id", *id}};
  if (auto address = args.option("peer-address")) request["peer_address"] = *address;
  if (auto address = args.option("client-address")) request["client_address"] = *address;
  const json reply = co_await client.call(request);
  if (!ok(reply)) co_return refused("members " + action, reply);
  std::cout << "members " << action << " " << *id << ": done\n";
  co_return 0;
}

asio::awaitable<int> transfer(cluster_client& client, const command_line& args) {
  const std::uint64_t to = args.number("to").value_or(0);
  if (to == 0) throw usage_error("--to names the node to hand leadership to");
  const json request = {{"op", "transfer"}, {"to", to}};
  const json reply = co_await client.call(request);
  if (!ok(reply)) co_return refused("transfer", reply);
  std::cout << "node " << to << " leads now\n";
  co_return 0;
}

// Every member given takes a snapshot of its own state.
asio::awaitable<int> snapshot(cluster_client& client, const command_line&) {
  int status = 0;
  for (const std::string& address : client.options().servers) {
    const json request = {{"op", "snapshot"}};
    try {
      const json reply = co_await client.call_member(address, request);
      if (!ok(reply)) {
        status = refused("snapshot at " + address, reply);
        continue;
      }
      std::cout << "node " << reply.at("node") << " (" << address << "): snapshot through index "
                << reply.at("last_included").at("index") << ", term " << reply.at("last_included").at("term") << "\n";
    } catch (const std::system_error& error) {
      std::cerr << "chatlog snapshot: " << address << ": " << error.what() << "\n";
      status = 1;
    }
  }
  co_return status;
}

struct command_entry {
  command_spec spec;
  command run;
};

const std::map<std::string, command_entry>& commands() {
  static const std::map<std::string, command_entry> table = {
      {"post", {{{"room", "user"}, {"stdin", "json"}}, post}},
      {"tail", {{{"room", "from", "last", "read"}, {"follow", "stale", "json"}}, tail}},
      {"rooms", {{{"read"}, {"stale", "json"}}, rooms}},
      {"status", {{{}, {"watch", "json"}}, status}},
      {"members", {{{"id", "peer-address", "client-address"}, {}}, members}},
      {"transfer", {{{"to"}, {}}, transfer}},
      {"snapshot", {{{}, {}}, snapshot}},
  };
  return table;
}

}  // namespace

bool is_client_command(const std::string& name) { return commands().contains(name); }

command_spec client_command_spec(const std::string& name) { return commands().at(name).spec; }

int run_client_command(const std::string& name, const client_options& options, const command_line& args) {
  client_options chosen = options;
  if (name == "status" || name == "snapshot") chosen.reply_timeout = member_reply_timeout;
  asio::io_context io;
  cluster_client client(io.get_executor(), chosen);
  std::future<int> status = asio::co_spawn(io, commands().at(name).run(client, args), asio::use_future);
  io.run();
  return status.get();
}

}  // namespace chatlog
