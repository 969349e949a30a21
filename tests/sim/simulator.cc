#include "simulator.h"

#include "core/invariants.h"
#include "core/node.h"
#include "history_io.h"
#include "linearizability.h"

#include <coraft/kv_store.h>

#include <algorithm>
#include <deque>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <sstream>
#include <stdexcept>
#include <tuple>

namespace coraft::sim {

fault_profile fault_profile::none() { return {}; }

fault_profile fault_profile::light() {
  fault_profile f;
  f.drop_probability = 0.01;
  f.duplicate_probability = 0.01;
  f.long_delay_probability = 0.005;
  f.long_delay_max_units = 1'000;
  f.partition_every_units = 30'000;
  f.partition_max_units = 3'000;
  f.crash_every_units = 40'000;
  f.restart_max_units = 2'000;
  f.clock_drift = 0.01;
  return f;
}

fault_profile fault_profile::heavy() {
  fault_profile f;
  f.drop_probability = 0.1;
  f.duplicate_probability = 0.03;
  f.delay_mean_units = 15;
  f.long_delay_probability = 0.03;
  f.long_delay_max_units = 5'000;
  f.partition_every_units = 6'000;
  f.partition_max_units = 6'000;
  f.crash_every_units = 5'000;
  f.restart_max_units = 4'000;
  f.clock_drift = 0.05;
  f.disk_max_units = 200;
  return f;
}

protocol_options config::default_protocol() {
  protocol_options options;
  options.election_timeout_min_ticks = 10;
  options.election_timeout_max_ticks = 20;
  options.heartbeat_interval_ticks = 2;
  options.max_inflight_appends = 8;
  options.max_append_bytes = 4096;
  return options;
}

namespace {

using time_point = std::uint64_t;

struct violation : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <class... Parts>
std::string describe(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}

// Discrete events in time order; events at the same time run in the order
// they were scheduled, so a run depends on nothing but the seed.
class event_queue {
 public:
  void at(time_point time, std::function<void()> action) {
    queue_.push({std::max(time, now_), next_sequence_++, std::move(action)});
  }

  // Runs the next event if it is due by `until`; false when none is.
  bool run_next(time_point until) {
    if (queue_.empty() || queue_.top().time > until) return false;
    auto action = std::move(const_cast<event&>(queue_.top()).action);
    now_ = queue_.top().time;
    queue_.pop();
    action();
    return true;
  }

  time_point now() const { return now_; }

 private:
  struct event {
    time_point time;
    std::uint64_t sequence;
    std::function<void()> action;
  };
  struct later {
    bool operator()(const event& a, const event& b) const {
      return std::tie(a.time, a.sequence) > std::tie(b.time, b.sequence);
    }
  };
  std::priority_queue<event, std::vector<event>, later> queue_;
  std::uint64_t next_sequence_ = 0;
  time_point now_ = 0;
};

// A node's disk: what survives a crash.
struct disk_state {
  hard_state state;
  std::vector<log_entry> log;  // log[i].index == i + 1
  index_t commit_hint;
};

struct pending_write {
  std::uint64_t id;
  std::optional<hard_state> state;
  std::vector<log_entry> entries;
  index_t commit_hint;
};

// How a client operation is served.
enum class read_path { log, read_index, lease, follower };

struct waiter {
  int client;
  std::uint64_t attempt;
};

// A client's request as it travels to a node.
struct request {
  waiter from;
  kv::command command;
  read_path path;
};

struct sim_node {
  node_id id;
  std::optional<core::node> core;  // empty while crashed
  std::uint64_t incarnation = 0;   // events of an earlier life are ignored
  double clock_rate = 1;
  disk_state disk;
  std::deque<pending_write> writes;  // issued, not yet durable, in order
  time_point last_write_done = 0;
  kv::store store;  // the state machine: volatile, rebuilt from the log
  std::map<index_t, std::pair<waiter, term_t>> proposals;
  std::map<std::uint64_t, std::pair<waiter, std::string>> reads;  // by read id, until confirmed
  std::multimap<index_t, std::pair<waiter, std::string>> confirmed_reads;
  core::node_digest digest{};
  core::role observed_role = core::role::follower;
  index_t observed_commit;
};

enum class answer_kind { ok, retry };

struct client_state {
  int index = 0;
  std::uint64_t session = 0;
  std::uint64_t sequence = 0;
  bool busy = false;
  kv::command command;
  read_path path = read_path::log;
  lin::kv_operation record;
  // Numbers every request the client sends, across operations, so that a late
  // answer to an earlier request is never taken for the current one.
  std::uint64_t attempt = 0;
  node_id target;
};

struct entry_fingerprint {
  entry_kind kind;
  std::string payload;
  term_t previous_term;
  bool operator==(const entry_fingerprint&) const = default;
};

class world {
 public:
  world(std::uint64_t seed, const config& cfg) : cfg_(cfg), faults_(cfg.faults), random_(seed) {
    for (int i = 1; i <= cfg_.nodes; ++i) founders_.voters.insert(node_id(i));
  }

