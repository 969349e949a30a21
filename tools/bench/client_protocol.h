// The benchmark's client port: how a client in another process proposes to a
// node process over TCP. Deliberately small, so that what it measures is
// coraft and not a protocol stack.
//
// Every frame is a 4-byte little-endian length followed by that many bytes:
//   request:   8-byte little-endian request id, then the command
//   response:  8-byte little-endian request id, then one status byte:
//              0 applied; 1 to 254 a coraft::errc value; 255 any other error
// A connection is pipelined: the client sends requests without waiting, the
// node proposes each as it arrives and answers each once its proposal is
// answered, in whatever order that happens. Request ids are the client's
// business; the node only echoes them.
#pragma once

#include <asio/buffer.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace coraft::bench::wire {

// A frame longer than this ends the connection.
inline constexpr std::size_t max_frame_bytes = 64 << 20;

struct request {
  std::uint64_t id = 0;
  std::string_view command;
};

struct response {
  std::uint64_t id = 0;
  std::uint8_t status = 0;
};

void append_request(std::string& out, std::uint64_t id, std::string_view command);
// `outcome` is the proposal's error, or no error when it was applied.
void append_response(std::string& out, std::uint64_t id, std::error_code outcome);

// nullopt when the body is too short to be one.
std::optional<request> parse_request(std::string_view body);
std::optional<response> parse_response(std::string_view body);
// The error a status byte stands for (no error for 0).
std::error_code status_error(std::uint8_t status);

// Collects the bytes a connection receives and cuts them into frame bodies.
class frame_reader {
 public:
  // Where the next read may put its bytes; then call filled() with how many
  // it put there.
  asio::mutable_buffer space();
  void filled(std::size_t bytes) { end_ += bytes; }
  // The body of the next whole frame, valid until the next call of space();
  // nullopt until one has arrived whole. Throws std::length_error when a frame
  // announces more than max_frame_bytes.
  std::optional<std::string_view> next_frame();

 private:
  // Invariant: buffer_[begin_, end_) holds received bytes not yet taken.
  std::vector<char> buffer_ = std::vector<char>(64 << 10);
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  // The size of the frame that has only partly arrived (0 when unknown).
  std::size_t awaited_ = 0;
};

}  // namespace coraft::bench::wire
