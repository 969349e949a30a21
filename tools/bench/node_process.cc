#include "node_process.h"

#include "client_port.h"
#include "cluster.h"
#include "io_threads.h"
#include "load_generator.h"
#include "machine.h"

#include <coraft/memory_kv_state_machine.h>
#include <coraft/tcp_node.h>

#include <nlohmann/json.hpp>

#include <sys/prctl.h>

#include <exception>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace coraft::bench {
namespace {

void answer(const nlohmann::json& line) { std::cout << line.dump() << std::endl; }

// Carries out the parent's commands on a started node.
class node_controller {
 public:
  node_controller(io_threads& io, raft& node) : io_(io), node_(node) { mark(); }

  nlohmann::json handle(const nlohmann::json& command) {
    const std::string name = command.at("command").get<std::string>();
    if (name == "status") return status();
    if (name == "mark") {
      mark();
      return {{"marked", true}};
    }
    if (name == "sample") return to_json(sample());
    if (name == "load") return to_json(load(load_spec_from_json(command.at("spec"))));
    throw std::invalid_argument("unknown command \"" + name + "\"");
  }

 private:
  nlohmann::json status() const {
    const metrics now = node_.get_metrics();
    return {
        {"role", now.role}, {"term", now.term.value}, {"commit", now.commit.value}, {"last_log", now.last_log.value}};
  }

  void mark() {
    counters_at_mark_ = node_.get_metrics().totals;
    usage_at_mark_ = resource_usage_now();
    reset_peak_rss();
  }

  node_sample sample() const {
    const metrics now = node_.get_metrics();
    return {.id = now.id,
            .role = now.role,
            .totals = counters_since(now.totals, counters_at_mark_),
            .usage = resource_usage_now() - usage_at_mark_,
            .peak_rss_bytes = peak_rss_bytes()};
  }

  load_result load(const load_spec& spec) {
    proposer propose = [this](std::size_t, std::string command) { return node_.propose(std::move(command)); };
    return io_.run(run_load(io_.executor(), std::move(propose), spec));
  }

  io_threads& io_;
  raft& node_;
  counters counters_at_mark_;
  resource_usage usage_at_mark_;
};

// Answers commands until "stop" or the end of the input.
void serve_commands(node_controller& controller) {
  for (std::string line; std::getline(std::cin, line);) {
    try {
      const nlohmann::json command = nlohmann::json::parse(line);
      if (command.at("command") == "stop") return;
      answer(controller.handle(command));
    } catch (const std::exception& failure) {
      answer({{"error", failure.what()}});
    }
  }
}

int serve(const node_process_options& options) {
  const cluster_config config = load_cluster_config(options.config_file);
  io_threads io(options.threads);
  std::optional<asio::any_io_executor> machine_executor;
  if (options.state_machine_on_io) machine_executor = io.executor();
  tcp_node node(io.executor(), config, options.id, std::make_shared<memory_kv_state_machine>(), machine_executor);
  io.run(node.start());
  // The clients get a thread of their own: a flood of requests on the node's
  // threads would delay its raft traffic past the election timeout.
  io_threads client_io(1);
  std::optional<client_port> port;
  try {
    port.emplace(client_io.executor(), node.self().client_address, node.raft());
  } catch (...) {
    io.run(node.stop());
    throw;
  }
  answer({{"ready", true}});
  node_controller controller(io, node.raft());
  serve_commands(controller);
  client_io.run(port->close());
  io.run(node.stop());
  answer({{"stopped", true}});
  return 0;
}

}  // namespace

int run_node_process(const node_process_options& options) {
  // Started as /proc/self/exe, the process would be called "exe" in ps and perf.
  const std::string name = "coraft-node-" + std::to_string(options.id.value);
  ::prctl(PR_SET_NAME, name.c_str());
  try {
    return serve(options);
  } catch (const std::exception& failure) {
    answer({{"error", std::string("node ") + std::to_string(options.id.value) + ": " + failure.what()}});
    return 1;
  }
}

}  // namespace coraft::bench