  result run() {
    result outcome;
    try {
      start();
      run_until(cfg_.fault_units);
      stop_faults();
      run_until(cfg_.fault_units + cfg_.quiet_units);
      check_liveness();
      check_final_logs();
      check_history();
    } catch (const violation& broken) {
      outcome.ok = false;
      outcome.violation = describe("t=", events_.now(), " ", broken.what());
    }
    outcome.trace = std::move(trace_);
    outcome.stats = stats_;
    return outcome;
  }

 private:
  // ------------------------------------------------------------ set-up and time

  void start() {
    for (node_id id : founders_.voters) {
      sim_node& n = nodes_[id];
      n.id = id;
      n.clock_rate = 1 + faults_.clock_drift * (2 * unit_random() - 1);
      boot(n);
    }
    for (int i = 0; i < cfg_.clients; ++i) {
      client_state& c = clients_.emplace_back();
      c.index = i;
      c.session = static_cast<std::uint64_t>(i) + 1;
      c.target = node_id(1 + random_() % cfg_.nodes);
      events_.at(uniform(0, cfg_.tick_units), [this, i] { start_operation(clients_[i]); });
    }
    schedule_partition();
    schedule_crash();
  }

  void run_until(time_point end) {
    while (events_.run_next(end)) ++stats_.events;
  }

  void stop_faults() {
    quiet_ = true;
    faults_ = fault_profile::none();
    blocked_.clear();
    trace("faults stop: heal all, restart all");
    for (auto& [id, n] : nodes_)
      if (!n.core) boot(n);
  }

  double unit_random() { return std::uniform_real_distribution<double>(0, 1)(random_); }
  std::uint64_t uniform(std::uint64_t low, std::uint64_t high) {
    return low + (high > low ? random_() % (high - low + 1) : 0);
  }
  bool chance(double probability) { return probability > 0 && unit_random() < probability; }
  time_point now() const { return events_.now(); }

  template <class... Parts>
  void trace(const Parts&... parts) {
    if (cfg_.record_trace) trace_.push_back(describe("t=", now(), " ", parts...));
  }

  // ------------------------------------------------------------ node lives

  void boot(sim_node& n) {
    core::restored_state restored;
    restored.state = n.disk.state;
    restored.entries = n.disk.log;
    restored.committed = n.disk.commit_hint;
    n.core.emplace(n.id, cfg_.protocol, std::move(restored), random_());
    n.store = {};
    n.digest = core::digest_of(*n.core);
    n.observed_role = core::role::follower;
    n.observed_commit = n.core->commit_index();
    trace(n.id, " boots: term ", n.disk.state.term, " log ", n.disk.log.size());
    if (n.disk.log.empty()) {
      input(n, [&](core::node& c) { c.bootstrap(founders_); });
    }
    check_log(n);
    schedule_tick(n);
  }

  void crash(sim_node& n) {
    trace(n.id, " crashes, losing ", n.writes.size(), " writes in flight");
    ++stats_.crashes;
    n.core.reset();
    n.writes.clear();
    n.proposals.clear();
    n.reads.clear();
    n.confirmed_reads.clear();
    ++n.incarnation;
  }

  void schedule_tick(sim_node& n) {
    const auto period = std::max<time_point>(1, static_cast<time_point>(cfg_.tick_units * n.clock_rate));
    events_.at(now() + period, [this, &n, life = n.incarnation] {
      if (n.incarnation != life) return;
      input(n, [](core::node& c) { c.tick(); });
      schedule_tick(n);
    });
  }

  // Gives the node one input, checks it, and carries out what it produced.
  template <class Input>
  void input(sim_node& n, Input&& give) {
    give(*n.core);
    check_node(n);
    while (n.core && n.core->has_output()) {
      core::output out = n.core->take_output();
      check_node(n);
      carry_out(n, std::move(out));
    }
  }

