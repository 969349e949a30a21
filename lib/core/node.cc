#include "core/node.h"

#include "core/quorum.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <utility>

namespace coraft::core {

const char* to_string(role r) {
  switch (r) {
    case role::follower: return "follower";
    case role::pre_candidate: return "pre-candidate";
    case role::candidate: return "candidate";
    case role::leader: return "leader";
  }
  return "unknown";
}

bool output::empty() const {
  return write_id == 0 && messages.empty() && messages_after_write.empty() && committed.empty() &&
         reads_ready.empty() && reads_failed.empty();
}

node::node(node_id self, protocol_options options, restored_state restored, std::uint64_t seed)
    : self_(self),
      options_(options),
      random_(seed),
      term_(restored.state.term),
      voted_for_(restored.state.voted_for),
      log_(restored.snapshot.last_included) {
  const index_t base = restored.snapshot.last_included.index;
  snapshot_ = restored.snapshot;
  configs_[base] = restored.snapshot.config;
  config_ = restored.snapshot.config;
  // Entries the snapshot covers are not needed; a log that does not continue
  // the snapshot was superseded by it (an interrupted install).
  for (log_entry& entry : restored.entries) {
    if (entry.index <= base) continue;
    if (entry.index != log_.last_index() + 1 || entry.term < log_.last_id().term) break;
    append_to_log(std::move(entry));
  }
  persisted_ = log_.last_index();
  unstable_from_ = persisted_ + 1;
  applied_ = applying_ = std::max(restored.applied, base);
  commit_ = std::min(std::max({restored.committed, applying_}), log_.last_index());
  become_follower(term_, no_node);
}

void node::bootstrap(const membership& config) {
  assert(log_.empty() && log_.base() == log_id{});
  append_to_log({term_t{}, index_t(1), entry_kind::membership, shared_bytes(encode_membership(config))});
  commit_ = index_t(1);
}

role node::current_role() const {
  if (std::holds_alternative<leader_state>(role_state_)) return role::leader;
  if (auto* candidate = std::get_if<candidate_state>(&role_state_))
    return candidate->pre_vote ? role::pre_candidate : role::candidate;
  return role::follower;
}

node::leader_state* node::leading() { return std::get_if<leader_state>(&role_state_); }
const node::leader_state* node::leading() const { return std::get_if<leader_state>(&role_state_); }

const progress* node::progress_of(node_id peer) const {
  const leader_state* leader = leading();
  if (!leader) return nullptr;
  auto found = leader->peers.find(peer);
  return found == leader->peers.end() ? nullptr : &found->second;
}

progress* node::peer_progress(node_id peer) { return const_cast<progress*>(progress_of(peer)); }

// The progress of a peer that just answered us, marked active for check-quorum.
progress* node::responder_progress(node_id peer) {
  progress* pr = peer_progress(peer);
  if (pr) pr->set_recently_active(true);
  return pr;
}

// ---------------------------------------------------------------- roles

void node::become_follower(term_t term, node_id leader) {
  if (term > term_ || leader != leader_) fail_reads(leader);
  if (term > term_) {
    term_ = term;
    voted_for_ = no_node;
    hard_state_dirty_ = true;
  }
  role_state_ = follower_state{};
  leader_ = leader;
  replication_due_ = false;
  commit_to_announce_ = false;
  uncommitted_bytes_ = 0;
  reset_election_timer();
}

void node::become_pre_candidate() {
  fail_reads(no_node);
  role_state_ = candidate_state{.pre_vote = true, .votes = {{self_, true}}};
  leader_ = no_node;
  reset_election_timer();
  vote_request request;
  request.from = self_;
  request.term = term_ + 1;
  request.last_log = log_.last_id();
  request.pre_vote = true;
  for (node_id voter : config_.all_members())
    if (voter != self_ && config_.is_voter(voter)) send(voter, request);
  if (tally(config_, std::get<candidate_state>(role_state_).votes) == vote_outcome::won) become_candidate(false);
}

void node::become_candidate(bool transfer) {
  fail_reads(no_node);
  term_ = term_ + 1;
  voted_for_ = self_;
  hard_state_dirty_ = true;
  role_state_ = candidate_state{.pre_vote = false, .votes = {}};
  leader_ = no_node;
  reset_election_timer();
  // The candidate's own vote counts only once it is durable, like anyone's.
  vote_response own_vote;
  own_vote.from = self_;
  own_vote.term = term_;
  own_vote.granted = true;
  send_when_durable(self_, own_vote);
  vote_request request;
  request.from = self_;
  request.term = term_;
  request.last_log = log_.last_id();
  request.transfer = transfer;
  for (node_id voter : config_.all_members())
    if (voter != self_ && config_.is_voter(voter)) send(voter, request);
}

void node::become_leader() {
  role_state_ = leader_state{};
  leader_ = self_;
  heartbeat_elapsed_ = 0;
  reset_election_timer();
  sync_peers_with_config();
  uncommitted_bytes_ = log_.payload_bytes(commit_ + 1, log_.last_index());
  // The no-op lets the new leader commit in its own term, which commits every
  // earlier entry and tells it the commit index.
  append_to_log({term_, log_.last_index() + 1, entry_kind::noop, {}});
  replication_due_ = true;
}

void node::reset_election_timer() {
  election_elapsed_ = 0;
  const std::uint32_t spread = options_.election_timeout_max_ticks - options_.election_timeout_min_ticks;
  election_timeout_ = options_.election_timeout_min_ticks + static_cast<std::uint32_t>(random_() % spread);
}

bool node::promotable() const { return config_.is_voter(self_); }

bool node::in_leader_lease() const {
  return options_.check_quorum && leader_ != no_node && election_elapsed_ < options_.election_timeout_min_ticks;
}

// ---------------------------------------------------------------- ticks

void node::tick() {
  ++now_;
  if (leading()) {
    tick_leader();
  } else {
    tick_election();
  }
}

void node::tick_election() {
  ++election_elapsed_;
  if (!promotable() || election_elapsed_ < election_timeout_) return;
  if (options_.pre_vote) {
    become_pre_candidate();
  } else {
    become_candidate(false);
  }
}

void node::tick_leader() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  leader_state& leader = *leading();
  if (leader.transfer_target != no_node && ++leader.transfer_elapsed >= options_.election_timeout_min_ticks) {
    leader.transfer_target = no_node;  // the target did not take over in time: carry on leading
  }
  if (election_elapsed_ >= options_.election_timeout_min_ticks) {
    election_elapsed_ = 0;
    if (options_.check_quorum && !quorum_recently_active()) {
      become_follower(term_, no_node);
      return;
    }
  }
  if (heartbeat_elapsed_ >= options_.heartbeat_interval_ticks) {
    heartbeat_elapsed_ = 0;
    send_heartbeats();
  }
}

