#include "engine_test_support.h"

#include <coraft/memory_kv_state_machine.h>

#include <catch2/catch.hpp>

namespace coraft::test {
namespace {

log_entry command(std::uint64_t index, std::string payload) {
  return {term_t(1), index_t(index), entry_kind::command, shared_bytes(std::move(payload))};
}

log_entry config_entry(std::uint64_t index, const membership& config) {
  return {term_t(1), index_t(index), entry_kind::membership, shared_bytes(encode_membership(config))};
}

membership voters_1_2() {
  membership config;
  config.voters = {node_id(1), node_id(2)};
  config.addresses = {{node_id(1), "a:1"}, {node_id(2), "b:2"}};
  return config;
}

}  // namespace

TEST_CASE("the memory kv machine answers each entry and records the last applied id and membership") {
  io_threads io(1);
  memory_kv_state_machine machine;
  std::vector<log_entry> entries = {config_entry(1, voters_1_2()),
                                    {term_t(1), index_t(2), entry_kind::noop, {}},
                                    command(3, put("k", "v")),
                                    command(4, append("k", "w")),
                                    command(5, "\xff not a command")};
  std::vector<std::string> answers = io.run(machine.apply(entries));
  REQUIRE(answers.size() == 5);
  CHECK(answers[0].empty());
  CHECK(answers[1].empty());
  CHECK(answers[2] == "v");
  CHECK(answers[3] == "vw");
  CHECK(answers[4].starts_with("error: "));
  CHECK(machine.get("k") == "vw");
  CHECK(io.run(machine.read_applied_state()) == applied_state{{term_t(1), index_t(5)}, voters_1_2()});

  CHECK(io.run(machine.query(get("k"))) == "vw");
  CHECK(io.run(machine.query(get("missing"))).empty());
  CHECK(io.run(machine.query(put("k", "x"))).starts_with("error: "));
  CHECK(io.run(machine.query("garbage")).starts_with("error: "));
  CHECK(machine.get("k") == "vw");
}

TEST_CASE("the memory kv machine applies a retried session command once") {
  io_threads io(1);
  memory_kv_state_machine machine;
  io.run(machine.apply({command(1, append("k", "a", 7, 1)), command(2, append("k", "a", 7, 1))}));
  CHECK(machine.get("k") == "a");
}

TEST_CASE("a snapshot streams in chunks and installs into another machine as the same state") {
  io_threads io(1);
  memory_kv_state_machine source(5);
  CHECK_FALSE(io.run(source.current_snapshot()));
  io.run(source.apply({config_entry(1, voters_1_2()), command(2, put("alpha", std::string(40, 'a'))),
                       command(3, put("beta", "b", 9, 1))}));
  const snapshot_meta meta = io.run(source.build_snapshot());
  CHECK(meta == snapshot_meta{{term_t(1), index_t(3)}, voters_1_2()});
  CHECK(io.run(source.current_snapshot()) == meta);

  // Entries applied after the snapshot do not change what it streams.
  io.run(source.apply({command(4, put("alpha", "changed"))}));

  memory_kv_state_machine target;
  std::unique_ptr<snapshot_source> data = io.run(source.open_snapshot());
  std::unique_ptr<snapshot_sink> sink = io.run(target.begin_receive_snapshot(meta));
  int chunks = 0;
  while (std::optional<std::string> chunk = io.run(data->next_chunk())) {
    CHECK(chunk->size() <= 5);
    io.run(sink->write_chunk(std::move(*chunk)));
    ++chunks;
  }
  CHECK(chunks > 1);
  io.run(sink->finish());
  io.run(target.install_received_snapshot(meta));

  CHECK(target.get("alpha") == std::string(40, 'a'));
  CHECK(target.get("beta") == "b");
  CHECK(target.applied() == applied_state{meta.last_included, meta.config});
  CHECK(io.run(target.current_snapshot()) == meta);
  // The session table came along: a retry is not applied again.
  io.run(target.apply({command(4, put("beta", "b2", 9, 1))}));
  CHECK(target.get("beta") == "b");
}

TEST_CASE("a corrupt or unfinished snapshot is refused and changes nothing") {
  io_threads io(1);
  memory_kv_state_machine target;
  io.run(target.apply({command(1, put("k", "v"))}));
  const snapshot_meta meta{{term_t(2), index_t(9)}, voters_1_2()};

  std::unique_ptr<snapshot_sink> sink = io.run(target.begin_receive_snapshot(meta));
  io.run(sink->write_chunk("not a snapshot"));
  CHECK_THROWS_AS(io.run(sink->finish()), std::system_error);
  CHECK_THROWS_AS(io.run(target.install_received_snapshot(meta)), std::system_error);
  CHECK_THROWS_AS(io.run(target.open_snapshot()), std::system_error);
  CHECK(target.get("k") == "v");
  CHECK(target.applied().last_applied == log_id{term_t(1), index_t(1)});
}

}  // namespace coraft::test
