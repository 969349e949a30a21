#include "net_test_support.h"

#include "net/crc32c.h"
#include "net/framing.h"
#include "net/handshake.h"

#include <asio/buffer.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/read.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace coraft::test {
namespace {

constexpr auto as_tuple_awaitable = asio::experimental::as_tuple(asio::use_awaitable);

template <class Response>
Response reply_to(const message_header& request) {
  Response response;
  response.from = fake_handler::self;
  response.term = request.term;
  response.request_id = request.request_id;
  return response;
}

// SplitMix64: a fast, well-mixed sequence for test data.
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

}  // namespace

io_threads::io_threads(int count) : work_(asio::make_work_guard(io_)) {
  for (int i = 0; i < count; ++i) threads_.emplace_back([this] { io_.run(); });
}

io_threads::~io_threads() {
  work_.reset();
  io_.stop();
  for (auto& thread : threads_) thread.join();
}

tcp_network_options node_options(node_id self, std::string cluster) {
  tcp_network_options options;
  options.cluster_id = std::move(cluster);
  options.self = self;
  options.listen_address = "127.0.0.1:0";
  options.connect_timeout = std::chrono::seconds(20);
  options.call_timeout = std::chrono::seconds(30);
  options.snapshot_timeout = std::chrono::seconds(50);
  options.backoff = {std::chrono::milliseconds(5), std::chrono::milliseconds(50)};
  return options;
}

std::string local_address(std::uint16_t port) { return "127.0.0.1:" + std::to_string(port); }

fake_handler::fake_handler(const asio::any_io_executor& executor)
    : strand_(asio::make_strand(executor)), held_changed_(strand_) {}

asio::awaitable<vote_response> fake_handler::handle_vote(vote_request request) {
  auto response = reply_to<vote_response>(request);
  response.pre_vote = request.pre_vote;
  response.granted = request.last_log.index.value % 2 == 0;
  co_return response;
}

asio::awaitable<append_response> fake_handler::handle_append(append_request) {
  throw std::logic_error("the TCP server answers appends in place");
}

// Answers from a thread of its own, as a node answers from its log's thread.
void fake_handler::handle_append(append_request request, append_reply reply) {
  asio::co_spawn(strand_, on_append(std::move(request)),
                 [this, reply = std::move(reply)](std::exception_ptr error, append_response response) {
                   asio::post(replier_, [reply, error, response] {
                     reply(error ? make_error_code(errc::shutting_down) : std::error_code(), response);
                   });
                 });
}

asio::awaitable<append_response> fake_handler::on_append(append_request request) {
  append_arrivals_.push_back(request.request_id);
  if (holding_appends_) co_await hold();
  auto response = reply_to<append_response>(request);
  response.success = true;
  response.match_index = request.prev.index + request.entries.size();
  co_return response;
}

asio::awaitable<heartbeat_response> fake_handler::handle_heartbeat(heartbeat_request request) {
  auto response = reply_to<heartbeat_response>(request);
  response.read_round = request.read_round;
  co_return response;
}

asio::awaitable<timeout_now_response> fake_handler::handle_timeout_now(timeout_now_request request) {
  co_return reply_to<timeout_now_response>(request);
}

asio::awaitable<read_index_response> fake_handler::handle_read_index(read_index_request request) {
  auto response = reply_to<read_index_response>(request);
  response.context = request.context;
  response.success = true;
  response.read_index = index_t(request.context + 1000);
  co_return response;
}

asio::awaitable<snapshot_response> fake_handler::handle_snapshot(snapshot_request request, snapshot_source& data) {
  auto response = reply_to<snapshot_response>(request);
  if (stalling_snapshots_) {
    co_await asio::co_spawn(strand_, hold(), asio::use_awaitable);
    co_return response;
  }
  auto report = co_await read_snapshot(request.meta, data);
  {
    std::lock_guard lock(snapshots_mutex_);
    snapshots_.push_back(report);
  }
  if (report.failure) throw std::system_error(*report.failure, "snapshot refused");
  response.success = true;
  response.last_index = request.meta.last_included.index;
  co_return response;
}

asio::awaitable<received_snapshot_report> fake_handler::read_snapshot(snapshot_meta meta, snapshot_source& data) {
  received_snapshot_report report;
  report.meta = std::move(meta);
  try {
    while (auto chunk = co_await data.next_chunk()) {
      report.bytes += chunk->size();
      report.crc = net::crc32c(report.crc, *chunk);
      ++report.chunks;
      report.largest_chunk = std::max(report.largest_chunk, chunk->size());
    }
  } catch (const std::system_error& error) {
    report.failure = error.code();
  }
  co_return report;
}

asio::awaitable<void> fake_handler::hold() {
  auto gate = std::make_shared<asio::steady_timer>(strand_, asio::steady_timer::time_point::max());
  held_.push_back(gate);
  held_changed_.cancel();
  co_await gate->async_wait(as_tuple_awaitable);
}

asio::awaitable<void> fake_handler::wait_held(std::size_t count) {
  return asio::co_spawn(strand_, held_at_least(count), asio::use_awaitable);
}

