#include "load_generator.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <vector>

namespace coraft::bench {
namespace {

using namespace std::chrono_literals;
using time_point = open_loop_schedule::clock::time_point;

TEST_CASE("an open-loop client woken on time sends the one proposal then due") {
  const time_point start{1s};
  open_loop_schedule schedule(start, 1ms);
  CHECK(schedule.take_until(start) == std::vector<time_point>{start});
  CHECK(schedule.next() == start + 1ms);
}

TEST_CASE("an open-loop client woken late sends every proposal that fell due meanwhile") {
  const time_point start{1s};
  open_loop_schedule schedule(start, 1ms);
  const std::vector<time_point> due = schedule.take_until(start + 10ms + 500us);
  REQUIRE(due.size() == 11);
  for (std::size_t k = 0; k < due.size(); ++k) CHECK(due[k] == start + k * 1ms);
  CHECK(schedule.next() == start + 11ms);
  CHECK(schedule.take_until(start + 11ms) == std::vector<time_point>{start + 11ms});
}

TEST_CASE("a load result keeps how late the generator sent through its JSON") {
  load_result sent;
  sent.latest_send = 1500us;
  sent.window_seconds = 2;
  sent.succeeded = 7;
  const load_result received = load_result_from_json(to_json(sent));
  CHECK(std::chrono::abs(received.latest_send - sent.latest_send) <= 1ns);
  CHECK(received.succeeded == 7);
}

}  // namespace
}  // namespace coraft::bench
