// What a measurement ran on, and what a process costs: figures the report
// prints beside the results so that they can be compared across machines.
#pragma once

#include <nlohmann/json_fwd.hpp>

#include <array>
#include <cstdint>
#include <filesystem>
#include <string>

namespace coraft::bench {

struct machine_description {
  unsigned processors = 0;  // online, as nproc counts them
  std::string cpu_model;    // /proc/cpuinfo "model name"
  std::string kernel;       // uname release
  // The block device under the data directory and its file system, e.g.
  // "vda (virtio_blk, rotational 1, write back cache), ext4 on /".
  std::string disk;
};

machine_description describe_machine(const std::filesystem::path& data_dir);
nlohmann::json to_json(const machine_description& machine);

// The 1, 5 and 15 minute load averages.
std::array<double, 3> load_average();

// What this process (all of its threads) has used so far.
struct resource_usage {
  double cpu_seconds = 0;  // user + system
  // Voluntary and involuntary: how often a thread stopped running, mostly to
  // wait for another thread's hand-off.
  std::uint64_t context_switches = 0;

  friend resource_usage operator-(const resource_usage& a, const resource_usage& b) {
    return {a.cpu_seconds - b.cpu_seconds, a.context_switches - b.context_switches};
  }
};
resource_usage resource_usage_now();
// The most memory this process has held resident since it started or since
// the last reset_peak_rss() (Linux's VmHWM).
std::uint64_t peak_rss_bytes();
// Restarts peak_rss_bytes() from the current resident size. Returns false
// where the kernel does not allow it (the peak then covers the whole run).
bool reset_peak_rss();

}  // namespace coraft::bench
