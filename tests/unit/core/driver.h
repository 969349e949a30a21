// Drives core nodes by hand for unit tests: messages go only where and when a
// test says, writes become durable only when a test says, and every input is
// followed by the node's invariant checks.
#pragma once

#include "core/invariants.h"
#include "core/node.h"

#include <catch2/catch.hpp>

#include <functional>
#include <iterator>
#include <map>
#include <set>
#include <utility>
#include <vector>

namespace coraft::test {

inline protocol_options test_options() {
  protocol_options options;
  options.election_timeout_min_ticks = 10;
  options.election_timeout_max_ticks = 20;
  options.heartbeat_interval_ticks = 2;
  options.pre_vote = false;
  options.check_quorum = false;
  // Most tests settle and then compare the followers with the leader; the
  // default, announcing on the next heartbeat, has tests of its own.
  options.announce_commit_at_once = true;
  return options;
}

// test_options() with the library's default: followers learn a new commit
// index from the next append or heartbeat.
inline protocol_options announcing_commit_on_heartbeats() {
  protocol_options options = test_options();
  options.announce_commit_at_once = false;
  return options;
}

inline membership voters(std::initializer_list<std::uint64_t> ids) {
  membership config;
  for (auto id : ids) config.voters.insert(node_id(id));
  return config;
}

inline log_entry command_entry(std::uint64_t term, std::uint64_t index, std::string payload = "x") {
  return {term_t(term), index_t(index), entry_kind::command, shared_bytes(std::move(payload))};
}

// A node and what it produced, with invariants checked around every input.
class driven_node {
 public:
  driven_node(node_id id, core::restored_state restored, protocol_options options, std::uint64_t seed)
      : node_(id, options, std::move(restored), seed) {}

  core::node* operator->() { return &node_; }
  const core::node& get() const { return node_; }

  template <class Input>
  void apply_input(Input&& input) {
    const core::node_digest before = core::digest_of(node_);
    input(node_);
    if (auto broken = node_.check_invariants()) FAIL("node " << node_.id() << ": " << *broken);
    if (auto broken = node_.check_log()) FAIL("node " << node_.id() << ": " << *broken);
    if (auto regressed = core::check_transition(before, node_)) FAIL("node " << node_.id() << ": " << *regressed);
  }

  void tick() {
    apply_input([](core::node& n) { n.tick(); });
  }
  void step(const message_body& body) {
    apply_input([&](core::node& n) { n.step(body); });
  }
  core::proposal propose(std::string command) {
    core::proposal result;
    apply_input([&](core::node& n) { result = n.propose(std::move(command)); });
    return result;
  }
  void persisted(std::uint64_t write_id) {
    apply_input([&](core::node& n) { n.on_persisted(write_id); });
  }
  core::output drain() {
    core::output out;
    apply_input([&](core::node& n) { out = n.take_output(); });
    return out;
  }

 private:
  core::node node_;
};

inline core::restored_state fresh_state() { return {}; }

// Steps `body` into a node whose disk completes every write at once, and returns
// every message the node sends as a result (including those held for durability).
inline std::vector<message> exchange(driven_node& n, const message_body& body) {
  n.step(body);
  std::vector<message> sent;
  while (n->has_output()) {
    core::output out = n.drain();
    if (out.write_id != 0) n.persisted(out.write_id);
    for (message& m : out.messages) sent.push_back(std::move(m));
    for (core::message_after_write& held : out.messages_after_write) sent.push_back(std::move(held.msg));
  }
  return sent;
}

template <class Body>
std::vector<Body> bodies_of(const std::vector<message>& messages, node_id to = no_node) {
  std::vector<Body> found;
  for (const message& m : messages) {
    if (to != no_node && m.to != to) continue;
    if (auto* body = std::get_if<Body>(&m.body)) found.push_back(*body);
  }
  return found;
}

struct read_outcomes {
  std::vector<core::read_state> ready;
  std::vector<core::failed_read> failed;
};

// Several nodes that exchange messages through the test. Writes are durable as
// soon as they are drained unless a node's disk is paused.
class cluster {
 public:
  explicit cluster(std::initializer_list<std::uint64_t> ids, protocol_options options = test_options()) {
    membership config;
    for (auto id : ids) config.voters.insert(node_id(id));
    for (auto id : ids) {
      auto [it, inserted] = nodes_.try_emplace(node_id(id), node_id(id), fresh_state(), options, id);
      it->second.apply_input([&](core::node& n) { n.bootstrap(config); });
    }
    options_ = options;
  }