  void carry_out(sim_node& n, core::output out) {
    if (out.write_id != 0) issue_write(n, out);
    for (message& m : out.messages) send(n.id, std::move(m));
    if (!out.committed.empty()) apply(n, out.committed);
    for (const core::read_state& read : out.reads_ready) confirm_read(n, read);
    for (const core::failed_read& read : out.reads_failed) fail_read(n, read.id);
  }

  void issue_write(sim_node& n, const core::output& out) {
    check_written_entries(n, out.entries);
    n.writes.push_back({out.write_id, out.state, out.entries, out.commit_hint});
    const time_point done =
        std::max(n.last_write_done, now() + uniform(faults_.disk_min_units, faults_.disk_max_units));
    n.last_write_done = done;
    events_.at(done, [this, &n, life = n.incarnation] {
      if (n.incarnation != life) return;
      complete_write(n);
    });
    if (cfg_.acknowledge_before_durable) n.core->on_persisted(out.write_id);
  }

  void complete_write(sim_node& n) {
    pending_write write = std::move(n.writes.front());
    n.writes.pop_front();
    if (write.state) n.disk.state = *write.state;
    if (!write.entries.empty()) {
      n.disk.log.resize(write.entries.front().index.value - 1);
      n.disk.log.insert(n.disk.log.end(), write.entries.begin(), write.entries.end());
    }
    n.disk.commit_hint = std::max(n.disk.commit_hint, std::min(write.commit_hint, index_t(n.disk.log.size())));
    if (!cfg_.acknowledge_before_durable) input(n, [&](core::node& c) { c.on_persisted(write.id); });
  }

  void apply(sim_node& n, const std::vector<log_entry>& entries) {
    for (const log_entry& entry : entries) {
      check_applied(entry);
      std::string answer;
      if (entry.kind == entry_kind::command) {
        auto command = kv::decode(entry.payload.view());
        if (!command) throw violation(describe(n.id, " applied an undecodable command at ", entry.index));
        answer = n.store.apply(*command);
      }
      answer_proposal(n, entry, answer);
    }
    const index_t applied = entries.back().index;
    n.core->on_applied(applied);
    serve_confirmed_reads(n);
  }

  void answer_proposal(sim_node& n, const log_entry& entry, const std::string& answer) {
    auto found = n.proposals.find(entry.index);
    if (found == n.proposals.end()) return;
    auto [who, term] = found->second;
    n.proposals.erase(found);
    // A different term at the proposal's index: it was overwritten, never applied.
    if (term == entry.term) {
      reply(who, answer_kind::ok, answer, no_node);
    } else {
      reply(who, answer_kind::retry, {}, no_node);
    }
  }

  void confirm_read(sim_node& n, const core::read_state& read) {
    auto found = n.reads.find(read.id);
    if (found == n.reads.end()) return;
    n.confirmed_reads.emplace(read.index, std::move(found->second));
    n.reads.erase(found);
    serve_confirmed_reads(n);
  }

  void serve_confirmed_reads(sim_node& n) {
    const index_t applied = n.core->applied_index();
    while (!n.confirmed_reads.empty() && n.confirmed_reads.begin()->first <= applied) {
      auto [who, key] = n.confirmed_reads.begin()->second;
      n.confirmed_reads.erase(n.confirmed_reads.begin());
      reply(who, answer_kind::ok, n.store.get(key), no_node);
    }
  }

  void fail_read(sim_node& n, std::uint64_t id) {
    auto found = n.reads.find(id);
    if (found == n.reads.end()) return;
    reply(found->second.first, answer_kind::retry, {}, n.core->leader());
    n.reads.erase(found);
  }

  // ------------------------------------------------------------ network

  void send(node_id from, message m) {
    ++stats_.messages;
    const node_id to = m.to;
    if (blocked_.contains({from, to}) || chance(faults_.drop_probability)) {
      trace(from, " -> ", to, " dropped ", body_name(m.body));
      return;
    }
    const int copies = chance(faults_.duplicate_probability) ? 2 : 1;
    for (int copy = 0; copy < copies; ++copy) {
      events_.at(now() + network_delay(), [this, from, m] { deliver(from, m); });
    }
  }

  time_point network_delay() {
    if (chance(faults_.long_delay_probability)) return uniform(1, faults_.long_delay_max_units);
    const double mean = static_cast<double>(faults_.delay_mean_units);
    return 1 + static_cast<time_point>(std::exponential_distribution<double>(1 / mean)(random_));
  }

