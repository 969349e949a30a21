// What coraft's LevelDB components share: conversions between LevelDB's slices
// and string views, big-endian numbers inside keys, and the std::system_error
// they throw when LevelDB fails.
#pragma once

#include <leveldb/options.h>
#include <leveldb/slice.h>
#include <leveldb/status.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace coraft::storage {

inline leveldb::Slice slice(std::string_view bytes) { return {bytes.data(), bytes.size()}; }
inline std::string_view view(leveldb::Slice bytes) { return {bytes.data(), bytes.size()}; }

inline constexpr std::size_t big_endian_bytes = sizeof(std::uint64_t);

// Big-endian, so that LevelDB's bytewise key order is the numeric order.
void append_big_endian(std::string& key, std::uint64_t number);
// The number in the first big_endian_bytes of `bytes`. Precondition: there are that many.
std::uint64_t read_big_endian(std::string_view bytes);

// Two lowercase hex digits per byte after "0x": how errors name binary keys.
std::string hex(std::string_view bytes);

// Reads that verify LevelDB's block checksums, so that damage is reported
// instead of read.
leveldb::ReadOptions checked_reads();

// Throws std::system_error (std::errc::io_error) saying
// "<subject>: <operation> failed: <LevelDB's status>".
[[noreturn]] void throw_leveldb_failure(std::string_view subject, std::string_view operation,
                                        const leveldb::Status& status);

}  // namespace coraft::storage