asio::awaitable<void> fake_handler::release_held(bool newest_first) {
  return asio::co_spawn(strand_, release(newest_first), asio::use_awaitable);
}

asio::awaitable<std::vector<std::uint64_t>> fake_handler::append_arrivals() {
  return asio::co_spawn(strand_, arrivals(), asio::use_awaitable);
}

asio::awaitable<void> fake_handler::held_at_least(std::size_t count) {
  while (held_.size() < count) {
    held_changed_.expires_at(asio::steady_timer::time_point::max());
    co_await held_changed_.async_wait(as_tuple_awaitable);
  }
}

asio::awaitable<void> fake_handler::release(bool newest_first) {
  if (newest_first) std::reverse(held_.begin(), held_.end());
  for (auto& gate : held_) gate->cancel();
  held_.clear();
  co_return;
}

asio::awaitable<std::vector<std::uint64_t>> fake_handler::arrivals() { co_return append_arrivals_; }

std::vector<received_snapshot_report> fake_handler::snapshots() const {
  std::lock_guard lock(snapshots_mutex_);
  return snapshots_;
}

asio::awaitable<std::optional<std::string>> generated_snapshot::next_chunk() {
  if (produced_ == count_) co_return std::nullopt;
  co_return chunk(produced_++);
}

std::string generated_snapshot::chunk(std::size_t number) const {
  std::string bytes(chunk_bytes_, '\0');
  for (std::size_t offset = 0; offset < bytes.size(); offset += sizeof(std::uint64_t)) {
    std::uint64_t word = mix(number * chunk_bytes_ + offset);
    std::memcpy(bytes.data() + offset, &word, std::min(sizeof word, bytes.size() - offset));
  }
  return bytes;
}

std::uint32_t generated_snapshot::expected_crc() const {
  std::uint32_t crc = 0;
  for (std::size_t number = 0; number < count_; ++number) crc = net::crc32c(crc, chunk(number));
  return crc;
}

log_capture::log_capture() {
  set_log_sink(
      [lines = lines_](log_level, std::string_view line) {
        std::lock_guard lock(lines->mutex);
        lines->lines.emplace_back(line);
      },
      log_level::warning);
}

log_capture::~log_capture() { set_log_sink(nullptr); }

bool log_capture::contains(std::string_view text) const {
  std::lock_guard lock(lines_->mutex);
  return std::any_of(lines_->lines.begin(), lines_->lines.end(),
                     [&](const std::string& line) { return line.find(text) != std::string::npos; });
}

std::string log_capture::lines() const {
  std::lock_guard lock(lines_->mutex);
  std::string all;
  for (const auto& line : lines_->lines) all += line + "\n";
  return all;
}

asio::awaitable<void> raw_connect(asio::ip::tcp::socket& socket, std::uint16_t port) {
  co_await socket.async_connect({asio::ip::make_address("127.0.0.1"), port}, asio::use_awaitable);
}

asio::awaitable<void> raw_send(asio::ip::tcp::socket& socket, std::string bytes) {
  co_await asio::async_write(socket, asio::buffer(bytes), asio::use_awaitable);
}

asio::awaitable<void> raw_send_frame(asio::ip::tcp::socket& socket, wire::Frame frame) {
  co_await raw_send(socket, net::encode_frame(frame, std::size_t(1) << 30));
}

asio::awaitable<wire::Frame> raw_read_frame(asio::ip::tcp::socket& socket) {
  std::string prefix(net::frame_prefix_bytes, '\0');
  co_await asio::async_read(socket, asio::buffer(prefix), asio::use_awaitable);
  std::size_t length = 0;
  for (char byte : prefix) length = (length << 8) | static_cast<unsigned char>(byte);
  std::string body(length, '\0');
  co_await asio::async_read(socket, asio::buffer(body), asio::use_awaitable);
  wire::Frame frame;
  REQUIRE(frame.ParseFromString(body));
  co_return frame;
}

asio::awaitable<void> raw_handshake(asio::ip::tcp::socket& socket) {
  co_await raw_send_frame(socket, net::make_hello(node_options(node_id(1)), fake_handler::self));
  auto reply = co_await raw_read_frame(socket);
  REQUIRE(reply.has_hello_reply());
  REQUIRE(reply.hello_reply().refusal() == wire::ACCEPTED);
}

asio::awaitable<bool> closed_by_peer(asio::ip::tcp::socket& socket) {
  char byte = 0;
  auto [error, received] = co_await socket.async_read_some(asio::buffer(&byte, 1), as_tuple_awaitable);
  co_return received == 0 && (error == asio::error::eof || error == asio::error::connection_reset);
}

std::string length_prefix(std::uint32_t length) {
  std::string bytes(net::frame_prefix_bytes, '\0');
  for (std::size_t i = net::frame_prefix_bytes; i-- > 0; length >>= 8) bytes[i] = static_cast<char>(length & 0xff);
  return bytes;
}

}  // namespace coraft::test
