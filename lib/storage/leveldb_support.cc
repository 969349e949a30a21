#include "storage/leveldb_support.h"

#include <system_error>

namespace coraft::storage {

void append_big_endian(std::string& key, std::uint64_t number) {
  for (int shift = 8 * static_cast<int>(big_endian_bytes - 1); shift >= 0; shift -= 8)
    key.push_back(static_cast<char>(number >> shift));
}

std::uint64_t read_big_endian(std::string_view bytes) {
  std::uint64_t number = 0;
  for (char byte : bytes.substr(0, big_endian_bytes)) number = (number << 8) | static_cast<unsigned char>(byte);
  return number;
}

std::string hex(std::string_view bytes) {
  constexpr std::string_view digits = "0123456789abcdef";
  std::string text = "0x";
  for (char byte : bytes) {
    text.push_back(digits[static_cast<unsigned char>(byte) >> 4]);
    text.push_back(digits[static_cast<unsigned char>(byte) & 0xf]);
  }
  return text;
}

leveldb::ReadOptions checked_reads() {
  leveldb::ReadOptions options;
  options.verify_checksums = true;
  return options;
}

void throw_leveldb_failure(std::string_view subject, std::string_view operation, const leveldb::Status& status) {
  std::string what(subject);
  what.append(": ").append(operation).append(" failed: ").append(status.ToString());
  throw std::system_error(std::make_error_code(std::errc::io_error), what);
}

}  // namespace coraft::storage