bool node::quorum_recently_active() {
  leader_state& leader = *leading();
  const bool active = is_quorum(config_, [&](node_id id) {
    if (id == self_) return true;
    auto found = leader.peers.find(id);
    return found != leader.peers.end() && found->second.recently_active();
  });
  for (auto& [id, pr] : leader.peers) pr.set_recently_active(false);
  return active;
}

// ---------------------------------------------------------------- messages in

void node::step(const message_body& incoming) {
  if (!step_term(incoming)) return;
  std::visit([this](const auto& m) { handle(m); }, incoming);
}

// Applies the term rules common to every message. False when the message is
// finished with (stale, or refused without looking further).
bool node::step_term(const message_body& incoming) {
  const message_header& header = header_of(incoming);
  if (header.term < term_) {
    answer_stale(incoming);
    return false;
  }
  if (header.term == term_) return true;
  if (auto* request = std::get_if<vote_request>(&incoming)) {
    // Leader stickiness: a node that hears from a live leader does not let a
    // (possibly partitioned) candidate disrupt it, unless the leader asked.
    if (!request->transfer && in_leader_lease()) {
      auto refusal = reply_to<vote_response>(*request);
      refusal.pre_vote = request->pre_vote;
      send(request->from, refusal);
      return false;
    }
    if (request->pre_vote) return true;  // a trial: nobody's term changes
    become_follower(header.term, no_node);
    return true;
  }
  if (auto* response = std::get_if<vote_response>(&incoming); response && response->pre_vote && response->granted) {
    return true;  // granted at our own proposed term + 1
  }
  const bool from_leader = std::holds_alternative<append_request>(incoming) ||
                           std::holds_alternative<heartbeat_request>(incoming) ||
                           std::holds_alternative<snapshot_request>(incoming) ||
                           std::holds_alternative<timeout_now_request>(incoming);
  become_follower(header.term, from_leader ? header.from : no_node);
  return true;
}

