// One run of coraft-bench: the machine's bound first, then the group, then one
// measurement per client count and client place.
#pragma once

#include "cluster.h"
#include "load_generator.h"
#include "machine.h"
#include "options.h"
#include "physical_bound.h"

#include <array>
#include <cstdint>
#include <vector>

namespace coraft::bench {

struct point_result {
  std::size_t clients = 0;
  client_place place = client_place::leader;
  std::size_t connections = 0;  // tcp clients only
  double offered_rate = 0;      // open loop: proposals per second offered; 0 for a closed loop
  load_result load;
  std::vector<node_sample> nodes;  // over the whole point, warm-up and drain included
  // This process over the point: all of the group in-process; the tcp
  // clients (or nothing much) in real mode.
  resource_usage bench_usage;
  std::uint64_t bench_peak_rss_bytes = 0;
};

struct bench_report {
  bench_options options;
  machine_description machine;
  std::array<double, 3> load_average_before{};
  std::array<double, 3> load_average_after{};
  // Measured before the group starts and again after it stops: a shared
  // host's disk drifts within minutes, so the floor pools both (`bound`).
  physical_bound bound_before;
  physical_bound bound_after;
  physical_bound bound;
  std::vector<point_result> points;
};

// Throws what setting up the group throws (std::runtime_error and friends).
bench_report run_benchmark(const bench_options& options);

}  // namespace coraft::bench
