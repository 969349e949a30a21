#include "net/crc32c.h"

#include <catch2/catch.hpp>

#include <random>
#include <string>

using coraft::net::crc32c;

TEST_CASE("CRC-32C matches the published check values") {
  CHECK(crc32c(0, "123456789") == 0xe3069283);
  CHECK(crc32c(0, std::string(32, '\0')) == 0x8a9136aa);
  CHECK(crc32c(0, std::string(32, '\xff')) == 0x62a8ab43);
  CHECK(crc32c(0, "") == 0);
}

TEST_CASE("CRC-32C continues across any split of the bytes") {
  std::mt19937_64 random(3);
  std::string bytes(4099, '\0');
  for (char& byte : bytes) byte = static_cast<char>(random());
  const std::uint32_t whole = crc32c(0, bytes);
  for (std::size_t cut : {0, 1, 7, 8, 9, 64, 1000, 4098, 4099}) {
    const std::string_view view(bytes);
    CHECK(crc32c(crc32c(0, view.substr(0, cut)), view.substr(cut)) == whole);
  }
}