// A request from an older term still gets an answer (each request gets exactly
// one), carrying our term so that its sender steps down; stale responses are dropped.
void node::answer_stale(const message_body& incoming) {
  std::visit(
      [this](const auto& m) {
        using type = std::decay_t<decltype(m)>;
        if constexpr (std::is_same_v<type, vote_request>) {
          auto refusal = reply_to<vote_response>(m);
          refusal.pre_vote = m.pre_vote;
          send(m.from, refusal);
        } else if constexpr (std::is_same_v<type, append_request>) {
          auto refusal = reply_to<append_response>(m);
          refusal.rejected_index = m.prev.index;
          send(m.from, refusal);
        } else if constexpr (std::is_same_v<type, heartbeat_request>) {
          send(m.from, reply_to<heartbeat_response>(m));
        } else if constexpr (std::is_same_v<type, timeout_now_request>) {
          send(m.from, reply_to<timeout_now_response>(m));
        } else if constexpr (std::is_same_v<type, snapshot_request>) {
          auto refusal = reply_to<snapshot_response>(m);
          refusal.last_index = log_.last_index();
          send(m.from, refusal);
        } else if constexpr (std::is_same_v<type, read_index_request>) {
          auto refusal = reply_to<read_index_response>(m);
          refusal.context = m.context;
          send(m.from, refusal);
        }
      },
      incoming);
}

void node::handle(const vote_request& request) {
  const bool log_ok = request.last_log >= log_.last_id();
  const bool free_to_vote = voted_for_ == request.from || (voted_for_ == no_node && leader_ == no_node);
  const bool can_vote = free_to_vote || (request.pre_vote && request.term > term_);
  auto answer = reply_to<vote_response>(request);
  answer.pre_vote = request.pre_vote;
  if (!(can_vote && log_ok)) {
    send(request.from, answer);
    return;
  }
  answer.granted = true;
  if (request.pre_vote) {
    answer.term = request.term;
    send(request.from, answer);
    return;
  }
  if (voted_for_ != request.from) {
    voted_for_ = request.from;
    hard_state_dirty_ = true;
  }
  election_elapsed_ = 0;
  send_when_durable(request.from, answer);
}

void node::handle(const vote_response& response) {
  auto* candidate = std::get_if<candidate_state>(&role_state_);
  if (!candidate || candidate->pre_vote != response.pre_vote) return;
  // Pre-vote grants come at our term + 1; refusals and real votes at our term.
  const term_t expected = response.pre_vote && response.granted ? term_ + 1 : term_;
  if (response.term != expected) return;
  candidate->votes[response.from] = response.granted;
  switch (tally(config_, candidate->votes)) {
    case vote_outcome::won:
      if (candidate->pre_vote) {
        become_candidate(false);
      } else if (candidate->votes.contains(self_)) {
        // Leading waits for the own vote even when the others' votes are a
        // majority: it arrives once our term and vote are durable. A leader
        // whose term a crash could undo might campaign in that term again,
        // win it again and append other entries under the same term and
        // indexes (log matching broken).
        become_leader();
      }
      break;
    case vote_outcome::lost: become_follower(term_, no_node); break;
    case vote_outcome::pending: break;
  }
}

void node::accept_leader(node_id leader) {
  if (!std::holds_alternative<follower_state>(role_state_)) become_follower(term_, leader);
  leader_ = leader;
  election_elapsed_ = 0;
}

void node::handle(const append_request& request) {
  accept_leader(request.from);
  auto answer = reply_to<append_response>(request);
  if (request.prev.index < commit_) {
    // Everything up to commit_ is already settled here; the leader resumes after it.
    answer.success = true;
    answer.match_index = commit_;
    send_when_durable(request.from, answer);
    return;
  }
  if (!log_.contains(request.prev)) {
    answer.rejected_index = request.prev.index;
    if (request.prev.index > log_.last_index()) {
      answer.conflict_index = log_.last_index() + 1;
    } else {
      answer.conflict_term = *log_.term_at(request.prev.index);
      answer.conflict_index = log_.first_index_of_term_at(request.prev.index);
    }
    send(request.from, answer);
    return;
  }
  append_from_leader(request.entries);
  const index_t last_new = request.prev.index + request.entries.size();
  commit_to(std::min(request.leader_commit, last_new));
  answer.success = true;
  answer.match_index = last_new;
  // The acknowledgement promises durability: it waits for the disk.
  send_when_durable(request.from, answer);
}

