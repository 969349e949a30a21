// What the engine's membership operations ask of the node, and how one of
// them learns that the configuration it asked for has committed. Strand-only.
#pragma once

#include "engine/completion.h"
#include "engine/waiters.h"

#include <coraft/types.h>

#include <set>
#include <string>
#include <system_error>
#include <vector>

namespace coraft::engine {

// `current` with `id` added as a learner reachable at `address`.
membership with_learner(membership current, node_id id, std::string address);
// `current` with exactly `voters` as its voters: learners among them are
// promoted, voters left out leave the group. Their addresses stay, because
// the joint configuration still replicates to them.
membership with_voters(membership current, const std::set<node_id>& voters);
// `current` without the learner `id`, address included.
membership without_learner(membership current, node_id id);

// One membership change, from the configuration entry the leader appended
// until the configuration it asked for has committed: that entry, and for a
// change of voters (a joint entry) also the entry that leaves the joint
// configuration, which the leader of the day appends on its own.
//
// The entry is recognised by (index, term) among the committed entries, like
// a proposal: another term at its index means the change was never made.
class membership_change {
 public:
  membership_change(log_id entry, bool joint, clock::time_point deadline, completion<void> done);

  bool finished() const { return !done_; }

  // The committed entries handed to the state machine, in order.
  void on_committed(const std::vector<log_entry>& committed);
  // A snapshot ending at meta.last_included replaced the entries up to it
  // before they were handed out.
  void on_snapshot_installed(const snapshot_meta& meta);
  // Answers errc::timeout once `now` is past the deadline.
  void expire(clock::time_point now);
  void fail(std::error_code error);

 private:
  enum class stage {
    committing,     // waiting for `entry_` to commit
    leaving_joint,  // the joint entry committed; waiting for a plain configuration after `after_`
  };
  void committed_as_proposed(index_t at, bool still_joint);
  void answer(result<void> outcome);

  stage stage_ = stage::committing;
  log_id entry_;
  bool joint_;        // entry_ holds a joint configuration
  index_t after_;     // leaving_joint: the configuration in force at this index is still joint
  clock::time_point deadline_;
  completion<void> done_;  // empty once answered
};

}  // namespace coraft::engine