  // A brand-new node that joins later: empty log, no configuration.
  void add_node(std::uint64_t id) { nodes_.try_emplace(node_id(id), node_id(id), fresh_state(), options_, id); }

  // The membership in force after the entries `id` applied (what a state
  // machine records).
  membership applied_config(std::uint64_t id) {
    membership config = snapshot_configs_[node_id(id)];
    for (const log_entry& e : applied_[node_id(id)])
      if (e.kind == entry_kind::membership) config = *decode_membership(e.payload.view());
    return config;
  }

  // Node `id`'s state machine takes a snapshot at what it applied, and the node
  // compacts its log up to `keep` entries before it.
  snapshot_meta take_snapshot(std::uint64_t id, std::uint64_t keep = 0) {
    driven_node& n = (*this)[id];
    const index_t applied = n->applied_index();
    const snapshot_meta meta{{*n->log().term_at(applied), applied}, applied_config(id)};
    snapshots_[node_id(id)] = {meta, applied_[node_id(id)]};
    n.apply_input([&](core::node& node) {
      node.on_snapshot_built(meta);
      if (applied.value > keep) node.compact_log(applied - keep);
    });
    return meta;
  }

  driven_node& operator[](std::uint64_t id) { return nodes_.at(node_id(id)); }

  // Delivers messages and completes writes until nothing moves. Messages to or
  // from a cut node are dropped; paused disks keep their writes pending.
  void settle(int max_rounds = 10'000) {
    for (int round = 0; round < max_rounds; ++round) {
      if (!move_once()) return;
    }
    FAIL("cluster did not settle");
  }

  // One drain of every node: returns whether anything happened.
  bool move_once() {
    bool moved = false;
    for (auto& [id, n] : nodes_) {
      if (!n->has_output()) continue;
      moved = true;
      deliver(id.value, n.drain());
    }
    return moved;
  }

  // Carries out an output a test drained by hand: its write, messages and entries.
  void deliver(std::uint64_t from, core::output out) {
    const node_id id(from);
    driven_node& n = (*this)[from];
    std::vector<core::message_after_write>& held = after_write_[id];
    held.insert(held.end(), std::make_move_iterator(out.messages_after_write.begin()),
                std::make_move_iterator(out.messages_after_write.end()));
    if (out.write_id != 0) {
      if (paused_disks_.contains(id)) {
        pending_writes_[id].push_back(out.write_id);
      } else {
        complete_write(id, out.write_id);
      }
    }
    if (out.snapshot_to_install) install(id, *out.snapshot_to_install);
    for (message& m : out.messages) route(id, std::move(m));
    send_durable_answers(id);
    read_outcomes& reads = reads_[id];
    reads.ready.insert(reads.ready.end(), out.reads_ready.begin(), out.reads_ready.end());
    reads.failed.insert(reads.failed.end(), out.reads_failed.begin(), out.reads_failed.end());
    if (out.committed.empty()) return;
    for (const log_entry& e : out.committed) applied_[id].push_back(e);
    n.apply_input([&](core::node& nd) { nd.on_applied(out.committed.back().index); });
  }

  void tick(std::uint64_t id, int times = 1) {
    for (int i = 0; i < times; ++i) (*this)[id].tick();
  }

