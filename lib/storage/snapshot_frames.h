// The byte format of a leveldb_state_machine snapshot stream: frames that each
// say what they are and how long they are, so that a receiver can cut them out
// of the bytes however the network regrouped them.
//
//   frame   := type (1 byte) | body length (4 bytes, little-endian)
//              | CRC-32C of the 5 bytes before (4 bytes, little-endian) | body
//   header  := 'h' frame: varint format, varint term, varint index, string membership
//   records := 'r' frame: (string key, string value)*, keys ascending across the stream
//   end     := 'e' frame: varint record count, varint byte count, varint CRC-32C,
//              the counts and checksum covering every frame before it
//   stream  := header records* end
// (strings are codec::put_string's varint length and bytes). The header's own
// checksum lets a receiver trust a length before it waits for that many bytes.
#pragma once

#include <coraft/types.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace coraft::storage {

inline constexpr std::uint64_t snapshot_format_version = 1;

// Produces the frames of one stream, in order: header(), then records frames,
// then end(). Each frame is one chunk of the stream.
class snapshot_encoder {
 public:
  explicit snapshot_encoder(std::size_t chunk_bytes);

  std::string header(const snapshot_meta& meta);
  // Whether the records frame being filled has room for this record. An empty
  // frame takes any record, however large.
  bool fits(std::string_view key, std::string_view value) const;
  void add(std::string_view key, std::string_view value);
  bool has_records() const;
  // The records frame filled so far; the next add() starts a new one.
  std::string take_records();
  std::string end();

 private:
  std::string seal(char type, std::string frame);
  void start_records();

  const std::size_t chunk_bytes_;
  std::string records_;  // begins with room for its frame header
  std::uint64_t record_count_ = 0;
  std::uint64_t stream_bytes_ = 0;
  std::uint32_t stream_crc_ = 0;
};

// Receives what a decoder finds, in stream order.
class snapshot_consumer {
 public:
  virtual void header(const snapshot_meta& meta) = 0;
  virtual void record(std::string_view key, std::string_view value) = 0;
  // After the records of one frame: a natural point to write them.
  virtual void records_done() = 0;

 protected:
  ~snapshot_consumer() = default;
};

// Cuts frames out of the bytes fed to it, checks them and hands their contents
// to the consumer. It holds at most one incomplete frame. Throws
// std::system_error (std::errc::bad_message) when the stream is damaged: a frame
// header fails its checksum, frames come in the wrong order, keys do not
// ascend, a body does not decode, anything follows the end, or the end does not
// match what came before it. Exceptions of the consumer pass through.
class snapshot_decoder {
 public:
  explicit snapshot_decoder(snapshot_consumer& consumer) : consumer_(consumer) {}

  void feed(std::string_view bytes);
  // Throws std::system_error (std::errc::bad_message) unless the end frame has
  // been fed and checked.
  void check_complete() const;

 private:
  // Handles the whole frames at the front of `bytes`; returns how many bytes they took.
  std::size_t consume(std::string_view bytes);
  void handle(char type, std::string_view frame, std::string_view body);
  void header(std::string_view body);
  void records(std::string_view body);
  void end(std::string_view body) const;
  [[noreturn]] void fail(const std::string& problem) const;

  snapshot_consumer& consumer_;
  std::string pending_;             // the beginning of a frame whose rest has not arrived
  std::uint64_t stream_bytes_ = 0;  // of whole frames handled, the end excluded
  std::uint32_t stream_crc_ = 0;
  std::uint64_t record_count_ = 0;
  std::string last_key_;
  bool header_seen_ = false;
  bool ended_ = false;
};

}  // namespace coraft::storage
