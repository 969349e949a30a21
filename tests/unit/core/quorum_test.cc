#include "core/quorum.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <random>

using namespace coraft;

namespace {

// The obvious definition: the largest index that more than half the voters reached.
index_t naive_quorum_index(const std::set<node_id>& voters, const std::map<node_id, index_t>& reached) {
  index_t best{};
  for (const auto& [candidate_id, candidate] : reached) {
    std::size_t at_least = 0;
    for (node_id voter : voters) at_least += reached.at(voter) >= candidate ? 1 : 0;
    if (voters.contains(candidate_id) && at_least * 2 > voters.size()) best = std::max(best, candidate);
  }
  return best;
}

bool naive_won(const std::set<node_id>& voters, const std::map<node_id, bool>& votes) {
  std::size_t granted = 0;
  for (node_id voter : voters) granted += votes.contains(voter) && votes.at(voter) ? 1 : 0;
  return granted * 2 > voters.size();
}

}  // namespace

TEST_CASE("the quorum index agrees with a naive count on random configurations") {
  std::mt19937_64 random(7);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t size = 1 + random() % 7;
    std::set<node_id> voters;
    std::map<node_id, index_t> reached;
    for (std::size_t i = 1; i <= size; ++i) {
      voters.insert(node_id(i));
      reached[node_id(i)] = index_t(random() % 10);
    }
    INFO("round " << round);
    CHECK(core::quorum_index(voters, [&](node_id id) { return reached.at(id); }) == naive_quorum_index(voters, reached));
  }
}

TEST_CASE("a joint configuration commits only what both halves reached") {
  membership config;
  config.voters = {node_id(1), node_id(2), node_id(3)};
  config.outgoing_voters = {node_id(3), node_id(4), node_id(5)};
  std::map<node_id, index_t> reached = {{node_id(1), index_t(9)}, {node_id(2), index_t(9)}, {node_id(3), index_t(4)},
                                        {node_id(4), index_t(6)}, {node_id(5), index_t(2)}};
  CHECK(core::quorum_index(config, [&](node_id id) { return reached.at(id); }) == index_t(4));
}

TEST_CASE("an election is won, lost or pending exactly as a naive count says") {
  std::mt19937_64 random(11);
  for (int round = 0; round < 2000; ++round) {
    const std::size_t size = 1 + random() % 7;
    std::set<node_id> voters;
    std::map<node_id, bool> votes;
    for (std::size_t i = 1; i <= size; ++i) {
      voters.insert(node_id(i));
      if (random() % 3 != 0) votes[node_id(i)] = random() % 2 == 0;
    }
    std::map<node_id, bool> all_yes = votes;
    for (node_id voter : voters) all_yes.try_emplace(voter, true);
    const core::vote_outcome outcome = core::tally(voters, votes);
    INFO("round " << round);
    CHECK((outcome == core::vote_outcome::won) == naive_won(voters, votes));
    CHECK((outcome == core::vote_outcome::lost) == !naive_won(voters, all_yes));
  }
}

TEST_CASE("a joint election needs a majority of both halves") {
  membership config;
  config.voters = {node_id(1), node_id(2), node_id(3)};
  config.outgoing_voters = {node_id(4), node_id(5), node_id(6)};
  std::map<node_id, bool> votes = {{node_id(1), true}, {node_id(2), true}, {node_id(4), true}};
  CHECK(core::tally(config, votes) == core::vote_outcome::pending);
  votes[node_id(5)] = true;
  CHECK(core::tally(config, votes) == core::vote_outcome::won);
  votes[node_id(5)] = false;
  votes[node_id(6)] = false;
  CHECK(core::tally(config, votes) == core::vote_outcome::lost);
}