  void deliver(node_id from, const message& m) {
    sim_node& n = nodes_.at(m.to);
    if (!n.core || blocked_.contains({from, m.to})) return;
    trace(from, " -> ", m.to, " ", body_name(m.body), " term ", header_of(m.body).term);
    input(n, [&](core::node& c) { c.step(m.body); });
  }

  static const char* body_name(const message_body& body) {
    static const char* const names[] = {"vote_request",        "vote_response",        "append_request",
                                        "append_response",     "heartbeat_request",    "heartbeat_response",
                                        "timeout_now_request", "timeout_now_response", "snapshot_request",
                                        "snapshot_response",   "read_index_request",   "read_index_response"};
    return names[body.index()];
  }

  // ------------------------------------------------------------ faults

  void schedule_partition() {
    if (faults_.partition_every_units == 0) return;
    events_.at(now() + uniform(1, 2 * faults_.partition_every_units), [this] {
      if (quiet_) return;
      partition();
      events_.at(now() + uniform(1, faults_.partition_max_units), [this] {
        blocked_.clear();
        trace("partition healed");
      });
      schedule_partition();
    });
  }

  void partition() {
    ++stats_.partitions;
    blocked_.clear();
    std::vector<node_id> ids;
    for (auto& [id, n] : nodes_) ids.push_back(id);
    std::shuffle(ids.begin(), ids.end(), random_);
    switch (random_() % 4) {
      case 0:  // one node alone
        cut_off({ids[0]}, ids);
        trace("partition: ", ids[0], " isolated");
        break;
      case 1:  // the leader alone
        if (auto leader = current_leader()) {
          cut_off({*leader}, ids);
          trace("partition: leader ", *leader, " isolated");
        }
        break;
      case 2: {  // a minority and a majority
        const std::size_t minority = 1 + random_() % (ids.size() / 2);
        cut_off({ids.begin(), ids.begin() + static_cast<std::ptrdiff_t>(minority)}, ids);
        trace("partition: minority of ", minority);
        break;
      }
      default:  // one-way links
        for (std::size_t i = 0; i + 1 < ids.size(); i += 2) blocked_.insert({ids[i], ids[i + 1]});
        trace("partition: one-way links");
        break;
    }
  }

  void cut_off(const std::set<node_id>& side, const std::vector<node_id>& all) {
    for (node_id a : side)
      for (node_id b : all)
        if (!side.contains(b)) {
          blocked_.insert({a, b});
          blocked_.insert({b, a});
        }
  }

  void schedule_crash() {
    if (faults_.crash_every_units == 0) return;
    events_.at(now() + uniform(1, 2 * faults_.crash_every_units), [this] {
      if (quiet_) return;
      sim_node& victim = pick_crash_victim();
      if (victim.core) {
        crash(victim);
        events_.at(now() + uniform(1, faults_.restart_max_units), [this, &victim] {
          if (!victim.core) boot(victim);
        });
      }
      schedule_crash();
    });
  }

  sim_node& pick_crash_victim() {
    if (auto leader = current_leader(); leader && chance(0.5)) return nodes_.at(*leader);
    return nodes_.at(node_id(1 + random_() % cfg_.nodes));
  }

  std::optional<node_id> current_leader() const {
    std::optional<node_id> best;
    term_t best_term;
    for (const auto& [id, n] : nodes_) {
      if (n.core && n.core->current_role() == core::role::leader && n.core->term() >= best_term) {
        best = id;
        best_term = n.core->term();
      }
    }
    return best;
  }

  // ------------------------------------------------------------ clients

  void start_operation(client_state& c) {
    if (now() >= cfg_.fault_units + cfg_.quiet_units) return;
    c.busy = true;
    const std::string key = describe("k", random_() % cfg_.keys);
    const auto roll = random_() % 10;
    c.record = {};
    c.record.client = c.index;
    c.record.key = key;
    c.record.invoke = static_cast<lin::timestamp>(now());
    c.command = {c.session, 0, kv::operation::get, key, {}};
    c.path = read_path::log;
    if (roll < 3) {
      c.command.op = kv::operation::put;
      c.record.kind = lin::kv_kind::put;
    } else if (roll < 6) {
      c.command.op = kv::operation::append;
      c.record.kind = lin::kv_kind::append;
    } else {
      c.record.kind = lin::kv_kind::get;
      c.path = static_cast<read_path>(random_() % 4);
    }
    if (c.path == read_path::log) c.command.sequence = ++c.sequence;
    c.command.value = describe("c", c.index, "s", c.sequence, ",");
    c.record.value = c.command.value;
    send_attempt(c);
  }

