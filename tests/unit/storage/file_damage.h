// Damage done to a file by hand, as a failing disk or a crash would leave it.
#pragma once

#include <catch2/catch.hpp>

#include <cstddef>
#include <filesystem>
#include <fstream>
#include <string>

namespace coraft::testing {

// Writes `bytes` over the file's bytes from `offset` on.
inline void overwrite(const std::filesystem::path& file, std::size_t offset, const std::string& bytes) {
  std::fstream stream(file, std::ios::in | std::ios::out | std::ios::binary);
  stream.seekp(static_cast<std::streamoff>(offset));
  stream.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(stream.good());
}

// Inverts every bit of the byte at `offset`.
inline void flip_byte(const std::filesystem::path& file, std::size_t offset) {
  std::ifstream stream(file, std::ios::binary);
  stream.seekg(static_cast<std::streamoff>(offset));
  const int byte = stream.get();
  REQUIRE(byte != std::ifstream::traits_type::eof());
  stream.close();
  overwrite(file, offset, std::string(1, static_cast<char>(~byte)));
}

}  // namespace coraft::testing
