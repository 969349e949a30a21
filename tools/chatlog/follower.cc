#include "follower.h"

#include "line_stream.h"

#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include <chrono>
#include <stdexcept>
#include <system_error>

namespace chatlog {
namespace {

using namespace std::chrono_literals;

// Members send a heartbeat every second on an idle stream; this much silence
// means the member is gone (stopped, cut off) even if its connection is not.
constexpr std::chrono::milliseconds silence_limit = 5s;
// The pause after every member failed once, so that a restart can finish.
constexpr std::chrono::milliseconds round_pause = 300ms;

// Reads the stream of one member until it ends; `next` follows the messages
// handed over, `streamed` turns true once the member accepted the request.
// Throws std::system_error when the member stops answering.
asio::awaitable<void> follow_member(const client_options& options, const std::string& address,
                                    const std::string& room, std::uint64_t& next, bool& streamed,
                                    const follow_callbacks& callbacks) {
  line_stream stream = co_await connect_lines(address, options.connect_timeout, max_line_bytes);
  stream_deadline silence(stream);
  const json request = {{"op", "follow"}, {"room", room}, {"from", next}};
  co_await stream.write(to_line(request));
  for (;;) {
    silence.arm(silence_limit);
    std::optional<std::string> line = co_await stream.read_line();
    silence.disarm();
    if (!line) throw std::system_error(std::make_error_code(std::errc::connection_reset), "the stream ended");
    const json event = json::parse(*line, nullptr, false);
    if (event.is_discarded() || !event.is_object()) {
      throw std::system_error(std::make_error_code(std::errc::bad_message), "the member sent something not JSON");
    }
    if (event.value("ok", true) == false) {
      throw std::runtime_error("follow refused: " + event.value("message", event.value("error", std::string())));
    }
    if (event.value("ok", false)) {
      streamed = true;
      callbacks.notice("following " + room + " from " + address);
    }
    const std::string kind = event.value("event", std::string());
    if (kind == "end") throw std::system_error(std::make_error_code(std::errc::connection_reset), "the member stopped");
    if (kind != "message") continue;
    const std::uint64_t seq = event.value("seq", std::uint64_t{0});
    if (seq < next) continue;  // a member never resends, but a stale copy must not repeat a message
    next = seq + 1;
    callbacks.message(event);
  }
}

}  // namespace

// Notices say when a stream is lost, and once per outage when no member
// answers at all; members that cannot be reached meanwhile are tried quietly.
asio::awaitable<void> follow_room(client_options options, std::string room, std::uint64_t from,
                                  follow_callbacks callbacks) {
  std::uint64_t next = std::max<std::uint64_t>(from, 1);
  std::size_t failures_in_row = 0;
  for (std::size_t attempt = 0;; ++attempt) {
    const std::string& address = options.servers[attempt % options.servers.size()];
    bool streamed = false;
    try {
      co_await follow_member(options, address, room, next, streamed, callbacks);
    } catch (const std::system_error& error) {
      if (streamed) callbacks.notice("lost " + address + " (" + error.what() + "); trying the next member");
    }
    failures_in_row = streamed ? 1 : failures_in_row + 1;
    if (failures_in_row % options.servers.size() == 0) {
      if (failures_in_row == options.servers.size()) callbacks.notice("no member answers; still trying");
      asio::steady_timer pause(co_await asio::this_coro::executor, round_pause);
      co_await pause.async_wait(asio::use_awaitable);
    }
  }
}

}  // namespace chatlog
