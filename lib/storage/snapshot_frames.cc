#include "storage/snapshot_frames.h"

#include "core/codec.h"
#include "net/crc32c.h"

#include <system_error>

namespace coraft::storage {
namespace {

constexpr char header_type = 'h';
constexpr char records_type = 'r';
constexpr char end_type = 'e';

constexpr std::size_t type_bytes = 1;
constexpr std::size_t length_bytes = 4;
constexpr std::size_t crc_bytes = 4;
constexpr std::size_t frame_header_bytes = type_bytes + length_bytes + crc_bytes;

std::uint32_t header_crc(std::string_view frame) { return net::crc32c(0, frame.substr(0, type_bytes + length_bytes)); }

std::size_t record_bytes(std::string_view key, std::string_view value) {
  // Two varint lengths take at most 10 bytes each.
  return key.size() + value.size() + 20;
}

}  // namespace

snapshot_encoder::snapshot_encoder(std::size_t chunk_bytes) : chunk_bytes_(chunk_bytes) { start_records(); }

std::string snapshot_encoder::seal(char type, std::string frame) {
  const std::size_t body_bytes = frame.size() - frame_header_bytes;
  if (body_bytes > UINT32_MAX) {
    throw std::system_error(std::make_error_code(std::errc::value_too_large),
                            "snapshot stream: a frame of " + std::to_string(body_bytes) + " bytes");
  }
  frame[0] = type;
  codec::store_little_endian(frame.data() + type_bytes, body_bytes, length_bytes);
  codec::store_little_endian(frame.data() + type_bytes + length_bytes, header_crc(frame), crc_bytes);
  if (type != end_type) {
    stream_bytes_ += frame.size();
    stream_crc_ = net::crc32c(stream_crc_, frame);
  }
  return frame;
}

void snapshot_encoder::start_records() {
  records_.clear();
  records_.resize(frame_header_bytes);
}

std::string snapshot_encoder::header(const snapshot_meta& meta) {
  std::string frame(frame_header_bytes, '\0');
  codec::put_varint(frame, snapshot_format_version);
  codec::put_varint(frame, meta.last_included.term.value);
  codec::put_varint(frame, meta.last_included.index.value);
  codec::put_string(frame, encode_membership(meta.config));
  return seal(header_type, std::move(frame));
}

bool snapshot_encoder::fits(std::string_view key, std::string_view value) const {
  return !has_records() || records_.size() + record_bytes(key, value) <= chunk_bytes_;
}

void snapshot_encoder::add(std::string_view key, std::string_view value) {
  codec::put_string(records_, key);
  codec::put_string(records_, value);
  ++record_count_;
}

bool snapshot_encoder::has_records() const { return records_.size() > frame_header_bytes; }

std::string snapshot_encoder::take_records() {
  std::string frame = seal(records_type, std::move(records_));
  start_records();
  return frame;
}

std::string snapshot_encoder::end() {
  std::string frame(frame_header_bytes, '\0');
  codec::put_varint(frame, record_count_);
  codec::put_varint(frame, stream_bytes_);
  codec::put_varint(frame, stream_crc_);
  return seal(end_type, std::move(frame));
}

void snapshot_decoder::feed(std::string_view bytes) {
  if (pending_.empty()) {
    bytes.remove_prefix(consume(bytes));
    pending_.assign(bytes);
    return;
  }
  pending_.append(bytes);
  pending_.erase(0, consume(pending_));
}

std::size_t snapshot_decoder::consume(std::string_view bytes) {
  std::size_t consumed = 0;
  while (bytes.size() - consumed >= frame_header_bytes) {
    const std::string_view rest = bytes.substr(consumed);
    if (ended_) fail("data follows the end frame");
    if (codec::load_little_endian(rest.substr(type_bytes + length_bytes), crc_bytes) != header_crc(rest)) {
      fail("the frame header at byte " + std::to_string(stream_bytes_) + " is damaged");
    }
    const std::size_t frame_bytes = frame_header_bytes + codec::load_little_endian(rest.substr(type_bytes), length_bytes);
    if (rest.size() < frame_bytes) break;
    const std::string_view frame = rest.substr(0, frame_bytes);
    handle(frame[0], frame, frame.substr(frame_header_bytes));
    consumed += frame_bytes;
  }
  return consumed;
}

void snapshot_decoder::handle(char type, std::string_view frame, std::string_view body) {
  if (type == end_type) {
    end(body);
    ended_ = true;
    return;
  }
  if (type == header_type) {
    header(body);
  } else if (type == records_type) {
    records(body);
  } else {
    fail("unknown frame type " + std::to_string(static_cast<unsigned char>(type)));
  }
  stream_bytes_ += frame.size();
  stream_crc_ = net::crc32c(stream_crc_, frame);
}

void snapshot_decoder::header(std::string_view body) {
  if (header_seen_) fail("a second header frame");
  codec::reader in(body);
  const auto format = in.varint();
  const auto term = in.varint();
  const auto index = in.varint();
  const auto config = in.string();
  std::optional<membership> members = config ? decode_membership(*config) : std::nullopt;
  if (!format || !term || !index || !members || !in.at_end()) fail("the header frame does not decode");
  if (*format != snapshot_format_version) fail("unknown format version " + std::to_string(*format));
  header_seen_ = true;
  consumer_.header({{term_t(*term), index_t(*index)}, std::move(*members)});
}

// Hands out views into the body rather than copies: a frame may hold many small records.
void snapshot_decoder::records(std::string_view body) {
  if (!header_seen_) fail("records before the header frame");
  auto next_string = [this](std::string_view& rest) {
    codec::reader in(rest);
    const auto length = in.varint();
    if (!length || *length > in.rest().size()) fail("a records frame does not decode");
    const std::string_view string = in.rest().substr(0, *length);
    rest = in.rest().substr(*length);
    return string;
  };
  while (!body.empty()) {
    const std::string_view key = next_string(body);
    const std::string_view value = next_string(body);
    if (record_count_ > 0 && key <= last_key_) fail("keys do not ascend");
    last_key_.assign(key);
    ++record_count_;
    consumer_.record(key, value);
  }
  consumer_.records_done();
}

void snapshot_decoder::end(std::string_view body) const {
  if (!header_seen_) fail("the end frame before the header frame");
  codec::reader in(body);
  const auto records = in.varint();
  const auto bytes = in.varint();
  const auto crc = in.varint();
  if (!records || !bytes || !crc || !in.at_end()) fail("the end frame does not decode");
  if (*records != record_count_ || *bytes != stream_bytes_ || *crc != stream_crc_) {
    fail("received " + std::to_string(record_count_) + " records in " + std::to_string(stream_bytes_) +
         " bytes with CRC-32C " + std::to_string(stream_crc_) + ", the sender sent " + std::to_string(*records) +
         " records in " + std::to_string(*bytes) + " bytes with CRC-32C " + std::to_string(*crc));
  }
}

void snapshot_decoder::check_complete() const {
  if (ended_ && !pending_.empty()) fail("data follows the end frame");
  if (!ended_) {
    fail("the stream ended after " + std::to_string(stream_bytes_ + pending_.size()) + " bytes, before its end frame");
  }
}

void snapshot_decoder::fail(const std::string& problem) const {
  throw std::system_error(std::make_error_code(std::errc::bad_message), "snapshot stream: " + problem);
}

}  // namespace coraft::storage
