#include <coraft/metrics.h>

#include <nlohmann/json.hpp>

namespace coraft {
namespace {

nlohmann::json ids(const std::set<node_id>& members) {
  nlohmann::json list = nlohmann::json::array();
  for (node_id id : members) list.push_back(id.value);
  return list;
}

nlohmann::json to_json_value(const membership& config) {
  nlohmann::json addresses = nlohmann::json::object();
  for (const auto& [id, address] : config.addresses) addresses[std::to_string(id.value)] = address;
  return {{"voters", ids(config.voters)},
          {"outgoing_voters", ids(config.outgoing_voters)},
          {"learners", ids(config.learners)},
          {"addresses", addresses}};
}

nlohmann::json to_json_value(const peer_metrics& peer) {
  return {{"id", peer.id.value},
          {"state", peer.state},
          {"match", peer.match.value},
          {"next", peer.next.value},
          {"inflight_appends", peer.inflight_appends},
          {"inflight_bytes", peer.inflight_bytes},
          {"since_last_contact_ms", peer.since_last_contact.count()}};
}

nlohmann::json to_json_value(const counters& totals) {
  return {{"proposals_accepted", totals.proposals_accepted},
          {"proposals_refused", totals.proposals_refused},
          {"log_writes", totals.log_writes},
          {"entries_written", totals.entries_written},
          {"messages_sent", totals.messages_sent},
          {"entries_sent", totals.entries_sent},
          {"entries_applied", totals.entries_applied},
          {"elections_started", totals.elections_started},
          {"snapshots_built", totals.snapshots_built},
          {"snapshots_installed", totals.snapshots_installed}};
}

}  // namespace

std::string to_json(const metrics& m) {
  nlohmann::json peers = nlohmann::json::array();
  for (const peer_metrics& peer : m.peers) peers.push_back(to_json_value(peer));
  nlohmann::json out = {{"id", m.id.value},
                        {"role", m.role},
                        {"term", m.term.value},
                        {"leader", m.leader.value},
                        {"last_log", m.last_log.value},
                        {"persisted", m.persisted.value},
                        {"commit", m.commit.value},
                        {"applied", m.applied.value},
                        {"snapshot", {{"term", m.snapshot.term.value}, {"index", m.snapshot.index.value}}},
                        {"config", to_json_value(m.config)},
                        {"peers", peers},
                        {"pending_proposals", m.pending_proposals},
                        {"pending_bytes", m.pending_bytes},
                        {"pending_reads", m.pending_reads},
                        {"apply_queue_bytes", m.apply_queue_bytes},
                        {"totals", to_json_value(m.totals)},
                        {"stop_reason", m.stop_reason}};
  return out.dump();
}

}  // namespace coraft
