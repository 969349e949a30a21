// What may leave a node before its disk has caught up, and what may not.
#include "driver.h"

using namespace coraft;
using namespace coraft::test;
using core::role;

TEST_CASE("the leader sends appends in the same output as the entries it asks to persist") {
  cluster c({1, 2, 3});
  c.elect(1);
  REQUIRE_FALSE(c[1].propose("a").error);
  core::output out = c[1].drain();
  REQUIRE(out.entries.size() == 1);
  CHECK(out.entries[0].payload.view() == "a");
  for (std::uint64_t follower : {2, 3}) {
    auto appends = messages_of<append_request>(out, node_id(follower));
    REQUIRE(appends.size() == 1);
    REQUIRE(appends[0].entries.size() == 1);
    CHECK(appends[0].entries[0].payload.view() == "a");
  }
}

TEST_CASE("the leader counts itself toward a commit only once its own write is durable") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.cut(3);
  c.pause_disk(1);
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  const index_t entry = c[1]->log().last_index();
  CHECK(c[1]->progress_of(node_id(2))->match() == entry);
  CHECK(c[1]->commit_index() < entry);  // node 2 alone is not a majority of 3
  CHECK(c[1]->waits_for_own_write());
  c.resume_disk(1);
  CHECK(c[1]->commit_index() == entry);
  CHECK_FALSE(c[1]->waits_for_own_write());
}

TEST_CASE("a leader waits for its own write only once the followers' answers leave it holding up a commit or apply") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.pause_disk(1);
  REQUIRE_FALSE(c[1].propose("a").error);
  core::output out = c[1].drain();
  REQUIRE(out.write_id != 0);
  CHECK_FALSE(c[1]->waits_for_own_write());  // no follower has the entry yet
  const std::size_t applied_before = c.applied(1).size();
  c.deliver(1, std::move(out));
  c.settle();
  const index_t entry = c[1]->log().last_index();
  CHECK(c[1]->commit_index() == entry);  // nodes 2 and 3 are a majority...
  CHECK(c.applied(1).size() == applied_before);
  CHECK(c[1]->waits_for_own_write());  // ...but the leader applies only what it holds durably
  c.resume_disk(1);
  c.settle();
  CHECK(c.applied(1).size() == applied_before + 1);
  CHECK_FALSE(c[1]->waits_for_own_write());
}

TEST_CASE("a candidate that has the others' votes leads only once its own term and vote are durable") {
  cluster c({1, 2, 3});
  c.pause_disk(1);
  for (int i = 0; i < 1000 && c[2]->term() == term_t(0); ++i) {
    c.tick(1);
    c.settle();
  }
  REQUIRE(c[1]->term() == term_t(1));
  CHECK(c[2]->term() == term_t(1));  // both voters granted and answered...
  CHECK(c[3]->term() == term_t(1));
  CHECK(c[1]->current_role() == role::candidate);  // ...yet the term could still be lost
  CHECK(c[1]->waits_for_own_write());
  c.resume_disk(1);
  c.settle();
  CHECK(c[1]->current_role() == role::leader);
  CHECK(c[1]->term() == term_t(1));
}

TEST_CASE("a follower acknowledges an append only after its log is durable") {
  cluster c({1, 2});
  c.elect(1);
  c.pause_disk(2);
  std::vector<append_response> answers;
  c.filter = [&](node_id, const message& m) {
    if (auto* answer = std::get_if<append_response>(&m.body)) answers.push_back(*answer);
    return true;
  };
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  const index_t entry = c[1]->log().last_index();
  CHECK(c[2]->log().last_index() == entry);  // received...
  CHECK(answers.empty());                     // ...but not acknowledged
  CHECK(c[1]->commit_index() < entry);
  c.resume_disk(2);
  c.settle();
  // The held acknowledgement, then the answer to the append announcing the commit.
  REQUIRE(answers.size() == 2);
  CHECK(answers[0].match_index == entry);
  CHECK(answers[1].match_index == entry);
  CHECK(c[1]->commit_index() == entry);
}

