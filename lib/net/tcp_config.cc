#include <coraft/tcp_network.h>

#include "net/address.h"
#include "net/json_object_reader.h"
#include "net/failure.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <limits>
#include <optional>
#include <set>
#include <string_view>

namespace coraft {
namespace {

using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr std::uint64_t longest_timeout_ms = 24 * 60 * 60 * 1000;
constexpr std::uint64_t smallest_frame_bytes = 64 << 10;
constexpr std::uint64_t largest_frame_bytes = 1 << 30;  // protobuf refuses messages near 2 GiB

using object_reader = net::json_object_reader<tcp_config_error>;

void read_timeout(object_reader& reader, std::string_view name, milliseconds& out) {
  if (auto value = reader.number(name, 1, longest_timeout_ms)) out = milliseconds(*value);
}

std::map<node_id, std::string> read_peers(const json& peers) {
  if (!peers.is_array()) throw tcp_config_error("peers", "expected an array of {\"id\", \"address\"} objects");
  std::map<node_id, std::string> addresses;
  for (std::size_t i = 0; i < peers.size(); ++i) {
    object_reader peer(peers[i], net::concat("peers[", i, "]"));
    node_id id(peer.required_number("id", 1, std::numeric_limits<std::uint64_t>::max()));
    const std::string address = peer.required_address("address");
    peer.reject_unknown();
    if (!addresses.emplace(id, address).second) {
      throw tcp_config_error(peer.field_path("id"), net::concat("node id ", id.value, " is listed twice"));
    }
  }
  return addresses;
}

tcp_backoff read_backoff(const json& backoff) {
  object_reader reader(backoff, "backoff");
  tcp_backoff out;
  read_timeout(reader, "initial_ms", out.initial);
  read_timeout(reader, "max_ms", out.maximum);
  reader.reject_unknown();
  if (out.maximum < out.initial) throw tcp_config_error("backoff.max_ms", "must not be less than backoff.initial_ms");
  return out;
}

}  // namespace

tcp_config_error::tcp_config_error(std::string field, const std::string& problem)
    : std::invalid_argument("tcp network config: " + field + ": " + problem), field_(std::move(field)) {}

tcp_network_options parse_tcp_network_options(const nlohmann::json& config) {
  object_reader reader(config, "");
  tcp_network_options options;
  options.cluster_id = reader.required_text("cluster_id");
  options.self = node_id(reader.required_number("node_id", 1, std::numeric_limits<std::uint64_t>::max()));
  options.listen_address = reader.required_address("listen");
  options.advertise_address = reader.address("advertise").value_or(options.listen_address);
  if (const json* peers = reader.find("peers")) options.peers = read_peers(*peers);
  if (auto value = reader.number("max_frame_bytes", smallest_frame_bytes, largest_frame_bytes)) {
    options.max_frame_bytes = *value;
  }
  if (auto value = reader.number("snapshot_chunk_bytes", 1, options.max_frame_bytes / 2)) {
    options.snapshot_chunk_bytes = *value;
  } else if (options.snapshot_chunk_bytes > options.max_frame_bytes / 2) {
    throw tcp_config_error("max_frame_bytes", "must be at least twice snapshot_chunk_bytes");
  }
  read_timeout(reader, "connect_timeout_ms", options.connect_timeout);
  read_timeout(reader, "call_timeout_ms", options.call_timeout);
  read_timeout(reader, "frame_timeout_ms", options.frame_timeout);
  read_timeout(reader, "snapshot_timeout_ms", options.snapshot_timeout);
  if (const json* backoff = reader.find("backoff")) options.backoff = read_backoff(*backoff);
  reader.reject_unknown();
  return options;
}

}  // namespace coraft
