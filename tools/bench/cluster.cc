#include "cluster.h"

#include <nlohmann/json.hpp>

namespace coraft::bench {
namespace {

// Every counter, by its JSON name.
constexpr std::pair<const char*, std::uint64_t counters::*> every_counter[] = {
    {"proposals_accepted", &counters::proposals_accepted},
    {"proposals_refused", &counters::proposals_refused},
    {"log_writes", &counters::log_writes},
    {"entries_written", &counters::entries_written},
    {"messages_sent", &counters::messages_sent},
    {"entries_sent", &counters::entries_sent},
    {"entries_applied", &counters::entries_applied},
    {"elections_started", &counters::elections_started},
    {"snapshots_built", &counters::snapshots_built},
    {"snapshots_installed", &counters::snapshots_installed},
};

}  // namespace

counters counters_since(const counters& later, const counters& earlier) {
  counters out;
  for (const auto& [name, member] : every_counter) out.*member = later.*member - earlier.*member;
  return out;
}

nlohmann::json to_json(const node_sample& sample) {
  nlohmann::json totals = nlohmann::json::object();
  for (const auto& [name, member] : every_counter) totals[name] = sample.totals.*member;
  nlohmann::json out = {{"id", sample.id.value}, {"role", sample.role}, {"counters", totals}};
  if (sample.usage) {
    out["cpu_s"] = sample.usage->cpu_seconds;
    out["context_switches"] = sample.usage->context_switches;
  }
  if (sample.peak_rss_bytes) out["peak_rss_bytes"] = *sample.peak_rss_bytes;
  return out;
}

node_sample node_sample_from_json(const nlohmann::json& json) {
  node_sample sample;
  sample.id = node_id(json.at("id").get<std::uint64_t>());
  sample.role = json.at("role").get<std::string>();
  for (const auto& [name, member] : every_counter)
    sample.totals.*member = json.at("counters").at(name).get<std::uint64_t>();
  if (json.contains("cpu_s")) {
    sample.usage = resource_usage{.cpu_seconds = json.at("cpu_s").get<double>(),
                                  .context_switches = json.at("context_switches").get<std::uint64_t>()};
  }
  if (json.contains("peak_rss_bytes")) sample.peak_rss_bytes = json.at("peak_rss_bytes").get<std::uint64_t>();
  return sample;
}

}  // namespace coraft::bench
