#include "core/codec.h"

namespace coraft::codec {

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_string(std::string& out, std::string_view value) {
  put_varint(out, value.size());
  out += value;
}

void store_little_endian(char* out, std::uint64_t value, std::size_t width) {
  for (std::size_t byte = 0; byte < width; ++byte) out[byte] = static_cast<char>(value >> (8 * byte));
}

std::uint64_t load_little_endian(std::string_view bytes, std::size_t width) {
  std::uint64_t value = 0;
  for (std::size_t byte = 0; byte < width; ++byte)
    value |= std::uint64_t(static_cast<unsigned char>(bytes[byte])) << (8 * byte);
  return value;
}

std::optional<std::uint64_t> reader::varint() {
  std::uint64_t value = 0;
  for (int shift = 0; shift < 64 && !rest_.empty(); shift += 7) {
    auto byte = static_cast<unsigned char>(rest_.front());
    rest_.remove_prefix(1);
    value |= std::uint64_t(byte & 0x7f) << shift;
    if (!(byte & 0x80)) return value;
  }
  return std::nullopt;
}

std::optional<std::string> reader::string() {
  std::optional<std::string_view> value = view();
  if (!value) return std::nullopt;
  return std::string(*value);
}

std::optional<std::string_view> reader::view() {
  auto length = varint();
  if (!length || *length > rest_.size()) return std::nullopt;
  std::string_view value = rest_.substr(0, *length);
  rest_.remove_prefix(*length);
  return value;
}

std::optional<std::uint8_t> reader::byte() {
  if (rest_.empty()) return std::nullopt;
  auto value = static_cast<std::uint8_t>(rest_.front());
  rest_.remove_prefix(1);
  return value;
}

}  // namespace coraft::codec
