// Throughput (left axis, solid) and p99 latency (right axis, dashed) against
// the number of clients (log scale), one pair of lines per client place, as a
// self-contained SVG document. Open-loop points are left out: their client
// count does not set their load.
#pragma once

#include "benchmark.h"

#include <string>

namespace coraft::bench {

std::string plot_svg(const bench_report& report);

}  // namespace coraft::bench
