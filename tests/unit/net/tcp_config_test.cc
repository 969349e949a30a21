// tcp_network_options from JSON: defaults, every field, and errors that name
// the offending field.
#include <coraft/tcp_network.h>

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

namespace coraft {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

json minimal_config() { return {{"cluster_id", "chat"}, {"node_id", 1}, {"listen", "127.0.0.1:7001"}}; }

// The field named by the error parse_tcp_network_options throws for `config`.
std::string offending_field(const json& config) {
  std::optional<tcp_config_error> error;
  try {
    parse_tcp_network_options(config);
  } catch (const tcp_config_error& thrown) {
    error = thrown;
  }
  REQUIRE(error);
  CHECK_THAT(error->what(), Catch::Contains(error->field()));
  return error->field();
}

TEST_CASE("a minimal configuration takes the defaults") {
  auto options = parse_tcp_network_options(minimal_config());
  tcp_network_options defaults;
  CHECK(options.cluster_id == "chat");
  CHECK(options.self == node_id(1));
  CHECK(options.listen_address == "127.0.0.1:7001");
  CHECK(options.advertise_address == "127.0.0.1:7001");
  CHECK(options.peers.empty());
  CHECK(options.max_frame_bytes == defaults.max_frame_bytes);
  CHECK(options.snapshot_chunk_bytes == defaults.snapshot_chunk_bytes);
  CHECK(options.connect_timeout == defaults.connect_timeout);
  CHECK(options.call_timeout == defaults.call_timeout);
  CHECK(options.snapshot_timeout == defaults.snapshot_timeout);
  CHECK(options.frame_timeout == defaults.frame_timeout);
  CHECK(options.backoff.initial == defaults.backoff.initial);
  CHECK(options.backoff.maximum == defaults.backoff.maximum);
}

TEST_CASE("every field of the configuration is read") {
  auto config = minimal_config();
  config["advertise"] = "[2001:db8::1]:7001";
  config["peers"] = json::array({{{"id", 2}, {"address", "10.0.0.2:7002"}}, {{"id", 3}, {"address", "n3:7003"}}});
  config["max_frame_bytes"] = 1 << 20;
  config["snapshot_chunk_bytes"] = 4096;
  config["connect_timeout_ms"] = 300;
  config["call_timeout_ms"] = 700;
  config["snapshot_timeout_ms"] = 9000;
  config["frame_timeout_ms"] = 1500;
  config["backoff"] = {{"initial_ms", 20}, {"max_ms", 800}};
  auto options = parse_tcp_network_options(config);
  CHECK(options.advertise_address == "[2001:db8::1]:7001");
  CHECK(options.peers == std::map<node_id, std::string>{{node_id(2), "10.0.0.2:7002"}, {node_id(3), "n3:7003"}});
  CHECK(options.max_frame_bytes == 1 << 20);
  CHECK(options.snapshot_chunk_bytes == 4096);
  CHECK(options.connect_timeout == milliseconds(300));
  CHECK(options.call_timeout == milliseconds(700));
  CHECK(options.snapshot_timeout == milliseconds(9000));
  CHECK(options.frame_timeout == milliseconds(1500));
  CHECK(options.backoff.initial == milliseconds(20));
  CHECK(options.backoff.maximum == milliseconds(800));
}

TEST_CASE("a missing required field is named") {
  for (const char* field : {"cluster_id", "node_id", "listen"}) {
    auto config = minimal_config();
    config.erase(field);
    CHECK(offending_field(config) == field);
  }
}

TEST_CASE("a field of the wrong type or out of range is named") {
  auto with = [](const char* field, json value) {
    auto config = minimal_config();
    config[field] = std::move(value);
    return config;
  };
  CHECK(offending_field(with("cluster_id", 5)) == "cluster_id");
  CHECK(offending_field(with("cluster_id", "")) == "cluster_id");
  CHECK(offending_field(with("node_id", 0)) == "node_id");
  CHECK(offending_field(with("node_id", -3)) == "node_id");
  CHECK(offending_field(with("node_id", "1")) == "node_id");
  CHECK(offending_field(with("listen", "no-port")) == "listen");
  CHECK(offending_field(with("advertise", "::1:7001")) == "advertise");
  CHECK(offending_field(with("max_frame_bytes", 100)) == "max_frame_bytes");
  CHECK(offending_field(with("max_frame_bytes", 1.5)) == "max_frame_bytes");
  CHECK(offending_field(with("max_frame_bytes", 1 << 20 | 1)) == "max_frame_bytes");
  CHECK(offending_field(with("snapshot_chunk_bytes", 0)) == "snapshot_chunk_bytes");
  CHECK(offending_field(with("call_timeout_ms", 0)) == "call_timeout_ms");
  CHECK(offending_field(with("backoff", json::object({{"initial_ms", 100}, {"max_ms", 10}}))) == "backoff.max_ms");
  CHECK(offending_field(with("backoff", json::object({{"initial", 100}}))) == "backoff.initial");
  CHECK(offending_field(with("peers", json::object())) == "peers");
}

TEST_CASE("a bad peer entry is named by its position") {
  auto config = minimal_config();
  config["peers"] = json::array({{{"id", 2}, {"address", "a:1"}}, {{"id", 3}, {"address", "nowhere"}}});
  CHECK(offending_field(config) == "peers[1].address");
  config["peers"] = json::array({{{"id", 2}, {"address", "a:1"}}, {{"address", "b:2"}}});
  CHECK(offending_field(config) == "peers[1].id");
  config["peers"] = json::array({{{"id", 2}, {"address", "a:1"}}, {{"id", 2}, {"address", "b:2"}}});
  CHECK(offending_field(config) == "peers[1].id");
  config["peers"] = json::array({{{"id", 2}, {"address", "a:1"}, {"weight", 3}}});
  CHECK(offending_field(config) == "peers[0].weight");
  config["peers"] = json::array({"a:1"});
  CHECK(offending_field(config) == "peers[0]");
}

TEST_CASE("an unknown field is reported, since it is usually a typo") {
  auto config = minimal_config();
  config["call_timout_ms"] = 100;
  CHECK(offending_field(config) == "call_timout_ms");
}

TEST_CASE("a configuration that is not an object is refused") {
  CHECK_THROWS_AS(parse_tcp_network_options(json::array()), tcp_config_error);
}

}  // namespace
}  // namespace coraft