void node::handle(const append_response& response) {
  progress* responder = responder_progress(response.from);
  if (!responder) return;
  progress& pr = *responder;
  if (response.success) {
    const bool advanced = pr.acknowledge(response.match_index);
    const bool found_match = pr.state() == replication_state::probe && pr.match() == response.match_index;
    if (advanced || found_match) {
      if (pr.state() == replication_state::probe) {
        pr.become_replicate();
      } else if (pr.state() == replication_state::snapshot && pr.match() >= pr.pending_snapshot()) {
        pr.become_probe();
      }
      replication_due_ = true;  // the window has room, or the follower can now be streamed to
    }
    if (advanced) maybe_commit();
    if (leading()) maybe_send_timeout_now(*leading());
    return;
  }
  // Fast back-off: skip the follower's whole conflicting term at once, to just
  // after our last entry of that term if we have it, else to its first index.
  index_t hint = response.conflict_index;
  if (response.conflict_term != term_t{}) {
    if (auto last_of_term = log_.last_index_of_term(response.conflict_term)) hint = *last_of_term + 1;
  }
  if (pr.reject(response.rejected_index, hint)) {
    if (pr.state() == replication_state::replicate) pr.become_probe();
    replication_due_ = true;
  }
}

void node::handle(const heartbeat_request& request) {
  accept_leader(request.from);
  // The leader never sends a commit index beyond what it knows we hold.
  commit_to(std::min(request.commit, log_.last_index()));
  auto answer = reply_to<heartbeat_response>(request);
  answer.read_round = request.read_round;
  send(request.from, answer);
}

void node::handle(const heartbeat_response& response) {
  progress* pr = responder_progress(response.from);
  if (!pr) return;
  pr->heard_heartbeat();
  if (pr->match() < log_.last_index()) replicate_to(response.from, *pr, empty_append::always);
  leader_state& leader = *leading();
  std::uint64_t& answered = leader.answered_round[response.from];
  answered = std::max(answered, response.read_round);
  confirm_rounds(leader);
}

void node::handle(const timeout_now_request& request) {
  send(request.from, reply_to<timeout_now_response>(request));
  if (promotable()) become_candidate(true);
}

void node::handle(const timeout_now_response&) {}

void node::handle(const snapshot_request& request) {
  accept_leader(request.from);
  const log_id last = request.meta.last_included;
  auto answer = reply_to<snapshot_response>(request);
  answer.success = true;
  if (last.index <= commit_) {
    answer.last_index = commit_;  // nothing new in it
  } else if (log_.contains(last)) {
    commit_to(last.index);  // the log already holds it: keep the entries after it
    answer.last_index = last.index;
  } else {
    install_snapshot(request.meta);
    answer.last_index = last.index;
  }
  // The answer promises the snapshot (or the entries) are durable here.
  send_when_durable(request.from, answer);
}

// Replaces the log by the snapshot; the next write installs it.
void node::install_snapshot(const snapshot_meta& meta) {
  const log_id last = meta.last_included;
  log_.reset(last);
  configs_ = {{last.index, meta.config}};
  config_ = meta.config;
  snapshot_ = meta;
  snapshot_to_install_ = meta;
  commit_ = last.index;
  // The write carrying the install orders everything after it, so the
  // snapshot counts as durable from here on; earlier writes in flight carry
  // entries it superseded.
  persisted_ = last.index;
  applying_ = last.index;
  unapplied_bytes_ = 0;  // what was handed out is applied before the snapshot
  for (write_in_flight& write : writes_in_flight_) write.last_index = index_t{};
  unstable_from_ = last.index + 1;
}

void node::handle(const snapshot_response& response) {
  progress* pr = responder_progress(response.from);
  if (!pr || pr->state() != replication_state::snapshot) return;
  if (!response.success) {
    pr->snapshot_failed();
    return;
  }
  const bool advanced = pr->acknowledge(response.last_index);
  pr->become_probe();
  replication_due_ = true;
  if (advanced) maybe_commit();
}

void node::handle(const read_index_request& request) {
  pending_read read{.id = request.context, .requester = request.from, .request_id = request.request_id};
  if (leader_state* leader = leading()) {
    serve_read(*leader, read);
  } else {
    read_failed(read);
  }
}

void node::handle(const read_index_response& response) {
  auto forwarded = forwarded_reads_.find(response.context);
  if (forwarded == forwarded_reads_.end() || forwarded->second != response.from) return;
  forwarded_reads_.erase(forwarded);
  if (response.success) {
    reads_ready_.push_back({response.context, response.read_index});
  } else {
    reads_failed_.push_back({response.context, make_error_code(errc::not_leader), leader_});
  }
}

// ---------------------------------------------------------------- log changes

void node::append_to_log(log_entry entry) {
  const index_t index = entry.index;
  if (entry.kind == entry_kind::membership) {
    if (auto config = decode_membership(entry.payload.view())) {
      configs_[index] = *config;
      config_ = std::move(*config);
    }
  }
  if (leading()) uncommitted_bytes_ += entry.payload.size();
  log_.append(std::move(entry));
  if (leading() && configs_.rbegin()->first == index) sync_peers_with_config();
}

