#include "histogram.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <stdexcept>

namespace coraft::bench {
namespace {

constexpr std::uint64_t empty_min = std::numeric_limits<std::uint64_t>::max();
// Values below this have a bucket each.
constexpr std::uint64_t exact_below = 2 * histogram::sub_bucket_count;

// The power of two a bucket's width is: 0 for the exact buckets.
unsigned shift_of_bucket(std::size_t bucket) {
  return bucket < exact_below ? 0 : static_cast<unsigned>(bucket / histogram::sub_bucket_count - 1);
}

}  // namespace

histogram::histogram() : counts_(new std::atomic<std::uint64_t>[bucket_count]()), min_(empty_min) {}

histogram::histogram(const histogram& other) : histogram() { merge(other); }

histogram& histogram::operator=(const histogram& other) {
  if (this == &other) return *this;
  for (std::size_t b = 0; b < bucket_count; ++b) counts_[b].store(0, std::memory_order_relaxed);
  total_ = 0;
  min_ = empty_min;
  max_ = 0;
  merge(other);
  return *this;
}

std::size_t histogram::bucket_of(std::uint64_t value) {
  value = std::min(value, max_value);
  if (value < exact_below) return static_cast<std::size_t>(value);
  // The top sub_bucket_bits + 1 bits of the value pick its bucket within its power of two.
  const unsigned shift = static_cast<unsigned>(std::bit_width(value)) - (sub_bucket_bits + 1);
  return static_cast<std::size_t>(shift * sub_bucket_count + (value >> shift));
}

std::uint64_t histogram::lowest_in(std::size_t bucket) {
  const unsigned shift = shift_of_bucket(bucket);
  return (bucket - shift * sub_bucket_count) << shift;
}

std::uint64_t histogram::highest_in(std::size_t bucket) {
  return lowest_in(bucket) + (std::uint64_t{1} << shift_of_bucket(bucket)) - 1;
}

void histogram::record(std::uint64_t value) {
  add(bucket_of(value), 1);
  note_extremes(value, value);
}

void histogram::merge(const histogram& other) {
  for (std::size_t b = 0; b < bucket_count; ++b) {
    const std::uint64_t count = other.counts_[b].load(std::memory_order_relaxed);
    if (count != 0) add(b, count);
  }
  if (other.count() != 0) note_extremes(other.min(), other.max());
}

void histogram::add(std::size_t bucket, std::uint64_t count) {
  counts_[bucket].fetch_add(count, std::memory_order_relaxed);
  total_.fetch_add(count, std::memory_order_relaxed);
}

void histogram::note_extremes(std::uint64_t low, std::uint64_t high) {
  std::uint64_t seen = min_.load(std::memory_order_relaxed);
  while (low < seen && !min_.compare_exchange_weak(seen, low, std::memory_order_relaxed)) {
  }
  seen = max_.load(std::memory_order_relaxed);
  while (high > seen && !max_.compare_exchange_weak(seen, high, std::memory_order_relaxed)) {
  }
}

std::uint64_t histogram::min() const {
  const std::uint64_t low = min_.load(std::memory_order_relaxed);
  return low == empty_min ? 0 : low;
}

std::uint64_t histogram::value_at_percentile(double percentile) const {
  std::uint64_t total = 0;
  for (std::size_t b = 0; b < bucket_count; ++b) total += counts_[b].load(std::memory_order_relaxed);
  if (total == 0) return 0;
  const double share = std::clamp(percentile, 0.0, 100.0) / 100.0;
  const auto wanted = std::max<std::uint64_t>(1, static_cast<std::uint64_t>(std::ceil(share * total)));
  std::uint64_t seen = 0;
  for (std::size_t b = 0; b < bucket_count; ++b) {
    seen += counts_[b].load(std::memory_order_relaxed);
    if (seen >= wanted) return std::min(highest_in(b), max());
  }
  return max();
}

nlohmann::json histogram::to_json() const {
  nlohmann::json counts = nlohmann::json::array();
  for (std::size_t b = 0; b < bucket_count; ++b) {
    const std::uint64_t count = counts_[b].load(std::memory_order_relaxed);
    if (count != 0) counts.push_back({b, count});
  }
  return {{"sub_bucket_bits", sub_bucket_bits}, {"counts", counts}, {"min", min()}, {"max", max()}};
}

histogram histogram::from_json(const nlohmann::json& json) {
  if (json.at("sub_bucket_bits").get<unsigned>() != sub_bucket_bits)
    throw std::invalid_argument("histogram: another bucket layout");
  histogram out;
  for (const nlohmann::json& pair : json.at("counts")) {
    const auto bucket = pair.at(0).get<std::size_t>();
    if (bucket >= bucket_count) throw std::invalid_argument("histogram: bucket out of range");
    out.add(bucket, pair.at(1).get<std::uint64_t>());
  }
  if (out.count() != 0) out.note_extremes(json.at("min").get<std::uint64_t>(), json.at("max").get<std::uint64_t>());
  return out;
}

nlohmann::json latency_summary_json(const histogram& nanoseconds) {
  auto micros = [&](double percentile) {
    return static_cast<double>(nanoseconds.value_at_percentile(percentile)) / 1e3;
  };
  return {{"samples", nanoseconds.count()},
          {"p50", micros(50)},
          {"p90", micros(90)},
          {"p99", micros(99)},
          {"p99_9", micros(99.9)},
          {"max", static_cast<double>(nanoseconds.max()) / 1e3}};
}

}  // namespace coraft::bench
