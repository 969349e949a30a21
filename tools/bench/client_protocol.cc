#include "client_protocol.h"

#include <coraft/error.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace coraft::bench::wire {
namespace {

constexpr std::size_t length_bytes = 4;
constexpr std::size_t id_bytes = 8;
constexpr std::uint8_t applied_status = 0;
constexpr std::uint8_t other_error_status = 255;

void put_little_endian(std::string& out, std::uint64_t value, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xff));
}

std::uint64_t get_little_endian(const char* in, std::size_t bytes) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < bytes; ++i) value |= std::uint64_t{static_cast<unsigned char>(in[i])} << (8 * i);
  return value;
}

std::uint8_t status_of(std::error_code outcome) {
  if (!outcome) return applied_status;
  if (outcome.category() == error_category() && outcome.value() > 0 && outcome.value() < other_error_status)
    return static_cast<std::uint8_t>(outcome.value());
  return other_error_status;
}

}  // namespace

void append_request(std::string& out, std::uint64_t id, std::string_view command) {
  put_little_endian(out, id_bytes + command.size(), length_bytes);
  put_little_endian(out, id, id_bytes);
  out.append(command);
}

void append_response(std::string& out, std::uint64_t id, std::error_code outcome) {
  put_little_endian(out, id_bytes + 1, length_bytes);
  put_little_endian(out, id, id_bytes);
  out.push_back(static_cast<char>(status_of(outcome)));
}

std::optional<request> parse_request(std::string_view body) {
  if (body.size() < id_bytes) return std::nullopt;
  return request{get_little_endian(body.data(), id_bytes), body.substr(id_bytes)};
}

std::optional<response> parse_response(std::string_view body) {
  if (body.size() != id_bytes + 1) return std::nullopt;
  return response{get_little_endian(body.data(), id_bytes), static_cast<std::uint8_t>(body[id_bytes])};
}

std::error_code status_error(std::uint8_t status) {
  if (status == applied_status) return {};
  if (status == other_error_status) return std::make_error_code(std::errc::io_error);
  return {status, error_category()};
}

asio::mutable_buffer frame_reader::space() {
  if (begin_ != 0) {  // move what is left to the front
    std::memmove(buffer_.data(), buffer_.data() + begin_, end_ - begin_);
    end_ -= begin_;
    begin_ = 0;
  }
  const std::size_t wanted = std::max(awaited_, end_ + 1);
  if (buffer_.size() < wanted) buffer_.resize(std::max(wanted, 2 * buffer_.size()));
  return asio::buffer(buffer_.data() + end_, buffer_.size() - end_);
}

std::optional<std::string_view> frame_reader::next_frame() {
  if (end_ - begin_ < length_bytes) return std::nullopt;
  const std::uint64_t length = get_little_endian(buffer_.data() + begin_, length_bytes);
  if (length > max_frame_bytes) throw std::length_error("client port: frame of " + std::to_string(length) + " bytes");
  if (end_ - begin_ < length_bytes + length) {
    awaited_ = length_bytes + length;
    return std::nullopt;
  }
  awaited_ = 0;
  const std::string_view body(buffer_.data() + begin_ + length_bytes, length);
  begin_ += length_bytes + length;
  return body;
}

}  // namespace coraft::bench::wire
