// Membership changes and leadership transfer in the engine. Each operation is
// checked against the node's configuration, handed to the node, and answered
// once the configuration it asked for has committed, or once the transfer's
// target leads. One membership operation at a time per node, from its first
// check to its answer (a change of voters includes the wait for its new
// voters to catch up).
#include "engine/raft_impl.h"

#include <utility>

namespace coraft {
namespace {

// A new voter has caught up once its log is within this many entries of the
// leader's commit index: it then takes part in commits at once instead of
// holding them up while it replicates a backlog.
constexpr std::uint64_t catch_up_lag = 100;

}  // namespace

// ---------------------------------------------------------------- public operations

asio::awaitable<result<void>> raft::impl::add_learner(node_id id, std::string address) {
  return engine::async_answer<void>([self = shared_from_this(), id, address = std::move(address)](auto done) mutable {
    self->on_strand([id, address = std::move(address), done = std::move(done)](impl& engine) mutable {
      engine.accept_add_learner(id, std::move(address), std::move(done));
    });
  });
}

asio::awaitable<result<void>> raft::impl::change_membership(std::set<node_id> voters) {
  return engine::async_answer<void>([self = shared_from_this(), voters = std::move(voters)](auto done) mutable {
    self->on_strand([voters = std::move(voters), done = std::move(done)](impl& engine) mutable {
      engine.accept_voters(std::move(voters), std::move(done));
    });
  });
}

asio::awaitable<result<void>> raft::impl::remove_member(node_id id) {
  return engine::async_answer<void>([self = shared_from_this(), id](auto done) mutable {
    self->on_strand([id, done = std::move(done)](impl& engine) mutable { engine.accept_removal(id, std::move(done)); });
  });
}

asio::awaitable<result<void>> raft::impl::transfer_leadership(node_id to) {
  return engine::async_answer<void>([self = shared_from_this(), to](auto done) mutable {
    self->on_strand([to, done = std::move(done)](impl& engine) mutable { engine.accept_transfer(to, std::move(done)); });
  });
}

// ---------------------------------------------------------------- membership

std::optional<result<void>> raft::impl::membership_refusal() const {
  if (phase_ != phase::serving) return result<void>(refusal_);
  if (node_->current_role() != core::role::leader)
    return result<void>(make_error_code(errc::not_leader), hint_for(node_->leader()));
  if (promotion_ || (membership_change_ && !membership_change_->finished()))
    return result<void>(make_error_code(errc::membership_change_in_progress), hint_for(options_.id));
  return std::nullopt;
}

void raft::impl::accept_add_learner(node_id id, std::string address, engine::completion<void> done) {
  if (auto refused = membership_refusal()) return done(std::move(*refused));
  if (id == no_node) return done(make_error_code(errc::invalid_argument));
  if (node_->config().contains(id)) return done(make_error_code(errc::not_member));
  propose_membership(engine::with_learner(node_->config(), id, std::move(address)), std::move(done));
}

void raft::impl::accept_voters(std::set<node_id> voters, engine::completion<void> done) {
  if (auto refused = membership_refusal()) return done(std::move(*refused));
  if (voters.empty() || voters.contains(no_node)) return done(make_error_code(errc::invalid_argument));
  for (node_id voter : voters)
    if (!node_->config().contains(voter)) return done(make_error_code(errc::not_member));
  promotion_.emplace(promotion{std::move(voters), engine::clock::now() + options_.catch_up_timeout, std::move(done)});
  promote_when_caught_up();
}

// A learner leaves in one step; a voter through a change of voters, which
// needs no catching up.
void raft::impl::accept_removal(node_id id, engine::completion<void> done) {
  if (auto refused = membership_refusal()) return done(std::move(*refused));
  const membership& config = node_->config();
  if (!config.contains(id)) return done(make_error_code(errc::not_member));
  if (config.learners.contains(id)) return propose_membership(engine::without_learner(config, id), std::move(done));
  std::set<node_id> voters = config.voters;
  voters.erase(id);
  accept_voters(std::move(voters), std::move(done));
}

void raft::impl::propose_membership(const membership& target, engine::completion<void> done) {
  if (const std::error_code refused = node_->change_membership(target)) {
    const node_id hint = refused == errc::not_leader ? node_->leader() : options_.id;
    return done(result<void>(refused, hint_for(hint)));
  }
  // The configuration takes effect, and is the last entry, once appended.
  membership_change_.emplace(node_->log().last_id(), node_->config().joint(),
                             engine::clock::now() + options_.request_timeout, std::move(done));
  schedule_drain();
}

// A change of voters is proposed once every new voter has caught up. It is
// given up when this node stops leading before that (nothing was proposed).
void raft::impl::promote_when_caught_up() {
  if (!promotion_) return;
  if (node_->current_role() != core::role::leader) {
    std::exchange(promotion_, std::nullopt)
        ->done(result<void>(make_error_code(errc::not_leader), hint_for(node_->leader())));
    return;
  }
  for (node_id voter : promotion_->voters)
    if (!node_->config().voters.contains(voter) && !caught_up(voter)) return;
  promotion ready = std::move(*std::exchange(promotion_, std::nullopt));
  propose_membership(engine::with_voters(node_->config(), ready.voters), std::move(ready.done));
}

bool raft::impl::caught_up(node_id learner) const {
  const core::progress* pr = node_->progress_of(learner);
  return pr && pr->match() + catch_up_lag >= node_->commit_index();
}

// ---------------------------------------------------------------- transfer

void raft::impl::accept_transfer(node_id to, engine::completion<void> done) {
  if (phase_ != phase::serving) return done(refusal_);
  if (node_->current_role() != core::role::leader)
    return done(result<void>(make_error_code(errc::not_leader), hint_for(node_->leader())));
  if (to == options_.id) return done({});  // it leads already
  if (const std::error_code refused = node_->transfer_leadership(to)) return done(result<void>(refused, hint_for(options_.id)));
  transfers_.push_back({to, node_->term(), engine::clock::now() + options_.request_timeout, std::move(done)});
  schedule_drain();
}

// A transfer succeeded once this node hears from its target as leader. It
// failed when this node still (or again) leads without handing over to the
// target, which the node gives up after an election timeout (errc::timeout),
// or when another node took over (not_leader, naming it).
void raft::impl::settle_transfers() {
  const node_id leader = node_->leader();
  const bool leading = node_->current_role() == core::role::leader;
  std::vector<transfer> waiting;
  for (transfer& t : std::exchange(transfers_, {})) {
    if (leader == t.to) {
      t.done({});
    } else if (leading && (node_->term() != t.term || node_->transfer_target() != t.to)) {
      t.done(make_error_code(errc::timeout));
    } else if (!leading && leader != no_node) {
      t.done(result<void>(make_error_code(errc::not_leader), hint_for(leader)));
    } else {
      waiting.push_back(std::move(t));
    }
  }
  transfers_ = std::move(waiting);
}

// ---------------------------------------------------------------- deadlines and stopping

void raft::impl::expire_membership_and_transfers(clock_time now) {
  if (promotion_ && now >= promotion_->deadline)
    std::exchange(promotion_, std::nullopt)->done(make_error_code(errc::timeout));
  if (membership_change_) membership_change_->expire(now);
  std::vector<transfer> waiting;
  for (transfer& t : std::exchange(transfers_, {})) {
    if (now >= t.deadline) {
      t.done(make_error_code(errc::timeout));
    } else {
      waiting.push_back(std::move(t));
    }
  }
  transfers_ = std::move(waiting);
}

void raft::impl::fail_membership_and_transfers(std::error_code reason) {
  if (promotion_) std::exchange(promotion_, std::nullopt)->done(reason);
  if (membership_change_) membership_change_->fail(reason);
  for (transfer& t : std::exchange(transfers_, {})) t.done(reason);
}

}  // namespace coraft
