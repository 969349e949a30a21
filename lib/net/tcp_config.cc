#include <coraft/tcp_network.h>

#include "net/address.h"
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

// Reads the fields of one JSON object, remembering which ones it read so that
// any other field can be reported as unknown.
class object_reader {
 public:
  object_reader(const json& object, std::string path) : object_(object), path_(std::move(path)) {
    if (!object_.is_object()) throw tcp_config_error(path_.empty() ? "(top level)" : path_, "expected an object");
  }

  std::string field_path(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }

  const json* find(std::string_view name) {
    known_.emplace(name);
    auto found = object_.find(name);
    return found == object_.end() ? nullptr : &*found;
  }

  const json& require(std::string_view name) {
    const json* value = find(name);
    if (!value) throw tcp_config_error(field_path(name), "missing");
    return *value;
  }

  std::optional<std::string> text(std::string_view name) {
    const json* value = find(name);
    if (!value) return std::nullopt;
    if (!value->is_string()) throw tcp_config_error(field_path(name), "expected a string");
    return value->get<std::string>();
  }

  std::optional<std::uint64_t> number(std::string_view name, std::uint64_t minimum, std::uint64_t maximum) {
    const json* value = find(name);
    if (!value) return std::nullopt;
    return checked_number(*value, field_path(name), minimum, maximum);
  }

  std::optional<std::string> address(std::string_view name) {
    auto value = text(name);
    if (value) check_address(*value, field_path(name));
    return value;
  }

  void reject_unknown() const {
    for (const auto& [name, value] : object_.items()) {
      if (!known_.contains(name)) throw tcp_config_error(field_path(name), "unknown field");
    }
  }

  static std::uint64_t checked_number(const json& value, const std::string& path, std::uint64_t minimum,
                                      std::uint64_t maximum) {
    // Parsed text yields unsigned numbers; numbers set from C++ code may be signed.
    bool non_negative = value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0);
    if (!non_negative || value.get<std::uint64_t>() < minimum || value.get<std::uint64_t>() > maximum) {
      throw tcp_config_error(path, net::concat("expected an integer from ", minimum, " to ", maximum));
    }
    return value.get<std::uint64_t>();
  }

  static void check_address(const std::string& address, const std::string& path) {
    if (!net::split_host_port(address)) {
      throw tcp_config_error(path, "expected \"host:port\" (an IPv6 host in brackets), got \"" + address + "\"");
    }
  }

 private:
  const json& object_;
  std::string path_;
  std::set<std::string, std::less<>> known_;
};

std::string required_text(object_reader& reader, std::string_view name) {
  reader.require(name);
  auto value = reader.text(name);
  if (value->empty()) throw tcp_config_error(reader.field_path(name), "must not be empty");
  return *value;
}

void read_timeout(object_reader& reader, std::string_view name, milliseconds& out) {
  if (auto value = reader.number(name, 1, longest_timeout_ms)) out = milliseconds(*value);
}

std::map<node_id, std::string> read_peers(const json& peers) {
  if (!peers.is_array()) throw tcp_config_error("peers", "expected an array of {\"id\", \"address\"} objects");
  std::map<node_id, std::string> addresses;
  for (std::size_t i = 0; i < peers.size(); ++i) {
    object_reader peer(peers[i], net::concat("peers[", i, "]"));
    node_id id(object_reader::checked_number(peer.require("id"), peer.field_path("id"), 1,
                                             std::numeric_limits<std::uint64_t>::max()));
    peer.require("address");
    auto address = peer.address("address");
    peer.reject_unknown();
    if (!addresses.emplace(id, *address).second) {
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
  options.cluster_id = required_text(reader, "cluster_id");
  options.self = node_id(object_reader::checked_number(reader.require("node_id"), "node_id", 1,
                                                       std::numeric_limits<std::uint64_t>::max()));
  reader.require("listen");
  options.listen_address = *reader.address("listen");
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
