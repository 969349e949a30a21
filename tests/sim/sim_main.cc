// coraft-sim: runs the deterministic cluster simulation over many seeds.
//
//   coraft-sim --seeds N [--first S] [--nodes 3|5] [--faults none|light|heavy]
//              [--jobs J] [--trace] [--history FILE] [--acknowledge-before-durable]
//              [--clock-drift F] [--lease-share F] [--client-timeout UNITS]
//
// Prints one line per failing seed with the violation and the event trace
// that leads to it (rerun the seed alone with --trace for the whole trace),
// then a summary. --history writes the client history of the (last) seed run,
// for coraft-lincheck. Exits non-zero when any seed fails.
#include "simulator.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

struct arguments {
  std::uint64_t seeds = 100;
  std::uint64_t first = 1;
  bool full_trace = false;
  unsigned jobs = 1;
  coraft::sim::config config;
};

[[noreturn]] void usage(const char* problem) {
  std::fprintf(stderr,
               "coraft-sim: %s\nusage: coraft-sim --seeds N [--first S] [--nodes 3|5] [--faults none|light|heavy] "
               "[--jobs J] [--trace] [--history FILE] [--acknowledge-before-durable] [--clock-drift F] "
               "[--lease-share F] [--client-timeout UNITS]\n",
               problem);
  std::exit(2);
}

double fraction(const char* text) {
  char* end = nullptr;
  const double value = std::strtod(text, &end);
  if (end == text || *end != '\0' || value < 0 || value > 1) usage("expected a fraction between 0 and 1");
  return value;
}

std::uint64_t number(const char* text) {
  char* end = nullptr;
  const auto value = std::strtoull(text, &end, 10);
  if (end == text || *end != '\0') usage("expected a number");
  return value;
}

arguments parse(int argc, char** argv) {
  arguments args;
  for (int i = 1; i < argc; ++i) {
    const std::string_view flag = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage("missing value");
      return argv[++i];
    };
    if (flag == "--seeds") {
      args.seeds = number(value());
    } else if (flag == "--first") {
      args.first = number(value());
    } else if (flag == "--nodes") {
      args.config.nodes = static_cast<int>(number(value()));
      args.config.clients = args.config.nodes == 5 ? 8 : 5;
    } else if (flag == "--faults") {
      const std::string_view level = value();
      if (level == "none") {
        args.config.faults = coraft::sim::fault_profile::none();
      } else if (level == "light") {
        args.config.faults = coraft::sim::fault_profile::light();
      } else if (level == "heavy") {
        args.config.faults = coraft::sim::fault_profile::heavy();
      } else {
        usage("--faults takes none, light or heavy");
      }
    } else if (flag == "--jobs") {
      args.jobs = static_cast<unsigned>(std::max<std::uint64_t>(1, number(value())));
    } else if (flag == "--clock-drift") {
      args.config.faults.clock_drift = fraction(value());
    } else if (flag == "--client-timeout") {
      args.config.client_timeout_units = number(value());
    } else if (flag == "--lease-share") {
      args.config.lease_read_share = fraction(value());
    } else if (flag == "--history") {
      args.config.history_file = value();
    } else if (flag == "--trace") {
      args.full_trace = true;
    } else if (flag == "--acknowledge-before-durable") {
      args.config.acknowledge_before_durable = true;
    } else {
      usage("unknown flag");
    }
  }
  if (args.config.nodes < 1 || args.config.nodes > 9) usage("--nodes must be between 1 and 9");
  return args;
}

void report_failure(std::uint64_t seed, const arguments& args, const coraft::sim::result& failed) {
  coraft::sim::config traced = args.config;
  traced.record_trace = true;
  const coraft::sim::result replay = coraft::sim::run(seed, traced);
  const std::size_t shown = args.full_trace ? replay.trace.size() : std::min<std::size_t>(replay.trace.size(), 60);
  std::printf("seed %llu FAILED: %s\n", static_cast<unsigned long long>(seed), failed.violation.c_str());
  std::printf("  last %zu of %zu trace events (rerun with --first %llu --seeds 1 --trace for all):\n", shown,
              replay.trace.size(), static_cast<unsigned long long>(seed));
  for (std::size_t i = replay.trace.size() - shown; i < replay.trace.size(); ++i)
    std::printf("    %s\n", replay.trace[i].c_str());
}

}  // namespace

int main(int argc, char** argv) {
  const arguments args = parse(argc, argv);
  const auto started = std::chrono::steady_clock::now();
  std::atomic<std::uint64_t> next{0};
  std::mutex output;
  std::vector<std::uint64_t> failures;
  coraft::sim::statistics totals;
  auto worker = [&] {
    for (std::uint64_t i = next++; i < args.seeds; i = next++) {
      const std::uint64_t seed = args.first + i;
      const coraft::sim::result outcome = coraft::sim::run(seed, args.config);
      std::lock_guard lock(output);
      totals.events += outcome.stats.events;
      totals.client_operations += outcome.stats.client_operations;
      totals.crashes += outcome.stats.crashes;
      totals.partitions += outcome.stats.partitions;
      totals.elections_won += outcome.stats.elections_won;
      totals.membership_changes += outcome.stats.membership_changes;
      totals.transfers += outcome.stats.transfers;
      totals.snapshots_installed += outcome.stats.snapshots_installed;
      totals.unknown_outcomes += outcome.stats.unknown_outcomes;
      if (!outcome.ok) {
        failures.push_back(seed);
        report_failure(seed, args, outcome);
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned j = 0; j < args.jobs; ++j) threads.emplace_back(worker);
  for (auto& thread : threads) thread.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  auto count = [](std::uint64_t n) { return static_cast<unsigned long long>(n); };
  std::printf("%llu seeds from %llu, %d nodes: %zu failed; %.1f s, %.1f seeds/s\n", count(args.seeds),
              count(args.first), args.config.nodes, failures.size(), seconds, static_cast<double>(args.seeds) / seconds);
  std::printf("  %llu events, %llu client operations (%llu of unknown outcome), %llu crashes, %llu partitions, "
              "%llu elections, %llu membership changes, %llu transfers, %llu snapshots installed\n",
              count(totals.events), count(totals.client_operations), count(totals.unknown_outcomes),
              count(totals.crashes), count(totals.partitions), count(totals.elections_won),
              count(totals.membership_changes), count(totals.transfers), count(totals.snapshots_installed));
  return failures.empty() ? 0 : 1;
}
