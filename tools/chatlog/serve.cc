#include "serve.h"

#include "chat_machine.h"
#include "chat_service.h"
#include "client_port.h"
#include "protocol.h"

#include <coraft/logging.h>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <asio/use_awaitable.hpp>

#include <csignal>
#include <exception>
#include <memory>
#include <thread>

namespace chatlog {
namespace {

// The client port and the node share one io_context run by this many threads.
constexpr int io_thread_count = 2;

asio::awaitable<void> run_member(coraft::tcp_node& node, client_port& port, asio::signal_set& signals) {
  co_await node.start();
  port.start();
  coraft::log(coraft::log_level::info, "node ", node.self().id, " serves peers on ", node.self().peer_address,
              " and clients on ", node.self().client_address);
  co_await signals.async_wait(asio::use_awaitable);
  coraft::log(coraft::log_level::info, "node ", node.self().id, " stopping");
  // Connections close first so that no new request arrives; the node's
  // shutdown answers the requests still waiting on it; then the sessions end.
  port.close();
  co_await node.stop();
  co_await port.stop();
}

}  // namespace

int serve(const coraft::cluster_config& config, coraft::node_id id) {
  asio::io_context io;
  std::exception_ptr failure;
  try {
    auto machine = std::make_shared<chat_machine>(config.state_directory(id));
    coraft::tcp_node node(io.get_executor(), config, id, machine);
    chat_service service(node, machine);
    auto session = [&service](line_stream& stream) { return service.serve(stream); };
    auto port = std::make_shared<client_port>(io.get_executor(), node.self().client_address, max_line_bytes, session);
    asio::signal_set signals(io, SIGINT, SIGTERM);
    asio::co_spawn(io, run_member(node, *port, signals), [&](std::exception_ptr error) {
      failure = error;
      io.stop();  // what run_member started has stopped, or never started
    });
    std::thread helper([&io] { io.run(); });
    io.run();
    helper.join();
  } catch (...) {
    failure = std::current_exception();
  }
  if (!failure) return 0;
  try {
    std::rethrow_exception(failure);
  } catch (const std::exception& error) {
    coraft::log(coraft::log_level::error, "node ", id, ": ", error.what());
  }
  return 1;
}

}  // namespace chatlog
