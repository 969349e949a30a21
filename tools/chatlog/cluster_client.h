// The client side of the chatlog protocol: finds the member that can answer a
// request, follows not_leader redirects, moves on when a member does not
// answer, and retries what the protocol says may be retried.
#pragma once

#include "line_stream.h"
#include "protocol.h"

#include <asio/any_io_executor.hpp>
#include <asio/awaitable.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace chatlog {

struct client_options {
  // Client addresses of the members ("host:port"); at least one.
  std::vector<std::string> servers;
  // A call gives up when no member answered it within this time.
  std::chrono::milliseconds patience{30'000};
  std::chrono::milliseconds connect_timeout{2'000};
  // A member that has not answered a request within this time is given up
  // (longer than a member's own request timeout, so that it answers first).
  std::chrono::milliseconds reply_timeout{15'000};
};

// No member gave a usable answer in time; what() says what each one did.
class unavailable_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Used from one coroutine at a time, on one executor.
class cluster_client {
 public:
  cluster_client(asio::any_io_executor executor, client_options options);

  // Sends `request` until a member answers it with success or an error that
  // retrying cannot help (returned as the reply). Starts with the member that
  // last led; a request with a session (post with client and seq) is applied
  // once however often it is sent. Throws unavailable_error when patience
  // runs out.
  asio::awaitable<json> call(const json& request);
  // Sends `request` to the member at `address` only, once. Throws
  // std::system_error when that member cannot be reached or does not answer.
  asio::awaitable<json> call_member(const std::string& address, const json& request);

  const client_options& options() const { return options_; }

 private:
  // The connection to `address`, opened when not open yet.
  asio::awaitable<line_stream*> connection_to(const std::string& address);
  void drop_connection(const std::string& address);
  // The next member to try after `address` failed to answer.
  std::string next_after(const std::string& address) const;
  std::string describe_failures() const;

  asio::any_io_executor executor_;
  client_options options_;
  std::string preferred_;  // the member that led when last heard of
  std::map<std::string, line_stream> connections_;
  std::map<std::string, std::string> last_failure_;  // by address, for the final error message
};

// A fresh random client id for exactly-once posts (never 0).
std::uint64_t new_client_id();

}  // namespace chatlog
