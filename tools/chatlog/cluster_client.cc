#include "cluster_client.h"

#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>

#include <algorithm>
#include <random>
#include <system_error>

namespace chatlog {
namespace {

using namespace std::chrono_literals;
using clock = std::chrono::steady_clock;

// Pauses between rounds when no member could help, doubling up to the maximum.
constexpr std::chrono::milliseconds first_pause{50};
constexpr std::chrono::milliseconds longest_pause{1'000};

asio::awaitable<void> pause_for(const asio::any_io_executor& executor, std::chrono::milliseconds duration) {
  asio::steady_timer timer(executor, duration);
  co_await timer.async_wait(asio::use_awaitable);
}

std::string reply_error(const json& reply) { return reply.value("error", std::string("internal")); }

}  // namespace

cluster_client::cluster_client(asio::any_io_executor executor, client_options options)
    : executor_(std::move(executor)), options_(std::move(options)) {
  if (options_.servers.empty()) throw std::invalid_argument("no server address given");
  preferred_ = options_.servers.front();
}

asio::awaitable<json> cluster_client::call(const json& request) {
  const auto give_up_at = clock::now() + options_.patience;
  std::chrono::milliseconds pause = first_pause;
  std::string target = preferred_;
  std::size_t failed_in_round = 0;
  while (clock::now() < give_up_at) {
    std::optional<json> reply;
    try {
      reply = co_await call_member(target, request);
    } catch (const std::system_error& error) {
      last_failure_[target] = error.what();
    }
    if (reply && (reply->value("ok", false) || !retryable(reply_error(*reply)))) {
      preferred_ = target;
      co_return *reply;
    }
    if (reply) last_failure_[target] = reply_error(*reply) + ": " + reply->value("message", std::string());
    // A redirect goes straight to the leader, anything else to the next
    // member; after as many failures as there are members (and one redirect
    // more), a pause, so that an election can finish.
    const json* leader = reply && reply->contains("leader") ? &(*reply)["leader"] : nullptr;
    const std::string redirect = leader ? leader->value("client_address", std::string()) : std::string();
    target = !redirect.empty() && redirect != target ? redirect : next_after(target);
    if (++failed_in_round > options_.servers.size()) {
      failed_in_round = 0;
      co_await pause_for(executor_, pause);
      pause = std::min(pause * 2, longest_pause);
    }
  }
  throw unavailable_error("no member answered within " + std::to_string(options_.patience.count() / 1000) +
                          " s: " + describe_failures());
}

asio::awaitable<json> cluster_client::call_member(const std::string& address, const json& request) {
  line_stream& stream = *co_await connection_to(address);
  stream_deadline limit(stream);
  limit.arm(options_.reply_timeout);
  std::optional<std::string> line;
  std::exception_ptr failure;
  try {
    co_await stream.write(to_line(request));
    line = co_await stream.read_line();
  } catch (const std::system_error&) {
    failure = std::current_exception();
  }
  const bool expired = limit.expired();
  limit.disarm();
  if (expired) {
    drop_connection(address);
    throw std::system_error(std::make_error_code(std::errc::timed_out), address + " did not answer");
  }
  if (failure || !line) {
    drop_connection(address);
    if (failure) std::rethrow_exception(failure);
    throw std::system_error(std::make_error_code(std::errc::connection_reset), address + " closed the connection");
  }
  json reply = json::parse(*line, nullptr, false);
  if (reply.is_discarded() || !reply.is_object()) {
    drop_connection(address);
    throw std::system_error(std::make_error_code(std::errc::bad_message), address + " answered something not JSON");
  }
  co_return reply;
}

asio::awaitable<line_stream*> cluster_client::connection_to(const std::string& address) {
  auto found = connections_.find(address);
  if (found == connections_.end()) {
    line_stream stream = co_await connect_lines(address, options_.connect_timeout, max_line_bytes);
    found = connections_.emplace(address, std::move(stream)).first;
  }
  co_return &found->second;
}

void cluster_client::drop_connection(const std::string& address) { connections_.erase(address); }

std::string cluster_client::next_after(const std::string& address) const {
  auto position = std::find(options_.servers.begin(), options_.servers.end(), address);
  if (position == options_.servers.end() || ++position == options_.servers.end()) return options_.servers.front();
  return *position;
}

std::string cluster_client::describe_failures() const {
  std::string text;
  for (const auto& [address, failure] : last_failure_) text += (text.empty() ? "" : "; ") + address + ": " + failure;
  return text.empty() ? "no member was tried" : text;
}

std::uint64_t new_client_id() {
  std::random_device device;
  std::uint64_t id = 0;
  while (id == 0) id = (std::uint64_t{device()} << 32) | device();
  return id;
}

}  // namespace chatlog