void node::append_from_leader(const std::vector<log_entry>& entries) {
  for (const log_entry& entry : entries) {
    if (entry.index <= log_.last_index()) {
      if (log_.term_at(entry.index) == entry.term) continue;  // already held
      assert(entry.index > commit_);
      truncate_log_from(entry.index);
    }
    append_to_log(entry);
  }
}

void node::truncate_log_from(index_t index) {
  log_.truncate_from(index);
  const index_t kept = index - 1;
  persisted_ = std::min(persisted_, kept);
  for (write_in_flight& write : writes_in_flight_) write.last_index = std::min(write.last_index, kept);
  unstable_from_ = std::min(unstable_from_, index);
  restore_config_after_truncation();
}

void node::restore_config_after_truncation() {
  configs_.erase(configs_.upper_bound(log_.last_index()), configs_.end());
  config_ = configs_.rbegin()->second;
}

void node::commit_to(index_t index) {
  if (index > commit_) commit_ = index;
}

// ---------------------------------------------------------------- replication

void node::add_progress(leader_state& leader, node_id peer) {
  leader.peers.emplace(peer, progress(log_.last_index() + 1, options_.max_inflight_appends, options_.max_inflight_bytes));
}

void node::sync_peers_with_config() {
  leader_state& leader = *leading();
  const std::set<node_id> members = config_.all_members();
  std::erase_if(leader.peers, [&](const auto& peer) { return !members.contains(peer.first); });
  for (node_id member : members)
    if (member != self_ && !leader.peers.contains(member)) add_progress(leader, member);
}

void node::replicate_to_all() {
  const empty_append empty = commit_to_announce_ ? empty_append::when_settled : empty_append::never;
  for (auto& [peer, pr] : leading()->peers) replicate_to(peer, pr, empty);
  replication_due_ = false;
  commit_to_announce_ = false;
}

void node::replicate_to(node_id peer, progress& pr, empty_append first) {
  if (!send_append(peer, pr, first)) return;
  while (send_append(peer, pr, empty_append::never)) {
  }
}

// Sends the next append to `peer` unless its progress is paused. True when it
// carried entries (so another may follow).
bool node::send_append(node_id peer, progress& pr, empty_append empty) {
  if (pr.paused()) return false;
  const index_t prev_index = pr.next() - 1;
  const std::optional<term_t> prev_term = log_.term_at(prev_index);
  if (!prev_term) {  // compacted: the follower needs the snapshot
    send_snapshot(peer, pr);
    return false;
  }
  append_request request;
  request.from = self_;
  request.term = term_;
  request.prev = {*prev_term, prev_index};
  request.leader_commit = commit_;
  request.entries = log_.slice(pr.next(), log_.last_index(), options_.max_append_bytes);
  if (request.entries.empty()) {
    // Probing is how the leader learns where the logs match: a probe may be empty.
    const bool probing = pr.state() == replication_state::probe;
    const bool settled = pr.match() == prev_index;
    const bool wanted = probing || empty == empty_append::always || (empty == empty_append::when_settled && settled);
    if (!wanted) return false;
  }
  const bool carries_entries = !request.entries.empty();
  const index_t last = carries_entries ? request.entries.back().index : prev_index;
  pr.sent_append(last, log_.payload_bytes(pr.next(), last));
  send(peer, std::move(request));
  return carries_entries;
}

// Every heartbeat broadcast is a numbered round: its quorum of answers confirms
// the reads registered before it and renews the leader's lease.
void node::send_snapshot(node_id peer, progress& pr) {
  assert(snapshot_.last_included.index >= log_.base().index);
  pr.become_snapshot(snapshot_.last_included.index);
  snapshot_request request;
  request.from = self_;
  request.term = term_;
  request.meta = snapshot_;
  send(peer, std::move(request));
}

void node::send_heartbeats() {
  leader_state& leader = *leading();
  const std::uint64_t round = ++heartbeat_round_;
  leader.rounds_in_flight.emplace_back(round, now_);
  leader.round_due = false;
  heartbeat_elapsed_ = 0;
  for (auto& [peer, pr] : leader.peers) {
    heartbeat_request request;
    request.from = self_;
    request.term = term_;
    request.commit = std::min(pr.match(), commit_);
    request.read_round = round;
    send(peer, request);
  }
  confirm_rounds(leader);
}

// ---------------------------------------------------------------- reads

void node::read_index(std::uint64_t id, read_mode mode) {
  pending_read read{.id = id, .requester = self_, .request_id = 0, .lease = mode == read_mode::lease};
  if (leader_state* leader = leading()) {
    serve_read(*leader, read);
  } else if (mode == read_mode::follower && leader_ != no_node) {
    read_index_request request;
    request.from = self_;
    request.term = term_;
    request.context = id;
    forwarded_reads_.emplace(id, leader_);
    send(leader_, request);
  } else {
    read_failed(read);
  }
}

