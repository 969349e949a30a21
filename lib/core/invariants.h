// Checks of the rules a node must keep, for tests and the simulator: the
// state of one node (node::check_invariants) and what may change between two
// moments of the same node (check_transition).
#pragma once

#include "core/node.h"

#include <optional>
#include <string>

namespace coraft::core {

// The parts of a node's state that must only move forward.
struct node_digest {
  term_t term;
  node_id voted_for;
  index_t commit;
  std::optional<term_t> commit_term;  // term of the entry at commit (nullopt if compacted)
  index_t applied;
};

node_digest digest_of(const node& n);

// A description of the first rule broken going from `before` to `after`:
// terms never decrease, one vote per term, commit never moves back and the
// committed entry never changes, applied never moves back.
std::optional<std::string> check_transition(const node_digest& before, const node& after);

}  // namespace coraft::core
