#include <coraft/options.h>

#include <catch2/catch.hpp>

using namespace coraft;

TEST_CASE("the default protocol options are valid") { CHECK_FALSE(protocol_options{}.validate()); }

TEST_CASE("invalid protocol options are refused with the field named") {
  protocol_options options;
  options.election_timeout_max_ticks = options.election_timeout_min_ticks;
  REQUIRE(options.validate());
  CHECK(options.validate()->find("election_timeout_max_ticks") != std::string::npos);

  options = {};
  options.heartbeat_interval_ticks = options.election_timeout_min_ticks;
  REQUIRE(options.validate());
  CHECK(options.validate()->find("election_timeout_min_ticks") != std::string::npos);

  options = {};
  options.max_inflight_appends = 0;
  REQUIRE(options.validate());
  CHECK(options.validate()->find("max_inflight_appends") != std::string::npos);
}
