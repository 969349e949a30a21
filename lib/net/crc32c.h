// CRC-32C (Castagnoli), the checksum of streamed snapshots.
#pragma once

#include <cstdint>
#include <string_view>

namespace coraft::net {

// Continues a checksum over more bytes: crc32c(crc32c(0, a), b) == crc32c(0, a + b).
std::uint32_t crc32c(std::uint32_t crc, std::string_view bytes);

}  // namespace coraft::net
