// Quorum arithmetic, for one configuration and for joint consensus (where both
// the incoming and the outgoing voters must agree). Kept apart from the node so
// that it can be tested against a naive count.
#pragma once

#include <coraft/types.h>

#include <functional>
#include <map>
#include <set>

namespace coraft::core {

enum class vote_outcome { pending, won, lost };

// The highest value that a majority of `voters` has reached (an index, a
// heartbeat round). An empty voter set places no constraint (the maximum).
std::uint64_t quorum_value(const membership& config, const std::function<std::uint64_t(node_id)>& reached);

// The highest index that a majority of `voters` has reached. An empty voter set
// places no constraint (it returns the maximum index), which is what joint
// consensus needs when there is no outgoing configuration.
index_t quorum_index(const std::set<node_id>& voters, const std::function<index_t(node_id)>& reached);
// Both halves of a (possibly joint) configuration.
index_t quorum_index(const membership& config, const std::function<index_t(node_id)>& reached);

// Outcome of an election given the votes received so far (true = granted).
vote_outcome tally(const std::set<node_id>& voters, const std::map<node_id, bool>& votes);
vote_outcome tally(const membership& config, const std::map<node_id, bool>& votes);

// Whether the nodes for which `active` holds form a quorum.
bool is_quorum(const membership& config, const std::function<bool(node_id)>& active);

}  // namespace coraft::core