TEST_CASE("a follower hands out its acknowledgement with the write it waits for, and only once") {
  cluster c({1, 2});
  c.elect(1);
  REQUIRE_FALSE(c[1].propose("a").error);
  const std::vector<append_request> appends = messages_of<append_request>(c[1].drain(), node_id(2));
  REQUIRE(appends.size() == 1);
  REQUIRE(appends[0].entries.size() == 1);
  c[2].step(appends[0]);
  core::output out = c[2].drain();
  REQUIRE(out.write_id != 0);
  CHECK(messages_of<append_response>(out).empty());
  REQUIRE(out.messages_after_write.size() == 1);
  CHECK(out.messages_after_write[0].after_write == out.write_id);
  CHECK(out.messages_after_write[0].msg.to == node_id(1));
  const auto* answer = std::get_if<append_response>(&out.messages_after_write[0].msg.body);
  REQUIRE(answer != nullptr);
  CHECK(answer->match_index == appends[0].entries[0].index);
  CHECK_FALSE(c[2]->waits_for_own_write());  // its answer leaves with the write
  c[2].persisted(out.write_id);
  const core::output after = c[2].drain();
  CHECK(messages_of<append_response>(after).empty());
  CHECK(after.messages_after_write.empty());
  // The same append again adds nothing to write: its answer may leave at once.
  c[2].step(appends[0]);
  const core::output again = c[2].drain();
  CHECK(again.write_id == 0);
  CHECK(messages_of<append_response>(again).size() == 1);
  CHECK(again.messages_after_write.empty());
}

TEST_CASE("a vote is granted only after the vote is durable") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.cut(1);
  c.pause_disk(2);
  std::vector<vote_response> granted;
  c.filter = [&](node_id, const message& m) {
    if (auto* answer = std::get_if<vote_response>(&m.body); answer && answer->granted) granted.push_back(*answer);
    return true;
  };
  while (c[3]->current_role() != role::candidate) c.tick(3);
  c.settle();
  CHECK(c[2]->voted_for() == node_id(3));  // decided...
  CHECK(granted.empty());                   // ...but not said
  CHECK(c[3]->current_role() == role::candidate);
  c.resume_disk(2);
  c.settle();
  CHECK(granted.size() == 1);  // node 2's (node 3's own vote never crosses the network)
  CHECK(c[3]->current_role() == role::leader);
}

TEST_CASE("entries are applied only once committed and durable on this node") {
  cluster c({1, 2, 3});
  c.elect(1);
  c.settle();
  const std::size_t applied_before = c.applied(2).size();
  c.pause_disk(2);
  REQUIRE_FALSE(c[1].propose("a").error);
  c.settle();
  c.tick(1, 2);  // a heartbeat tells node 2 the new commit index
  c.settle();
  const index_t entry = c[1]->log().last_index();
  CHECK(c[2]->commit_index() == entry);
  CHECK(c[2]->persisted_index() < entry);
  CHECK(c.applied(2).size() == applied_before);
  CHECK(c[2]->applying_index() <= c[2]->persisted_index());
  CHECK_FALSE(c[2]->waits_for_own_write());  // a follower's next input brings the news soon enough
  c.resume_disk(2);
  c.settle();
  CHECK(c.applied(2).size() == applied_before + 1);
}

TEST_CASE("a write overtaken by a truncation makes durable only what the log still holds") {
  // Node 3 leads term 1 alone with two unreplicated entries whose write is not
  // yet durable; a new leader's append then replaces them.
  cluster c({1, 2, 3});
  c.elect(3);
  c.cut(3);
  c.pause_disk(3);
  REQUIRE_FALSE(c[3].propose("old-1").error);
  REQUIRE_FALSE(c[3].propose("old-2").error);
  c.settle();
  const index_t first_old = c[3]->log().last_index() - 1;
  c.elect(1);
  REQUIRE_FALSE(c[1].propose("new").error);
  c.settle();
  c.heal();
  c.tick(1, 2);
  c.settle();
  CHECK(c[3]->log().term_at(first_old) == term_t(2));
  CHECK(c[3]->persisted_index() < first_old);  // the new entries are not written yet
  c.resume_disk(3);
  c.settle();
  CHECK(c[3]->persisted_index() == c[1]->log().last_index());
  CHECK(c[3]->log().last_id() == c[1]->log().last_id());
}

TEST_CASE("committed entries are handed out no faster than the state machine reports them applied") {
  auto options = test_options();
  options.max_unapplied_bytes = 250;
  options.max_apply_bytes = 100;
  cluster c({1}, options);
  c.elect(1);
  for (int i = 0; i < 6; ++i) REQUIRE_FALSE(c[1].propose(std::string(100, 'x')).error);
  // Drain by hand, completing writes but never reporting anything applied.
  std::size_t handed_out = 0;
  for (int round = 0; round < 20 && c[1]->has_output(); ++round) {
    core::output out = c[1].drain();
    if (out.write_id != 0) c[1].persisted(out.write_id);
    for (const log_entry& entry : out.committed) handed_out += entry.kind == entry_kind::command ? 1 : 0;
  }
  CHECK(c[1]->commit_index() == c[1]->log().last_index());
  CHECK(handed_out == 3);  // 300 bytes out: the batch that crossed 250 was the last
  c[1].apply_input([](core::node& n) { n.on_applied(n.applying_index()); });
  CHECK(c[1]->has_output());
  CHECK(c[1].drain().committed.size() == 1);
}