void node::serve_read(leader_state& leader, pending_read read) {
  if (!committed_in_current_term()) {
    leader.reads_before_first_commit.push_back(read);
    return;
  }
  read.index = commit_;
  if (read.lease && lease_valid(leader)) {
    read_ready(read);
    return;
  }
  read.round = heartbeat_round_ + 1;
  leader.reads.push_back(read);
  leader.round_due = true;
  confirm_rounds(leader);
}

void node::confirm_rounds(leader_state& leader) {
  const std::uint64_t confirmed = quorum_value(config_, [&](node_id id) -> std::uint64_t {
    if (id == self_) return heartbeat_round_;
    auto found = leader.answered_round.find(id);
    return found == leader.answered_round.end() ? 0 : found->second;
  });
  const std::uint64_t lease_ticks = options_.election_timeout_min_ticks - options_.max_clock_drift_ticks;
  while (!leader.rounds_in_flight.empty() && leader.rounds_in_flight.front().first <= confirmed) {
    // The followers that answered heard from us no earlier than the round was
    // sent, so none of them votes for anyone else for an election timeout.
    leader.lease_expiry = std::max(leader.lease_expiry, leader.rounds_in_flight.front().second + lease_ticks);
    leader.rounds_in_flight.pop_front();
  }
  while (!leader.reads.empty() && leader.reads.front().round <= confirmed) {
    read_ready(leader.reads.front());
    leader.reads.pop_front();
  }
}

void node::read_ready(const pending_read& read) {
  if (read.requester == self_) {
    reads_ready_.push_back({read.id, read.index});
  } else {
    answer_follower_read(read, true);
  }
}

void node::read_failed(const pending_read& read) {
  if (read.requester == self_) {
    reads_failed_.push_back({read.id, make_error_code(errc::not_leader), leader_});
  } else {
    answer_follower_read(read, false);
  }
}

void node::answer_follower_read(const pending_read& read, bool success) {
  read_index_response answer;
  answer.from = self_;
  answer.term = term_;
  answer.request_id = read.request_id;
  answer.context = read.id;
  answer.success = success;
  if (success) answer.read_index = read.index;
  send(read.requester, answer);
}

// Every read in progress fails when the node stops leading or loses its leader.
void node::fail_reads(node_id leader_hint) {
  if (leader_state* leader = leading()) {
    for (const pending_read& read : leader->reads) read_failed(read);
    for (const pending_read& read : leader->reads_before_first_commit) read_failed(read);
    leader->reads.clear();
    leader->reads_before_first_commit.clear();
  }
  for (const auto& [id, asked] : forwarded_reads_)
    reads_failed_.push_back({id, make_error_code(errc::not_leader), leader_hint});
  forwarded_reads_.clear();
}

bool node::committed_in_current_term() const { return log_.term_at(commit_) == term_; }

// A transfer's target campaigns without waiting for the lease to run out, so a
// leader handing over leadership no longer trusts its lease.
bool node::lease_valid(const leader_state& leader) const {
  return options_.check_quorum && now_ < leader.lease_expiry && leader.transfer_target == no_node;
}

// The index a leader may commit if its own log is durable up to `own`; commit_
// when there is nothing more to commit.
index_t node::committable_index(index_t own) const {
  if (!leading() || config_.voters.empty()) return commit_;
  const auto reached_by = [&](node_id voter) {
    if (voter == self_) return own;
    const progress* pr = progress_of(voter);
    return pr ? pr->match() : index_t{};
  };
  const index_t reached = std::min(quorum_index(config_, reached_by), log_.last_index());
  // Only an entry of the current term is committed by counting replicas; older
  // entries commit with it (Raft §5.4.2, Figure 8).
  if (reached <= commit_ || log_.term_at(reached) != term_) return commit_;
  return reached;
}

void node::maybe_commit() {
  const index_t reached = committable_index(persisted_);
  if (reached == commit_) return;
  uncommitted_bytes_ -= log_.payload_bytes(commit_ + 1, reached);
  commit_ = reached;
  if (options_.announce_commit_at_once) commit_to_announce_ = true;
  leader_state& leader = *leading();
  for (const pending_read& read : std::exchange(leader.reads_before_first_commit, {})) serve_read(leader, read);
  advance_config();
}

// ---------------------------------------------------------------- membership and transfer