  // Makes `id` leader: ticks only it until it campaigns, then settles.
  void elect(std::uint64_t id) {
    for (int i = 0; i < 1000 && (*this)[id]->current_role() != core::role::leader; ++i) {
      tick(id);
      settle();
    }
    REQUIRE((*this)[id]->current_role() == core::role::leader);
  }

  void cut(std::uint64_t id) { cut_.insert(node_id(id)); }
  void heal() { cut_.clear(); }
  void pause_disk(std::uint64_t id) { paused_disks_.insert(node_id(id)); }
  void resume_disk(std::uint64_t id) {
    paused_disks_.erase(node_id(id));
    for (auto write : pending_writes_[node_id(id)]) complete_write(node_id(id), write);
    pending_writes_.erase(node_id(id));
    send_durable_answers(node_id(id));
  }

  const std::vector<log_entry>& applied(std::uint64_t id) { return applied_[node_id(id)]; }
  // The read outcomes node `id` produced since the last call.
  read_outcomes take_reads(std::uint64_t id) { return std::exchange(reads_[node_id(id)], {}); }
  std::size_t messages_delivered() const { return delivered_; }
  // Observes (and may drop) every message before delivery.
  std::function<bool(node_id from, const message&)> filter;

  // Counts the messages of one kind from now on, delivering every message.
  template <class Body>
  void count(std::size_t& counter) {
    filter = [&counter](node_id, const message& m) {
      counter += std::holds_alternative<Body>(m.body) ? 1 : 0;
      return true;
    };
  }

 private:
  void complete_write(node_id id, std::uint64_t write_id) {
    (*this)[id.value].persisted(write_id);
    durable_[id] = write_id;
  }

  // Sends what node `id` handed out to send once its writes are durable, as
  // far as they are.
  void send_durable_answers(node_id id) {
    for (message& m : core::take_durable(after_write_[id], durable_[id])) route(id, std::move(m));
  }

  void route(node_id from, message m) {
    if (cut_.contains(from) || cut_.contains(m.to)) return;
    if (filter && !filter(from, m)) return;
    auto target = nodes_.find(m.to);
    if (target == nodes_.end()) return;
    ++delivered_;
    // The snapshot's data travels with the request, as the engine streams it.
    if (auto* offer = std::get_if<snapshot_request>(&m.body)) {
      const auto& [meta, data] = snapshots_.at(from);
      offer->meta = meta;
      received_snapshots_[m.to] = {meta, data};
    }
    target->second.step(m.body);
  }

  // The state machine takes the snapshot's state in place of its own.
  void install(node_id id, const snapshot_meta& meta) {
    auto& [received, data] = received_snapshots_.at(id);
    REQUIRE(received == meta);
    applied_[id] = data;
    snapshot_configs_[id] = meta.config;
    snapshots_[id] = {meta, data};
    (*this)[id.value].apply_input([&](core::node& n) { n.on_applied(meta.last_included.index); });
  }

  std::map<node_id, driven_node> nodes_;
  std::set<node_id> cut_;
  std::set<node_id> paused_disks_;
  std::map<node_id, std::vector<std::uint64_t>> pending_writes_;
  std::map<node_id, std::uint64_t> durable_;  // the last write each node completed (in order)
  std::map<node_id, std::vector<core::message_after_write>> after_write_;  // waiting for their write
  std::map<node_id, std::vector<log_entry>> applied_;
  std::map<node_id, read_outcomes> reads_;
  protocol_options options_;
  // Each node's latest snapshot (meta and the applied entries it holds), the
  // snapshot each node last received, and the config its snapshot started from.
  std::map<node_id, std::pair<snapshot_meta, std::vector<log_entry>>> snapshots_;
  std::map<node_id, std::pair<snapshot_meta, std::vector<log_entry>>> received_snapshots_;
  std::map<node_id, membership> snapshot_configs_;
  std::size_t delivered_ = 0;
};

template <class Body>
std::vector<Body> messages_of(const core::output& out, node_id to = no_node) {
  return bodies_of<Body>(out.messages, to);
}

}  // namespace coraft::test
