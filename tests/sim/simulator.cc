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

// A state machine snapshot: the store as of `meta`.
struct stored_snapshot {
  snapshot_meta meta;
  kv::store store;
};

// A node's disk: what survives a crash.
struct disk_state {
  hard_state state;
  log_id purged;
  std::vector<log_entry> log;  // log[i].index == purged.index + 1 + i
  index_t commit_hint;
  std::optional<stored_snapshot> snapshot;

  index_t last_index() const { return purged.index + log.size(); }
  void replace_from(const std::vector<log_entry>& entries) {
    log.resize(entries.front().index - purged.index - 1);
    log.insert(log.end(), entries.begin(), entries.end());
  }
  void purge(log_id upto) {
    log.erase(log.begin(), log.begin() + static_cast<std::ptrdiff_t>(upto.index - purged.index));
    purged = upto;
  }
};

struct pending_write {
  std::uint64_t id;
  std::optional<stored_snapshot> install;
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
  std::uint64_t durable_write = 0;   // the id of the last write completed in this life
  std::vector<core::message_after_write> after_write;  // answers waiting for their write
  time_point last_write_done = 0;
  kv::store store;  // the state machine: volatile, rebuilt from snapshot and log
  membership applied_config;  // the membership the state machine recorded
  std::optional<stored_snapshot> received;  // a snapshot the leader streamed
  bool founder = false;
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

// An entry known committed: its term, and the term of the node that first saw
// it committed (the leader whose commit index covered it).
struct committed_entry {
  term_t term;
  term_t committed_in;
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
    snapshot_every_ = uniform(cfg_.snapshot_every_min_entries, cfg_.snapshot_every_max_entries);
    protocol_ = cfg_.protocol;
    if (cfg_.vary_commit_announcement) protocol_.announce_commit_at_once = uniform(0, 1) == 1;
    for (int i = 1; i <= cfg_.nodes + cfg_.spares; ++i) {
      sim_node& n = nodes_[node_id(i)];
      n.id = node_id(i);
      n.founder = founders_.voters.contains(n.id);
      n.clock_rate = 1 + faults_.clock_drift * (2 * unit_random() - 1);
      boot(n);
    }
    for (int i = 0; i < cfg_.clients; ++i) {
      client_state& c = clients_.emplace_back();
      c.index = i;
      c.session = static_cast<std::uint64_t>(i) + 1;
      c.target = random_node();
      events_.at(uniform(0, cfg_.tick_units), [this, i] { start_operation(clients_[i]); });
    }
    schedule_partition();
    schedule_crash();
    schedule_membership_change();
    schedule_transfer();
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
  node_id random_node() { return node_id(1 + random_() % nodes_.size()); }
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
    n.store = {};
    n.applied_config = {};
    if (n.disk.snapshot) {
      restored.snapshot = n.disk.snapshot->meta;
      restored.applied = n.disk.snapshot->meta.last_included.index;
      n.store = n.disk.snapshot->store;
      n.applied_config = n.disk.snapshot->meta.config;
    }
    n.core.emplace(n.id, protocol_, std::move(restored), random_());
    ++n.incarnation;
    n.digest = core::digest_of(*n.core);
    n.observed_role = core::role::follower;
    n.observed_commit = n.core->commit_index();
    trace(n.id, " boots: term ", n.disk.state.term, " log ", n.disk.purged, "..", n.disk.last_index());
    const bool blank = n.disk.log.empty() && !n.disk.snapshot && n.disk.purged == log_id{};
    if (n.founder && blank) input(n, [&](core::node& c) { c.bootstrap(founders_); });
    check_log(n);
    schedule_tick(n);
  }

