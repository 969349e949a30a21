// A compact binary encoding shared by coraft's own formats: LEB128 varints and
// length-prefixed strings. Readers return nullopt on truncated or bad input.
// Also fixed-width little-endian numbers, as the frame headers of coraft's
// snapshots and of LevelDB's log carry them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace coraft::codec {

void put_varint(std::string& out, std::uint64_t value);
void put_string(std::string& out, std::string_view value);

// The low `width` bytes (at most 8) of `value` into out[0, width), least
// significant first; load_little_endian reads them back from `bytes`, which
// must hold at least `width` bytes.
void store_little_endian(char* out, std::uint64_t value, std::size_t width);
std::uint64_t load_little_endian(std::string_view bytes, std::size_t width);

class reader {
 public:
  explicit reader(std::string_view bytes) : rest_(bytes) {}

  std::optional<std::uint64_t> varint();
  std::optional<std::string> string();
  // A length-prefixed string as a view into the bytes being read.
  std::optional<std::string_view> view();
  std::optional<std::uint8_t> byte();
  // Everything not yet read.
  std::string_view rest() const { return rest_; }
  bool at_end() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace coraft::codec
