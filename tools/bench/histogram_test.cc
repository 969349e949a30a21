#include "histogram.h"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <random>

namespace coraft::bench {
namespace {

TEST_CASE("buckets tile the range without gaps or overlaps") {
  CHECK(histogram::lowest_in(0) == 0);
  for (std::size_t b = 1; b < histogram::bucket_count; ++b) {
    REQUIRE(histogram::lowest_in(b) == histogram::highest_in(b - 1) + 1);
  }
  CHECK(histogram::highest_in(histogram::bucket_count - 1) == histogram::max_value);
}

TEST_CASE("every value falls in a bucket whose width is within the relative error") {
  std::mt19937_64 random(7);
  for (int i = 0; i < 100'000; ++i) {
    const std::uint64_t value = random() >> (random() % 64);
    const std::uint64_t clamped = std::min(value, histogram::max_value);
    const std::size_t bucket = histogram::bucket_of(value);
    REQUIRE(histogram::lowest_in(bucket) <= clamped);
    REQUIRE(clamped <= histogram::highest_in(bucket));
    const double width = static_cast<double>(histogram::highest_in(bucket) - histogram::lowest_in(bucket));
    REQUIRE(width <= static_cast<double>(clamped) / histogram::sub_bucket_count);
  }
}

TEST_CASE("percentiles of a uniform distribution are within the relative error") {
  histogram h;
  for (std::uint64_t v = 1; v <= 1'000'000; ++v) h.record(v);
  for (double p : {50.0, 90.0, 99.0, 99.9}) {
    const double exact = p / 100 * 1'000'000;
    CHECK(static_cast<double>(h.value_at_percentile(p)) >= exact);
    CHECK(static_cast<double>(h.value_at_percentile(p)) <= exact * (1 + 1.0 / histogram::sub_bucket_count));
  }
  CHECK(h.value_at_percentile(100) == 1'000'000);
  CHECK(h.min() == 1);
  CHECK(h.max() == 1'000'000);
  CHECK(h.count() == 1'000'000);
}

TEST_CASE("small values are exact") {
  histogram h;
  h.record(3);
  h.record(200);
  CHECK(h.value_at_percentile(50) == 3);
  CHECK(h.value_at_percentile(99) == 200);
}

TEST_CASE("an empty histogram answers zero") {
  histogram h;
  CHECK(h.count() == 0);
  CHECK(h.min() == 0);
  CHECK(h.max() == 0);
  CHECK(h.value_at_percentile(99) == 0);
}

TEST_CASE("merging adds counts and keeps the extremes") {
  histogram a;
  histogram b;
  a.record(10);
  b.record(5'000'000);
  b.record(7);
  a.merge(b);
  CHECK(a.count() == 3);
  CHECK(a.min() == 7);
  CHECK(a.max() == 5'000'000);
}

TEST_CASE("values beyond the range are clamped, the maximum is kept exact") {
  histogram h;
  h.record(histogram::max_value * 4);
  CHECK(h.count() == 1);
  CHECK(h.max() == histogram::max_value * 4);
  CHECK(histogram::bucket_of(histogram::max_value * 4) == histogram::bucket_count - 1);
}

TEST_CASE("a histogram survives its JSON form") {
  histogram h;
  for (std::uint64_t v : {1u, 900u, 123'456u, 99'999'999u}) h.record(v);
  const histogram copy = histogram::from_json(nlohmann::json::parse(h.to_json().dump()));
  CHECK(copy.count() == h.count());
  CHECK(copy.min() == h.min());
  CHECK(copy.max() == h.max());
  CHECK(copy.value_at_percentile(60) == h.value_at_percentile(60));
}

TEST_CASE("a histogram refuses JSON with another layout or a bucket out of range") {
  histogram h;
  h.record(1);
  nlohmann::json other_layout = h.to_json();
  other_layout["sub_bucket_bits"] = 5;
  CHECK_THROWS_AS(histogram::from_json(other_layout), std::invalid_argument);
  nlohmann::json out_of_range = h.to_json();
  out_of_range["counts"] = {{histogram::bucket_count, 1}};
  CHECK_THROWS_AS(histogram::from_json(out_of_range), std::invalid_argument);
}

}  // namespace
}  // namespace coraft::bench