bool node::config_change_pending() const { return configs_.rbegin()->first > commit_ || config_.joint(); }

void node::append_config(const membership& config) {
  append_to_log({term_, log_.last_index() + 1, entry_kind::membership, shared_bytes(encode_membership(config))});
  replication_due_ = true;
}

// Once a configuration commits: a joint one is left for its incoming half, and
// a leader that is no longer a voter steps down (it led the change this far).
void node::advance_config() {
  if (configs_.rbegin()->first > commit_) return;
  if (config_.joint()) {
    membership incoming = config_;
    incoming.outgoing_voters.clear();
    append_config(incoming);
  } else if (!config_.is_voter(self_)) {
    become_follower(term_, no_node);
  }
}

std::error_code node::change_membership(membership target) {
  const leader_state* leader = leading();
  if (!leader) return make_error_code(errc::not_leader);
  if (leader->transfer_target != no_node) return make_error_code(errc::transfer_in_progress);
  if (config_change_pending()) return make_error_code(errc::membership_change_in_progress);
  const bool overlap = std::any_of(target.learners.begin(), target.learners.end(),
                                   [&](node_id id) { return target.voters.contains(id); });
  if (target.voters.empty() || target.joint() || overlap || target.voters.contains(no_node))
    return make_error_code(errc::invalid_argument);
  if (target.voters != config_.voters) target.outgoing_voters = config_.voters;
  append_config(target);
  return {};
}

node_id node::transfer_target() const {
  const leader_state* leader = leading();
  return leader ? leader->transfer_target : no_node;
}

std::error_code node::transfer_leadership(node_id target) {
  leader_state* leader = leading();
  if (!leader) return make_error_code(errc::not_leader);
  if (target == self_ || !config_.voters.contains(target)) return make_error_code(errc::invalid_argument);
  if (leader->transfer_target != no_node) return make_error_code(errc::transfer_in_progress);
  leader->transfer_target = target;
  leader->transfer_elapsed = 0;
  leader->timeout_now_sent = false;
  replication_due_ = true;
  maybe_send_timeout_now(*leader);
  return {};
}

void node::maybe_send_timeout_now(leader_state& leader) {
  if (leader.transfer_target == no_node || leader.timeout_now_sent) return;
  const progress* pr = progress_of(leader.transfer_target);
  if (!pr || pr->match() != log_.last_index()) return;
  timeout_now_request request;
  request.from = self_;
  request.term = term_;
  send(leader.transfer_target, request);
  leader.timeout_now_sent = true;
}

// ---------------------------------------------------------------- snapshots

void node::on_snapshot_built(const snapshot_meta& meta) {
  if (meta.last_included.index > snapshot_.last_included.index) snapshot_ = meta;
}

std::deque<log_entry> node::compact_log(index_t upto) {
  assert(upto <= applied_ && upto <= snapshot_.last_included.index);
  if (upto <= log_.base().index) return {};
  std::deque<log_entry> compacted = log_.compact({*log_.term_at(upto), upto});
  // Keep the configuration in force at the new base, and the later ones.
  auto in_force = std::prev(configs_.upper_bound(upto));
  configs_.erase(configs_.begin(), in_force);
  return compacted;
}

void node::report_snapshot_failed(node_id peer) {
  progress* pr = peer_progress(peer);
  if (pr && pr->state() == replication_state::snapshot) pr->snapshot_failed();
}

// ---------------------------------------------------------------- inputs from the engine

proposal node::propose(std::string command) {
  const leader_state* leader = leading();
  if (!leader) return {make_error_code(errc::not_leader), {}, leader_};
  if (leader->transfer_target != no_node) return {make_error_code(errc::transfer_in_progress), {}, self_};
  if (options_.max_uncommitted_bytes != 0 && uncommitted_bytes_ > 0 &&
      uncommitted_bytes_ + command.size() > options_.max_uncommitted_bytes) {
    return {make_error_code(errc::overloaded), {}, self_};
  }
  const log_id id{term_, log_.last_index() + 1};
  append_to_log({id.term, id.index, entry_kind::command, shared_bytes(std::move(command))});
  replication_due_ = true;
  return {{}, id, self_};
}

void node::on_persisted(std::uint64_t write_id) {
  durable_write_id_ = std::max(durable_write_id_, write_id);
  while (!writes_in_flight_.empty() && writes_in_flight_.front().id <= durable_write_id_) {
    persisted_ = std::max(persisted_, writes_in_flight_.front().last_index);
    writes_in_flight_.pop_front();
  }
  step_held_messages();
  maybe_commit();
}