  void crash(sim_node& n) {
    trace(n.id, " crashes, losing ", n.writes.size(), " writes in flight");
    ++stats_.crashes;
    n.core.reset();
    n.writes.clear();
    n.durable_write = 0;
    n.after_write.clear();
    n.proposals.clear();
    n.reads.clear();
    n.confirmed_reads.clear();
    n.received.reset();
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

  // Gives the node one input, checks it, and carries out what it produced. A
  // node that is down takes no input.
  template <class Input>
  void input(sim_node& n, Input&& give) {
    if (!n.core) return;
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
    for (core::message_after_write& held : out.messages_after_write) {
      if (cfg_.acknowledge_before_durable || held.after_write <= n.durable_write) {
        send(n.id, std::move(held.msg));
      } else {
        n.after_write.push_back(std::move(held));
      }
    }
    if (!out.committed.empty()) apply(n, out.committed);
    for (const core::read_state& read : out.reads_ready) confirm_read(n, read);
    for (const core::failed_read& read : out.reads_failed) fail_read(n, read.id);
  }

  void issue_write(sim_node& n, const core::output& out) {
    check_written_entries(n, out.entries);
    std::optional<stored_snapshot> install;
    if (out.snapshot_to_install) install = take_received_snapshot(n, *out.snapshot_to_install);
    n.writes.push_back({out.write_id, std::move(install), out.state, out.entries, out.commit_hint});
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
    if (write.install) {
      n.disk.log.clear();
      n.disk.purged = write.install->meta.last_included;
      n.disk.snapshot = std::move(write.install);
    }
    if (write.state) n.disk.state = *write.state;
    if (!write.entries.empty()) n.disk.replace_from(write.entries);
    n.disk.commit_hint = std::max(n.disk.commit_hint, std::min(write.commit_hint, n.disk.last_index()));
    n.durable_write = write.id;
    send_durable_answers(n);
    if (!cfg_.acknowledge_before_durable) input(n, [&](core::node& c) { c.on_persisted(write.id); });
  }

  // Answers leave once the write they promise is durable, before the node
  // hears of it, as the engine sends them from its log's thread.
  void send_durable_answers(sim_node& n) {
    for (message& m : core::take_durable(n.after_write, n.durable_write)) send(n.id, std::move(m));
  }

  // The state machine takes a snapshot the leader sent in place of its state.
  stored_snapshot take_received_snapshot(sim_node& n, const snapshot_meta& meta) {
    if (!n.received || !(n.received->meta == meta))
      throw violation(describe(n.id, " installs a snapshot at ", meta.last_included, " it never received"));
    const index_t index = meta.last_included.index;
    if (index.value <= committed_.size() && committed_[index.value - 1].term != meta.last_included.term)
      throw violation(describe(n.id, " installs a snapshot ending at an uncommitted entry ", meta.last_included));
    stored_snapshot snapshot = std::move(*n.received);
    n.received.reset();
    n.store = snapshot.store;
    n.applied_config = meta.config;
    n.core->on_applied(index);
    ++stats_.snapshots_installed;
    trace(n.id, " installs snapshot ", meta.last_included);
    return snapshot;
  }

  void apply(sim_node& n, const std::vector<log_entry>& entries) {
    for (const log_entry& entry : entries) {
      check_applied(entry);
      std::string answer;
      if (entry.kind == entry_kind::command) {
        auto command = kv::decode(entry.payload.view());
        if (!command) throw violation(describe(n.id, " applied an undecodable command at ", entry.index));
        answer = n.store.apply(*command);
      } else if (entry.kind == entry_kind::membership) {
        n.applied_config = *decode_membership(entry.payload.view());
      }
      answer_proposal(n, entry, answer);
    }
    const index_t applied = entries.back().index;
    n.core->on_applied(applied);
    serve_confirmed_reads(n);
    maybe_take_snapshot(n);
  }

  // The state machine snapshots itself now and then (durably at once); the log
  // is compacted behind the snapshot, keeping a random number of entries.
  void maybe_take_snapshot(sim_node& n) {
    const index_t applied = n.core->applied_index();
    const index_t last = n.disk.snapshot ? n.disk.snapshot->meta.last_included.index : index_t{};
    if (applied - last < snapshot_every_) return;
    const snapshot_meta meta{{*n.core->log().term_at(applied), applied}, n.applied_config};
    n.disk.snapshot = stored_snapshot{meta, n.store};
    n.core->on_snapshot_built(meta);
    const std::uint64_t keep = uniform(0, cfg_.max_entries_kept_after_snapshot);
    if (applied.value <= keep) return;
    const index_t upto = applied - keep;
    if (upto <= n.core->log().base().index) return;
    const log_id compacted{*n.core->log().term_at(upto), upto};
    n.core->compact_log(upto);
    // Applied entries are durable, unless the disk lies about durability.
    if (upto > n.disk.purged.index && upto <= n.disk.last_index()) n.disk.purge(compacted);
    trace(n.id, " snapshots at ", meta.last_included, ", compacts to ", compacted);
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

  // Requests travel as RPCs do in the engine: when one is lost (dropped, or its
  // target down or cut off) the sender is told the peer is unreachable after a
  // timeout, and a snapshot offer fails unless its answer comes back in time.
  void send(node_id from, message m) {
    ++stats_.messages;
    const node_id to = m.to;
    // A snapshot offer carries the sender's latest snapshot, as the engine streams it.
    std::optional<stored_snapshot> data;
    if (auto* offer = std::get_if<snapshot_request>(&m.body)) {
      data = nodes_.at(from).disk.snapshot;
      if (!data) throw violation(describe(from, " offers a snapshot it does not have"));
      offer->meta = data->meta;
      offer->request_id = ++next_offer_id_;
      await_snapshot_answer(from, to, offer->request_id);
    }
    if (blocked_.contains({from, to}) || chance(faults_.drop_probability)) {
      trace(from, " -> ", to, " dropped ", body_name(m.body));
      report_if_lost_request(from, m);
      return;
    }
    const int copies = chance(faults_.duplicate_probability) ? 2 : 1;
    for (int copy = 0; copy < copies; ++copy) {
      events_.at(now() + network_delay(), [this, from, m, data] {
        if (data) nodes_.at(m.to).received = data;
        if (!deliver(from, m)) report_if_lost_request(from, m);
      });
    }
  }

  void report_if_lost_request(node_id from, const message& m) {
    const bool request = std::visit(
        [](const auto& body) {
          using type = std::decay_t<decltype(body)>;
          return std::is_same_v<type, vote_request> || std::is_same_v<type, append_request> ||
                 std::is_same_v<type, heartbeat_request> || std::is_same_v<type, timeout_now_request> ||
                 std::is_same_v<type, read_index_request>;
        },
        m.body);
    if (!request) return;
    sim_node& sender = nodes_.at(from);
    events_.at(now() + rpc_timeout(), [this, &sender, to = m.to, life = sender.incarnation] {
      if (sender.incarnation == life) input(sender, [&](core::node& c) { c.report_unreachable(to); });
    });
  }

  void await_snapshot_answer(node_id from, node_id to, std::uint64_t offer_id) {
    snapshot_offers_.insert(offer_id);
    sim_node& sender = nodes_.at(from);
    events_.at(now() + rpc_timeout(), [this, &sender, to, offer_id, life = sender.incarnation] {
      if (snapshot_offers_.erase(offer_id) == 0 || sender.incarnation != life) return;
      trace(sender.id, ": snapshot offer to ", to, " failed");
      input(sender, [&](core::node& c) { c.report_snapshot_failed(to); });
    });
  }

  time_point rpc_timeout() const { return 5 * cfg_.tick_units; }

  time_point network_delay() {
    if (chance(faults_.long_delay_probability)) return uniform(1, faults_.long_delay_max_units);
    const double mean = static_cast<double>(faults_.delay_mean_units);
    return 1 + static_cast<time_point>(std::exponential_distribution<double>(1 / mean)(random_));
  }

  // False when the message is lost on arrival.
  bool deliver(node_id from, const message& m) {
    sim_node& n = nodes_.at(m.to);
    if (!n.core || blocked_.contains({from, m.to})) return false;
    trace(from, " -> ", m.to, " ", body_name(m.body), " term ", header_of(m.body).term);
    if (auto* answer = std::get_if<snapshot_response>(&m.body)) snapshot_offers_.erase(answer->request_id);
    input(n, [&](core::node& c) { c.step(m.body); });
    return true;
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

  void schedule_membership_change() {
    if (cfg_.membership_change_every_units == 0) return;
    events_.at(now() + uniform(1, 2 * cfg_.membership_change_every_units), [this] {
      if (quiet_) return;
      if (auto leader = current_leader()) change_membership(nodes_.at(*leader));
      schedule_membership_change();
    });
  }

  // One random step: add a learner, promote one, remove a learner, or remove a
  // voter (the leader included) while at least three remain.
  void change_membership(sim_node& leader) {
    membership target = leader.core->config();
    target.outgoing_voters.clear();
    std::vector<node_id> outsiders;
    for (auto& [id, n] : nodes_)
      if (!target.contains(id)) outsiders.push_back(id);
    auto pick = [&](const auto& ids) { return *std::next(ids.begin(), static_cast<std::ptrdiff_t>(random_() % ids.size())); };
    switch (random_() % 4) {
      case 0:
        if (outsiders.empty()) return;
        target.learners.insert(pick(outsiders));
        break;
      case 1:
        if (target.learners.empty()) return;
        {
          const node_id promoted = pick(target.learners);
          target.learners.erase(promoted);
          target.voters.insert(promoted);
        }
        break;
      case 2:
        if (target.learners.empty()) return;
        target.learners.erase(pick(target.learners));
        break;
      default:
        if (target.voters.size() <= 3) return;
        target.voters.erase(pick(target.voters));
        break;
    }
    std::error_code refused;
    input(leader, [&](core::node& c) { refused = c.change_membership(target); });
    if (refused) return;
    ++stats_.membership_changes;
    trace(leader.id, " changes membership: voters ", target.voters.size(), " learners ", target.learners.size());
  }

  void schedule_transfer() {
    if (cfg_.transfer_every_units == 0) return;
    events_.at(now() + uniform(1, 2 * cfg_.transfer_every_units), [this] {
      if (quiet_) return;
      if (auto leader = current_leader()) {
        sim_node& n = nodes_.at(*leader);
        const node_id target = random_node();
        std::error_code refused;
        input(n, [&](core::node& c) { refused = c.transfer_leadership(target); });
        if (!refused) {
          ++stats_.transfers;
          trace(n.id, " transfers leadership to ", target);
        }
      }
      schedule_transfer();
    });
  }

  sim_node& pick_crash_victim() {
    if (auto leader = current_leader(); leader && chance(0.5)) return nodes_.at(*leader);
    return nodes_.at(random_node());
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
      constexpr read_path others[] = {read_path::log, read_path::read_index, read_path::follower};
      c.path = chance(cfg_.lease_read_share) ? read_path::lease : others[random_() % 3];
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
      c.target = random_node();
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
      c.target = leader_hint != no_node ? leader_hint : random_node();
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

  // At most one election won per term (also by the same node: one that led a
  // term, crashed and led it again could append other entries under the
  // same term and indexes), and a new leader holds every entry committed
  // in an earlier term (Leader Completeness; a leader of an older term elected
  // late by delayed votes need not hold what later terms committed).
  void check_role(sim_node& n) {
    const core::role role = n.core->current_role();
    if (role == core::role::leader && n.observed_role != core::role::leader) {
      const term_t term = n.core->term();
      auto [it, inserted] = leaders_.emplace(term, n.id);
      if (!inserted) throw violation(describe("two elections won in ", term, ": by ", it->second, " and by ", n.id));
      ++stats_.elections_won;
      trace(n.id, " leads ", term);
      auto earlier = std::find_if(committed_.rbegin(), committed_.rend(),
                                  [&](const committed_entry& e) { return e.committed_in < term; });
      if (earlier != committed_.rend()) {
        const index_t last_committed(static_cast<std::uint64_t>(committed_.rend() - earlier));
        const auto held = n.core->log().term_at(last_committed);
        if (last_committed > n.core->log().base().index && held != earlier->term)
          throw violation(describe("leader ", n.id, " of ", term, " lacks committed entry ", last_committed));
      }
      check_log(n);
    }
    n.observed_role = role;
  }

  // Committed entries never change: every node commits the same entry at an index.
  void record_commit(sim_node& n) {
    const index_t commit = n.core->commit_index();
    for (index_t i = std::max(n.observed_commit, n.core->log().base().index) + 1; i <= commit; ++i) {
      const term_t term = *n.core->log().term_at(i);
      if (i.value <= committed_.size()) {
        if (committed_[i.value - 1].term != term)
          throw violation(describe(n.id, " committed ", term, " at ", i, " where ", committed_[i.value - 1].term,
                                   " was committed"));
      } else if (i.value == committed_.size() + 1) {
        committed_.push_back({term, n.core->term()});
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

  // Every node's log agrees with what was committed, up to its commit index (a
  // removed member may hold a stale uncommitted tail forever), and so does its
  // disk up to the commit index it saved.
  void check_final_logs() {
    for (auto& [id, n] : nodes_) {
      if (!n.core) continue;
      check_log(n);
      const core::raft_log& log = n.core->log();
      for (index_t i = log.first_index(); i <= n.core->commit_index(); ++i)
        check_committed_entry(id, log.at(i));
      for (const log_entry& entry : n.disk.log)
        if (entry.index <= n.disk.commit_hint) check_committed_entry(id, entry);
    }
  }

  void check_committed_entry(node_id id, const log_entry& entry) {
    if (entry.index.value > committed_.size() || entry.term != committed_[entry.index.value - 1].term)
      throw violation(describe(id, " holds ", entry.id(), " as committed where another entry was committed"));
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
  std::uint64_t snapshot_every_ = 0;  // applied entries between snapshots, per seed
  protocol_options protocol_;         // cfg_.protocol with this seed's choices
  std::uint64_t next_offer_id_ = 0;
  std::set<std::uint64_t> snapshot_offers_;  // offers awaiting their answer

  std::map<term_t, node_id> leaders_;
  std::vector<committed_entry> committed_;  // by index - 1
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
