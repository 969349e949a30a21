// A latency histogram in the manner of HdrHistogram: within each power of two
// the range is cut into 2^sub_bucket_bits equal buckets, so a recorded value
// is known to within a relative error of 2^-sub_bucket_bits (under 0.8 %)
// while the whole range up to max_value takes a few thousand counters.
// Values are nanoseconds. record() may be called from any thread at once.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace coraft::bench {

class histogram {
 public:
  static constexpr unsigned sub_bucket_bits = 7;
  static constexpr std::uint64_t sub_bucket_count = std::uint64_t{1} << sub_bucket_bits;
  // Values are exact below 2 * sub_bucket_count and clamped above max_value
  // (about 18 minutes in nanoseconds).
  static constexpr unsigned max_value_bits = 40;
  static constexpr std::uint64_t max_value = (std::uint64_t{1} << max_value_bits) - 1;
  static constexpr std::size_t bucket_count = (max_value_bits - sub_bucket_bits + 1) * sub_bucket_count;

  histogram();
  // Copies are snapshots; copying while another thread records is allowed and
  // sees each recorded value either wholly or not at all in the counts.
  histogram(const histogram& other);
  histogram& operator=(const histogram& other);

  void record(std::uint64_t value);
  void merge(const histogram& other);

  std::uint64_t count() const { return total_.load(std::memory_order_relaxed); }
  // Exact; 0 when empty.
  std::uint64_t min() const;
  std::uint64_t max() const { return max_.load(std::memory_order_relaxed); }
  // The highest value equivalent to the recorded value at `percentile` (0 to
  // 100): at least that share of the values is at or below it, within the
  // bucket's relative error. Never above max(); 0 when empty.
  std::uint64_t value_at_percentile(double percentile) const;

  // Sparse: {"counts": [[bucket, count], ...], "min": .., "max": ..}.
  nlohmann::json to_json() const;
  // Throws nlohmann::json::exception or std::invalid_argument on anything
  // to_json() would not have produced.
  static histogram from_json(const nlohmann::json& json);

  // The bucket holding `value` (clamped to max_value), and the range of values
  // each bucket holds.
  static std::size_t bucket_of(std::uint64_t value);
  static std::uint64_t lowest_in(std::size_t bucket);
  static std::uint64_t highest_in(std::size_t bucket);

 private:
  void add(std::size_t bucket, std::uint64_t count);
  void note_extremes(std::uint64_t low, std::uint64_t high);

  std::unique_ptr<std::atomic<std::uint64_t>[]> counts_;
  std::atomic<std::uint64_t> total_{0};
  // Invariant: while empty, min_ is UINT64_MAX and max_ is 0.
  std::atomic<std::uint64_t> min_;
  std::atomic<std::uint64_t> max_{0};
};

// {"samples", "p50", "p90", "p99", "p99_9", "max"}, the values in microseconds.
nlohmann::json latency_summary_json(const histogram& nanoseconds);

}  // namespace coraft::bench
