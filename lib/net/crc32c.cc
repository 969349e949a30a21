#include "net/crc32c.h"

#include <array>
#include <cstring>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace coraft::net {
namespace {

// The Castagnoli polynomial, bit-reversed (the checksum processes bits LSB first).
constexpr std::uint32_t reversed_polynomial = 0x82f63b78;

constexpr std::array<std::uint32_t, 256> make_table() {
  std::array<std::uint32_t, 256> table{};
  for (std::uint32_t byte = 0; byte < 256; ++byte) {
    std::uint32_t remainder = byte;
    for (int bit = 0; bit < 8; ++bit) remainder = (remainder >> 1) ^ (remainder & 1 ? reversed_polynomial : 0);
    table[byte] = remainder;
  }
  return table;
}

constexpr auto table = make_table();

// Both variants work on the raw register: crc32c() inverts before and after.
std::uint32_t table_crc32c(std::uint32_t crc, std::string_view bytes) {
  for (char c : bytes) crc = table[(crc ^ static_cast<unsigned char>(c)) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// SSE4.2's crc32 instruction computes CRC-32C eight bytes at a time: about
// twenty times the table's speed, which matters when snapshots of gigabytes
// are checksummed on both ends.
__attribute__((target("sse4.2"))) std::uint32_t hardware_crc32c(std::uint32_t crc, std::string_view bytes) {
  const char* next = bytes.data();
  std::size_t left = bytes.size();
  std::uint64_t wide = crc;
  for (; left >= 8; left -= 8, next += 8) {
    std::uint64_t word;
    std::memcpy(&word, next, sizeof word);
    wide = _mm_crc32_u64(wide, word);
  }
  crc = static_cast<std::uint32_t>(wide);
  for (; left > 0; --left, ++next) crc = _mm_crc32_u8(crc, static_cast<unsigned char>(*next));
  return crc;
}

const bool cpu_has_crc32 = __builtin_cpu_supports("sse4.2");
#endif

}  // namespace

std::uint32_t crc32c(std::uint32_t crc, std::string_view bytes) {
#if defined(__x86_64__)
  if (cpu_has_crc32) return ~hardware_crc32c(~crc, bytes);
#endif
  return ~table_crc32c(~crc, bytes);
}

}  // namespace coraft::net
