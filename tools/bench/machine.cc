#include "machine.h"

#include <nlohmann/json.hpp>

#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

namespace coraft::bench {
namespace {

namespace fs = std::filesystem;

std::string first_line(const fs::path& file) {
  std::ifstream in(file);
  std::string line;
  std::getline(in, line);
  return line;
}

// The value of the first "key<spaces>: value" line of a /proc file.
std::string proc_field(const fs::path& file, std::string_view key) {
  std::ifstream in(file);
  for (std::string line; std::getline(in, line);) {
    if (!line.starts_with(key)) continue;
    const std::size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::size_t value = line.find_first_not_of(" \t", colon + 1);
    return value == std::string::npos ? std::string() : line.substr(value);
  }
  return {};
}

// The whole disk a file system lives on: /sys/block/<disk>, also when the
// file system is on one of its partitions.
fs::path block_device_of(const fs::path& dir) {
  struct stat info {};
  if (::stat(dir.c_str(), &info) != 0) return {};
  std::error_code error;
  const std::string device_number = std::to_string(major(info.st_dev)) + ":" + std::to_string(minor(info.st_dev));
  fs::path device = fs::canonical(fs::path("/sys/dev/block") / device_number, error);
  if (error) return {};
  if (fs::exists(device / "partition")) device = device.parent_path();
  return device;
}

// The mount holding `dir`: its file system type and mount point.
std::string file_system_of(const fs::path& dir) {
  std::error_code error;
  const std::string path = fs::canonical(dir, error).string();
  std::ifstream mounts("/proc/mounts");
  std::string best_point;
  std::string best_type;
  for (std::string device, point, type, rest; mounts >> device >> point >> type && std::getline(mounts, rest);) {
    const bool contains = path == point || path.starts_with(point == "/" ? point : point + "/");
    if (contains && point.size() >= best_point.size()) {
      best_point = point;
      best_type = type;
    }
  }
  return best_type + " on " + best_point;
}

std::string describe_disk(const fs::path& data_dir) {
  const fs::path device = block_device_of(data_dir);
  if (device.empty()) return "unknown, " + file_system_of(data_dir);
  std::ostringstream out;
  out << device.filename().string() << " (";
  std::error_code error;
  const fs::path driver = fs::read_symlink(device / "device" / "driver", error);
  if (!error) out << driver.filename().string() << ", ";
  const std::string model = first_line(device / "device" / "model");
  if (!model.empty()) out << model << ", ";
  out << "rotational " << first_line(device / "queue" / "rotational");
  const std::string cache = first_line(device / "queue" / "write_cache");
  if (!cache.empty()) out << ", " << cache << " cache";
  out << "), " << file_system_of(data_dir);
  return out.str();
}

}  // namespace

machine_description describe_machine(const std::filesystem::path& data_dir) {
  machine_description machine;
  machine.processors = static_cast<unsigned>(::sysconf(_SC_NPROCESSORS_ONLN));
  machine.cpu_model = proc_field("/proc/cpuinfo", "model name");
  struct utsname names {};
  if (::uname(&names) == 0) machine.kernel = names.release;
  machine.disk = describe_disk(data_dir);
  return machine;
}

nlohmann::json to_json(const machine_description& machine) {
  return {{"nproc", machine.processors},
          {"cpu_model", machine.cpu_model},
          {"kernel", machine.kernel},
          {"disk", machine.disk}};
}

std::array<double, 3> load_average() {
  std::array<double, 3> load{};
  std::ifstream in("/proc/loadavg");
  in >> load[0] >> load[1] >> load[2];
  return load;
}

resource_usage resource_usage_now() {
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return {.cpu_seconds = seconds(usage.ru_utime) + seconds(usage.ru_stime),
          .context_switches = static_cast<std::uint64_t>(usage.ru_nvcsw + usage.ru_nivcsw)};
}

std::uint64_t peak_rss_bytes() {
  const std::string field = proc_field("/proc/self/status", "VmHWM");  // "1764 kB"
  if (!field.empty()) return std::stoull(field) * 1024;
  struct rusage usage {};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_maxrss) * 1024;
}

bool reset_peak_rss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";  // "reset the peak resident set size"
  clear_refs.flush();
  return bool(clear_refs);
}

}  // namespace coraft::bench