bool node::waits_for_own_write() const {
  if (writes_in_flight_.empty()) return false;
  if (!held_.empty()) return true;
  return leading() && (commit_ > persisted_ || committable_index(log_.last_index()) > commit_);
}

void node::on_applied(index_t index) {
  const index_t applied = std::max(applied_, std::min(index, applying_));
  unapplied_bytes_ -= std::min(unapplied_bytes_, log_.payload_bytes(applied_ + 1, applied));
  applied_ = applied;
}

// Committed, durable entries wait to be handed out, and the state machine is
// not too far behind.
bool node::apply_due() const {
  return std::min(commit_, persisted_) > applying_ && unapplied_bytes_ < options_.max_unapplied_bytes;
}

void node::report_unreachable(node_id peer) {
  progress* pr = peer_progress(peer);
  if (pr && pr->state() == replication_state::replicate) pr->become_probe();
}

// ---------------------------------------------------------------- output

template <class Body>
Body node::reply_to(const message_header& request) const {
  Body body;
  body.from = self_;
  body.term = term_;
  body.request_id = request.request_id;
  return body;
}

void node::send(node_id to, message_body body) { outbox_.push_back({to, std::move(body)}); }

void node::send_when_durable(node_id to, message_body body) {
  const std::uint64_t after_write = write_covering_current_state();
  if (to == self_) {
    held_.push_back({after_write, {to, std::move(body)}});
  } else if (after_write <= durable_write_id_) {
    send(to, std::move(body));
  } else {
    after_write_outbox_.push_back({after_write, {to, std::move(body)}});
  }
}

// The id of the write that will make the current term, vote and log durable:
// the next one if anything is still unwritten, else the last one handed out.
std::uint64_t node::write_covering_current_state() const {
  const bool unwritten = snapshot_to_install_ || hard_state_dirty_ || unstable_from_ <= log_.last_index();
  return unwritten ? last_write_id_ + 1 : last_write_id_;
}

std::vector<message> take_durable(std::vector<message_after_write>& held, std::uint64_t durable_write) {
  std::vector<message> ready;
  std::erase_if(held, [&](message_after_write& waiting) {
    if (waiting.after_write > durable_write) return false;
    ready.push_back(std::move(waiting.msg));
    return true;
  });
  return ready;
}

void node::step_held_messages() {
  for (message& msg : take_durable(held_, durable_write_id_)) step(msg.body);
}

bool node::has_output() const {
  const bool unwritten = snapshot_to_install_ || hard_state_dirty_ || unstable_from_ <= log_.last_index();
  const bool releasable = std::any_of(held_.begin(), held_.end(), [this](const message_after_write& held) {
    return held.after_write <= durable_write_id_;
  });
  const leader_state* leader = leading();
  const bool leader_work = leader && (replication_due_ || commit_to_announce_ || leader->round_due);
  return unwritten || releasable || !outbox_.empty() || !after_write_outbox_.empty() || leader_work || apply_due() ||
         !reads_ready_.empty() || !reads_failed_.empty();
}

output node::take_output() {
  step_held_messages();
  if (leader_state* leader = leading(); leader && leader->round_due) send_heartbeats();
  if (leading() && (replication_due_ || commit_to_announce_)) replicate_to_all();

  output out;
  if (snapshot_to_install_ || hard_state_dirty_ || unstable_from_ <= log_.last_index()) {
    out.write_id = ++last_write_id_;
    out.snapshot_to_install = std::exchange(snapshot_to_install_, std::nullopt);
    if (hard_state_dirty_) out.state = hard_state{term_, voted_for_};
    out.entries = log_.slice(unstable_from_, log_.last_index(), std::numeric_limits<std::uint64_t>::max());
    out.commit_hint = commit_;
    const index_t written = out.entries.empty() ? index_t{} : out.entries.back().index;
    writes_in_flight_.push_back({out.write_id, written});
    unstable_from_ = log_.last_index() + 1;
    hard_state_dirty_ = false;
  }

  std::stable_sort(outbox_.begin(), outbox_.end(), [](const message& a, const message& b) { return a.to < b.to; });
  out.messages = std::move(outbox_);
  outbox_.clear();
  out.messages_after_write = std::exchange(after_write_outbox_, {});

  if (apply_due()) {
    out.committed = log_.slice(applying_ + 1, std::min(commit_, persisted_), options_.max_apply_bytes);
    applying_ = out.committed.back().index;
    unapplied_bytes_ += log_.payload_bytes(out.committed.front().index, applying_);
  }
  out.reads_ready = std::exchange(reads_ready_, {});
  out.reads_failed = std::exchange(reads_failed_, {});
  return out;
}

}  // namespace coraft::core
