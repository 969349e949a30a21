// The cluster file of a tcp_node: defaults, every field, and errors that name
// the offending field.
#include <coraft/tcp_node.h>

#include <nlohmann/json.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include <unistd.h>

namespace coraft {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

json member(std::uint64_t id) {
  const std::string port = std::to_string(7000 + id);
  return {{"id", id}, {"peer_address", "127.0.0.1:" + port}, {"client_address", "127.0.0.1:1" + port}};
}

json three_members() {
  return {{"cluster_id", "chat"}, {"data_dir", "/var/lib/chat"}, {"members", {member(1), member(2), member(3)}}};
}

// The field named by the error parse_cluster_config throws for `config`.
std::string offending_field(const json& config) {
  std::optional<cluster_config_error> error;
  try {
    parse_cluster_config(config);
  } catch (const cluster_config_error& thrown) {
    error = thrown;
  }
  REQUIRE(error);
  CHECK_THAT(error->what(), Catch::Contains(error->field()));
  return error->field();
}

TEST_CASE("a minimal cluster takes the library's defaults") {
  const cluster_config config = parse_cluster_config(three_members());
  const raft_options raft_defaults;
  const tcp_network_options network_defaults;
  CHECK(config.cluster_id == "chat");
  REQUIRE(config.members.size() == 3);
  CHECK(config.members[1].id == node_id(2));
  CHECK(config.members[1].peer_address == "127.0.0.1:7002");
  CHECK(config.members[1].client_address == "127.0.0.1:17002");
  CHECK(config.members[1].founding);
  CHECK(config.raft.tick_interval == raft_defaults.tick_interval);
  CHECK(config.raft.protocol.election_timeout_min_ticks == raft_defaults.protocol.election_timeout_min_ticks);
  CHECK(config.raft.snapshot_every_entries == raft_defaults.snapshot_every_entries);
  CHECK(config.raft.request_timeout == raft_defaults.request_timeout);
  CHECK(config.network.call_timeout == network_defaults.call_timeout);
  CHECK(config.network.max_frame_bytes == network_defaults.max_frame_bytes);
}

TEST_CASE("every timing, snapshot and network field is read") {
  json file = three_members();
  file["timing"] = {{"tick_ms", 5},
                    {"election_timeout_min_ticks", 30},
                    {"election_timeout_max_ticks", 60},
                    {"heartbeat_interval_ticks", 3},
                    {"max_clock_drift_ticks", 4},
                    {"request_timeout_ms", 2500},
                    {"catch_up_timeout_ms", 9000}};
  file["snapshot"] = {{"every_entries", 500}, {"keep_entries", 50}};
  file["network"] = {{"call_timeout_ms", 700}, {"backoff", {{"initial_ms", 20}, {"max_ms", 800}}}};
  const cluster_config config = parse_cluster_config(file);
  CHECK(config.raft.tick_interval == milliseconds(5));
  CHECK(config.raft.protocol.election_timeout_min_ticks == 30);
  CHECK(config.raft.protocol.election_timeout_max_ticks == 60);
  CHECK(config.raft.protocol.heartbeat_interval_ticks == 3);
  CHECK(config.raft.protocol.max_clock_drift_ticks == 4);
  CHECK(config.raft.request_timeout == milliseconds(2500));
  CHECK(config.raft.catch_up_timeout == milliseconds(9000));
  CHECK(config.raft.snapshot_every_entries == 500);
  CHECK(config.raft.log_entries_kept_after_snapshot == 50);
  CHECK(config.network.call_timeout == milliseconds(700));
  CHECK(config.network.backoff.maximum == milliseconds(800));
}

TEST_CASE("members are sorted by id, and only founding members bootstrap") {
  json file = three_members();
  json joining = member(4);
  joining["founding"] = false;
  file["members"] = {member(3), joining, member(1)};
  const cluster_config config = parse_cluster_config(file);
  REQUIRE(config.members.size() == 3);
  CHECK(config.members.front().id == node_id(1));
  CHECK(config.members.back().id == node_id(4));
  CHECK_FALSE(config.member(node_id(4))->founding);
  CHECK(config.member(node_id(2)) == nullptr);
  const membership founders = config.founding_members();
  CHECK(founders.voters == std::set<node_id>{node_id(1), node_id(3)});
  CHECK(founders.addresses.at(node_id(3)) == "127.0.0.1:7003");
  CHECK_FALSE(founders.addresses.contains(node_id(4)));
}

TEST_CASE("each member keeps its data in a directory of its own") {
  const cluster_config config = parse_cluster_config(three_members());
  CHECK(config.node_directory(node_id(2)) == "/var/lib/chat/node-2");
  CHECK(config.log_directory(node_id(2)) == "/var/lib/chat/node-2/log");
  CHECK(config.state_directory(node_id(2)) == "/var/lib/chat/node-2/state");
}

TEST_CASE("errors name the offending field") {
  json file = three_members();
  SECTION("required fields") {
    file.erase("cluster_id");
    CHECK(offending_field(file) == "cluster_id");
  }
  SECTION("an empty data directory") {
    file["data_dir"] = "";
    CHECK(offending_field(file) == "data_dir");
  }
  SECTION("no members") {
    file["members"] = json::array();
    CHECK(offending_field(file) == "members");
  }
  SECTION("an address without a port") {
    file["members"][1]["peer_address"] = "127.0.0.1";
    CHECK(offending_field(file) == "members[1].peer_address");
  }
  SECTION("a member without a client address") {
    file["members"][2].erase("client_address");
    CHECK(offending_field(file) == "members[2].client_address");
  }
  SECTION("node id 0") {
    file["members"][0]["id"] = 0;
    CHECK(offending_field(file) == "members[0].id");
  }
  SECTION("a duplicate id") {
    file["members"][2]["id"] = 1;
    CHECK(offending_field(file) == "members[2].id");
  }
  SECTION("two members on one address") {
    file["members"][2]["client_address"] = "127.0.0.1:7001";
    CHECK(offending_field(file) == "members[2].client_address");
  }
  SECTION("founding must be a boolean") {
    file["members"][0]["founding"] = "yes";
    CHECK(offending_field(file) == "members[0].founding");
  }
  SECTION("nobody founds the group") {
    for (json& m : file["members"]) m["founding"] = false;
    CHECK(offending_field(file) == "members");
  }
  SECTION("a negative tick") {
    file["timing"] = {{"tick_ms", -1}};
    CHECK(offending_field(file) == "timing.tick_ms");
  }
  SECTION("an election timeout that heartbeats cannot hold off") {
    file["timing"] = {{"heartbeat_interval_ticks", 10}, {"election_timeout_min_ticks", 10}};
    CHECK(offending_field(file) == "timing.election_timeout_min_ticks");
  }
  SECTION("unknown fields are typos") {
    file["snapshot"] = {{"every_entry", 5}};
    CHECK(offending_field(file) == "snapshot.every_entry");
    file.erase("snapshot");
    file["member"] = json::array();
    CHECK(offending_field(file) == "member");
  }
  SECTION("network fields are checked by the network's own parser") {
    file["network"] = {{"call_timeout_ms", "soon"}};
    CHECK(offending_field(file) == "network.call_timeout_ms");
  }
  SECTION("the network does not restate what the members say") {
    file["network"] = {{"listen", "0.0.0.0:7001"}};
    CHECK(offending_field(file) == "network.listen");
  }
  SECTION("the top level is an object") {
    CHECK(offending_field(json::array()) == "(top level)");
  }
}

TEST_CASE("a cluster file is read from disk, and a broken one is reported as such") {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() / ("coraft-cluster-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << three_members().dump(2);
  CHECK(load_cluster_config(path.string()).members.size() == 3);
  std::ofstream(path) << "{\"cluster_id\": ";
  std::optional<cluster_config_error> error;
  try {
    load_cluster_config(path.string());
  } catch (const cluster_config_error& thrown) {
    error = thrown;
  }
  std::filesystem::remove(path);
  REQUIRE(error);
  CHECK(error->field() == "(file)");
  CHECK_THROWS_AS(load_cluster_config(path.string()), cluster_config_error);
}

}  // namespace
}  // namespace coraft
