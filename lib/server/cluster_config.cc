#include <coraft/tcp_node.h>

#include "net/address.h"
#include "net/json_object_reader.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <limits>
#include <optional>
#include <set>
#include <string_view>

namespace coraft {
namespace {

using json = nlohmann::json;

constexpr std::uint64_t largest_id = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t longest_ms = 24 * 60 * 60 * 1000;
constexpr std::uint64_t most_ticks = 1'000'000;

// The fields of the cluster that the network options take from the members.
constexpr std::string_view derived_network_fields[] = {"cluster_id", "node_id", "listen", "advertise", "peers"};

using object_reader = net::json_object_reader<cluster_config_error>;

std::string member_path(std::size_t position) { return "members[" + std::to_string(position) + "]"; }

cluster_member read_member(const json& value, std::size_t position) {
  object_reader reader(value, member_path(position));
  cluster_member member;
  member.id = node_id(reader.required_number("id", 1, largest_id));
  member.peer_address = reader.required_address("peer_address");
  member.client_address = reader.required_address("client_address");
  member.founding = reader.flag("founding").value_or(true);
  reader.reject_unknown();
  return member;
}

// Ids and addresses are unique: two members on one address could not both listen.
void check_distinct(const std::vector<cluster_member>& members) {
  std::set<node_id> ids;
  std::set<std::string> addresses;
  for (std::size_t position = 0; position < members.size(); ++position) {
    const cluster_member& member = members[position];
    const std::string path = member_path(position);
    if (!ids.insert(member.id).second) {
      throw cluster_config_error(path + ".id", "node id " + std::to_string(member.id.value) + " is listed twice");
    }
    if (!addresses.insert(member.peer_address).second) {
      throw cluster_config_error(path + ".peer_address", member.peer_address + " is used twice");
    }
    if (!addresses.insert(member.client_address).second) {
      throw cluster_config_error(path + ".client_address", member.client_address + " is used twice");
    }
  }
}

std::vector<cluster_member> read_members(const json& value) {
  if (!value.is_array() || value.empty()) throw cluster_config_error("members", "expected a non-empty array");
  std::vector<cluster_member> members;
  for (std::size_t position = 0; position < value.size(); ++position) {
    members.push_back(read_member(value[position], position));
  }
  check_distinct(members);
  if (std::none_of(members.begin(), members.end(), [](const cluster_member& m) { return m.founding; })) {
    throw cluster_config_error("members", "at least one member must be founding");
  }
  std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  return members;
}

std::uint32_t ticks(std::uint64_t value) { return static_cast<std::uint32_t>(value); }

// The timing knobs, checked together by raft_options::validate afterwards.
void read_timing(const json& value, raft_options& options) {
  object_reader reader(value, "timing");
  if (auto ms = reader.number("tick_ms", 1, longest_ms)) options.tick_interval = std::chrono::milliseconds(*ms);
  protocol_options& protocol = options.protocol;
  if (auto n = reader.number("election_timeout_min_ticks", 1, most_ticks)) protocol.election_timeout_min_ticks = ticks(*n);
  if (auto n = reader.number("election_timeout_max_ticks", 1, most_ticks)) protocol.election_timeout_max_ticks = ticks(*n);
  if (auto n = reader.number("heartbeat_interval_ticks", 1, most_ticks)) protocol.heartbeat_interval_ticks = ticks(*n);
  if (auto n = reader.number("max_clock_drift_ticks", 0, most_ticks)) protocol.max_clock_drift_ticks = ticks(*n);
  if (auto ms = reader.number("request_timeout_ms", 1, longest_ms)) {
    options.request_timeout = std::chrono::milliseconds(*ms);
  }
  if (auto ms = reader.number("catch_up_timeout_ms", 1, longest_ms)) {
    options.catch_up_timeout = std::chrono::milliseconds(*ms);
  }
  reader.reject_unknown();
}

void read_snapshot_policy(const json& value, raft_options& options) {
  object_reader reader(value, "snapshot");
  if (auto n = reader.number("every_entries", 0, largest_id)) options.snapshot_every_entries = *n;
  if (auto n = reader.number("keep_entries", 0, largest_id)) options.log_entries_kept_after_snapshot = *n;
  reader.reject_unknown();
}

// Reports a combination of timing knobs the engine refuses, naming the field
// that raft_options::validate names first in its description.
void check_timing(const cluster_config& config) {
  raft_options trial = config.raft;
  trial.id = config.members.front().id;
  trial.initial_members = config.founding_members();
  const std::optional<std::string> problem = trial.validate();
  if (!problem) return;
  std::string_view description = *problem;
  if (description.starts_with("protocol.")) description.remove_prefix(std::string_view("protocol.").size());
  const std::size_t space = description.find(' ');
  throw cluster_config_error("timing." + std::string(description.substr(0, space)),
                             std::string(description.substr(space + 1)));
}

// The network options: the "network" object's own fields, checked by
// parse_tcp_network_options, and the fields every member derives from the cluster.
tcp_network_options read_network(const json* value, const cluster_config& config) {
  json options = value ? *value : json::object();
  if (!options.is_object()) throw cluster_config_error("network", "expected an object");
  for (std::string_view derived : derived_network_fields) {
    if (options.contains(derived)) {
      throw cluster_config_error("network." + std::string(derived), "comes from cluster_id and members; remove it");
    }
  }
  options["cluster_id"] = config.cluster_id;
  options["node_id"] = config.members.front().id.value;
  options["listen"] = config.members.front().peer_address;
  try {
    return parse_tcp_network_options(options);
  } catch (const tcp_config_error& error) {
    std::string problem = error.what();
    const std::string prefix = "tcp network config: " + error.field() + ": ";
    if (problem.starts_with(prefix)) problem.erase(0, prefix.size());
    throw cluster_config_error("network." + error.field(), problem);
  }
}

}  // namespace

cluster_config_error::cluster_config_error(std::string field, const std::string& problem)
    : std::invalid_argument("cluster config: " + field + ": " + problem), field_(std::move(field)) {}

const cluster_member* cluster_config::member(node_id id) const {
  for (const cluster_member& candidate : members) {
    if (candidate.id == id) return &candidate;
  }
  return nullptr;
}

membership cluster_config::founding_members() const {
  membership founders;
  for (const cluster_member& m : members) {
    if (!m.founding) continue;
    founders.voters.insert(m.id);
    founders.addresses[m.id] = m.peer_address;
  }
  return founders;
}

std::string cluster_config::node_directory(node_id id) const { return data_dir + "/node-" + std::to_string(id.value); }
std::string cluster_config::log_directory(node_id id) const { return node_directory(id) + "/log"; }
std::string cluster_config::state_directory(node_id id) const { return node_directory(id) + "/state"; }

cluster_config parse_cluster_config(const nlohmann::json& value) {
  object_reader reader(value, "");
  cluster_config config;
  config.cluster_id = reader.required_text("cluster_id");
  config.data_dir = reader.required_text("data_dir");
  config.members = read_members(reader.require("members"));
  if (const json* timing = reader.find("timing")) read_timing(*timing, config.raft);
  if (const json* snapshot = reader.find("snapshot")) read_snapshot_policy(*snapshot, config.raft);
  config.network = read_network(reader.find("network"), config);
  reader.reject_unknown();
  check_timing(config);
  return config;
}

cluster_config load_cluster_config(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw cluster_config_error("(file)", "cannot read " + path);
  json value;
  try {
    value = json::parse(file);
  } catch (const json::parse_error& error) {
    throw cluster_config_error("(file)", path + " is not JSON: " + error.what());
  }
  return parse_cluster_config(value);
}

}  // namespace coraft