  void send_attempt(client_state& c) {
    const std::uint64_t attempt = ++c.attempt;
    request r{{c.index, attempt}, c.command, c.path};
    events_.at(now() + 1 + random_() % 10, [this, r, target = c.target] { receive_request(nodes_.at(target), r); });
    events_.at(now() + cfg_.client_timeout_units, [this, &c, attempt] {
      if (!c.busy || c.attempt != attempt) return;
      trace("client ", c.index, " times out on ", c.target);
      c.target = node_id(1 + random_() % cfg_.nodes);
      send_attempt(c);
    });
  }

  void receive_request(sim_node& n, const request& r) {
    if (!n.core) return;
    if (r.path == read_path::log) {
      core::proposal proposal;
      input(n, [&](core::node& node) { proposal = node.propose(kv::encode(r.command)); });
      if (proposal.error) {
        reply(r.from, answer_kind::retry, {}, proposal.leader_hint);
      } else {
        n.proposals[proposal.id.index] = {r.from, proposal.id.term};
      }
      return;
    }
    const std::uint64_t id = ++next_read_id_;
    n.reads[id] = {r.from, r.command.key};
    const read_mode mode = r.path == read_path::read_index ? read_mode::read_index
                           : r.path == read_path::lease    ? read_mode::lease
                                                           : read_mode::follower;
    input(n, [&](core::node& node) { node.read_index(id, mode); });
  }

  void reply(waiter who, answer_kind kind, std::string answer, node_id leader_hint) {
    events_.at(now() + 1 + random_() % 10, [this, who, kind, answer = std::move(answer), leader_hint] {
      client_state& c = clients_[static_cast<std::size_t>(who.client)];
      if (!c.busy || c.attempt != who.attempt) return;
      if (kind == answer_kind::ok) {
        finish_operation(c, answer);
        return;
      }
      c.target = leader_hint != no_node ? leader_hint : node_id(1 + random_() % cfg_.nodes);
      events_.at(now() + 20, [this, &c, attempt = who.attempt] {
        if (c.busy && c.attempt == attempt) send_attempt(c);
      });
    });
  }

  void finish_operation(client_state& c, const std::string& answer) {
    c.busy = false;
    c.record.complete = static_cast<lin::timestamp>(now());
    if (c.record.kind == lin::kv_kind::get) c.record.output = answer;
    history_.push_back(c.record);
    ++stats_.client_operations;
    if (quiet_) ++completed_in_quiet_[c.index];
    events_.at(now() + uniform(0, 50), [this, &c] { start_operation(c); });
  }

  // ------------------------------------------------------------ checks

  void check_node(sim_node& n) {
    core::node& c = *n.core;
    if (auto broken = c.check_invariants()) throw violation(describe(n.id, ": ", *broken));
    if (auto broken = core::check_transition(n.digest, c)) throw violation(describe(n.id, ": ", *broken));
    n.digest = core::digest_of(c);
    check_role(n);
    record_commit(n);
  }

  void check_log(sim_node& n) {
    if (auto broken = n.core->check_log()) throw violation(describe(n.id, ": ", *broken));
  }

  // At most one leader per term, and a new leader holds every committed entry.
  void check_role(sim_node& n) {
    const core::role role = n.core->current_role();
    if (role == core::role::leader && n.observed_role != core::role::leader) {
      const term_t term = n.core->term();
      auto [it, inserted] = leaders_.emplace(term, n.id);
      if (!inserted && it->second != n.id)
        throw violation(describe("two leaders in ", term, ": ", it->second, " and ", n.id));
      ++stats_.elections_won;
      trace(n.id, " leads ", term);
      if (!committed_.empty()) {
        const index_t last_committed(committed_.size());
        const auto held = n.core->log().term_at(last_committed);
        if (last_committed > n.core->log().base().index && held != committed_.back().first)
          throw violation(describe("leader ", n.id, " of ", term, " lacks committed entry ", last_committed));
      }
      check_log(n);
    }
    n.observed_role = role;
  }

