#include "engine/membership.h"

#include <utility>

namespace coraft::engine {

membership with_learner(membership current, node_id id, std::string address) {
  current.learners.insert(id);
  current.addresses[id] = std::move(address);
  return current;
}

membership with_voters(membership current, const std::set<node_id>& voters) {
  for (node_id voter : voters) current.learners.erase(voter);
  current.voters = voters;
  current.outgoing_voters.clear();
  return current;
}

membership without_learner(membership current, node_id id) {
  current.learners.erase(id);
  current.addresses.erase(id);
  return current;
}

membership_change::membership_change(log_id entry, bool joint, clock::time_point deadline, completion<void> done)
    : entry_(entry), joint_(joint), deadline_(deadline), done_(std::move(done)) {}

void membership_change::on_committed(const std::vector<log_entry>& committed) {
  for (const log_entry& entry : committed) {
    if (finished()) return;
    if (stage_ == stage::committing && entry.index == entry_.index) {
      if (entry.term != entry_.term) return answer(make_error_code(errc::leadership_lost));
      committed_as_proposed(entry.index, joint_);
    } else if (stage_ == stage::leaving_joint && entry.kind == entry_kind::membership && entry.index > after_) {
      // One change at a time: the next configuration after a joint one is
      // the one that leaves it.
      std::optional<membership> config = decode_membership(entry.payload.view());
      if (config && !config->joint()) answer({});
    }
  }
}

// The committed log holds our entry up to `at`, and the configuration in
// force there is `still_joint` or not.
void membership_change::committed_as_proposed(index_t at, bool still_joint) {
  if (!still_joint) return answer({});
  stage_ = stage::leaving_joint;
  after_ = at;
}

void membership_change::on_snapshot_installed(const snapshot_meta& meta) {
  if (finished()) return;
  const log_id last = meta.last_included;
  if (stage_ == stage::leaving_joint) {
    if (last.index > after_) committed_as_proposed(last.index, meta.config.joint());
    return;
  }
  if (entry_.index > last.index) return;
  // Terms never decrease along the log: at our index the committed log holds
  // a term at most last.term. Our entry's term equal to last.term means this
  // node led that term and wrote the entry at last.index itself, after ours.
  if (entry_.term > last.term) return answer(make_error_code(errc::leadership_lost));
  if (entry_.term < last.term) return answer(make_error_code(errc::timeout));
  committed_as_proposed(last.index, joint_ && meta.config.joint());
}

void membership_change::expire(clock::time_point now) {
  if (!finished() && now >= deadline_) answer(make_error_code(errc::timeout));
}

void membership_change::fail(std::error_code error) {
  if (!finished()) answer(error);
}

void membership_change::answer(result<void> outcome) { done_(std::move(outcome)); }

}  // namespace coraft::engine