  // Committed entries never change: every node commits the same entry at an index.
  void record_commit(sim_node& n) {
    const index_t commit = n.core->commit_index();
    for (index_t i = n.observed_commit + 1; i <= commit; ++i) {
      const term_t term = *n.core->log().term_at(i);
      if (i.value <= committed_.size()) {
        if (committed_[i.value - 1].first != term)
          throw violation(describe(n.id, " committed ", term, " at ", i, " where ", committed_[i.value - 1].first,
                                   " was committed"));
      } else if (i.value == committed_.size() + 1) {
        committed_.emplace_back(term, std::string(n.core->log().at(i).payload.view()));
      }
    }
    n.observed_commit = std::max(n.observed_commit, commit);
    stats_.max_commit = std::max<std::uint64_t>(stats_.max_commit, commit.value);
  }

  // Log matching: an (index, term) pair names one entry, after one predecessor.
  void check_written_entries(sim_node& n, const std::vector<log_entry>& entries) {
    for (const log_entry& entry : entries) {
      const auto previous = n.core->log().term_at(entry.index - 1);
      entry_fingerprint print{entry.kind, std::string(entry.payload.view()), previous.value_or(term_t{})};
      auto [it, inserted] = entries_.try_emplace({entry.index.value, entry.term.value}, print);
      if (!inserted && !(it->second == print))
        throw violation(describe(n.id, " holds a different entry ", entry.id(), " (log matching)"));
    }
  }

  // State machine safety: every node applies the same entry at an index.
  void check_applied(const log_entry& entry) {
    auto [it, inserted] = applied_.try_emplace(entry.index.value, entry.term, std::string(entry.payload.view()));
    if (!inserted && (it->second.first != entry.term || it->second.second != entry.payload.view()))
      throw violation(describe("two different entries applied at ", entry.index));
  }

  void check_liveness() {
    if (!current_leader()) throw violation("no leader after the faults stopped");
    for (const client_state& c : clients_) {
      if (completed_in_quiet_[c.index] == 0)
        throw violation(describe("client ", c.index, " completed nothing after the faults stopped"));
      const auto pending_for = c.busy ? now() - static_cast<time_point>(c.record.invoke) : 0;
      if (pending_for > cfg_.quiet_units / 2)
        throw violation(describe("client ", c.index, " has waited ", pending_for, " for one operation"));
    }
  }

  // Every durable log agrees with what was committed.
  void check_final_logs() {
    for (auto& [id, n] : nodes_) {
      if (!n.core) continue;
      check_log(n);
      const core::raft_log& log = n.core->log();
      const index_t last = std::min(log.last_index(), index_t(committed_.size()));
      for (index_t i = log.first_index(); i <= last; ++i)
        if (log.at(i).term != committed_[i.value - 1].first)
          throw violation(describe(id, " holds ", log.at(i).id(), " where another entry was committed"));
    }
  }

  void check_history() {
    std::vector<lin::kv_operation> history = history_;
    for (const client_state& c : clients_) {
      if (!c.busy) continue;
      lin::kv_operation unknown = c.record;
      unknown.complete = lin::unknown_completion;
      history.push_back(unknown);
      ++stats_.unknown_outcomes;
    }
    lin::check_options options;
    options.max_steps = 50'000'000;
    const lin::check_result checked = lin::check_kv(history, options);
    if (!cfg_.history_file.empty()) {
      std::ofstream out(cfg_.history_file);
      lin::write_json_lines(out, history);
    }
    if (checked.verdict != lin::verdict::linearizable)
      throw violation(
          describe("history ", lin::to_string(checked.verdict), " on key ", checked.key, ": ", checked.explanation));
  }

  const config cfg_;
  fault_profile faults_;
  std::mt19937_64 random_;
  event_queue events_;
  membership founders_;
  std::map<node_id, sim_node> nodes_;
  std::vector<client_state> clients_;
  std::set<std::pair<node_id, node_id>> blocked_;  // directed links that drop everything
  bool quiet_ = false;
  std::uint64_t next_read_id_ = 0;

  std::map<term_t, node_id> leaders_;
  std::vector<std::pair<term_t, std::string>> committed_;  // by index - 1
  std::map<std::pair<std::uint64_t, std::uint64_t>, entry_fingerprint> entries_;
  std::map<std::uint64_t, std::pair<term_t, std::string>> applied_;
  std::vector<lin::kv_operation> history_;
  std::map<int, std::uint64_t> completed_in_quiet_;

  std::vector<std::string> trace_;
  statistics stats_;
};

}  // namespace

result run(std::uint64_t seed, const config& cfg) { return world(seed, cfg).run(); }

}  // namespace coraft::sim
