#include "net/wire_codec.h"

#include <coraft/tcp_network.h>

#include <string>
#include <system_error>

namespace coraft::net {
namespace {

[[noreturn]] void malformed(const std::string& what) { throw std::system_error(tcp_error::malformed_frame, what); }

void put_header(const message_header& in, wire::Header& out) {
  out.set_from(in.from.value);
  out.set_term(in.term.value);
  out.set_request_id(in.request_id);
}

void take_header(const wire::Header& in, message_header& out) {
  out.from = node_id(in.from());
  out.term = term_t(in.term());
  out.request_id = in.request_id();
}

void put_log_id(const log_id& in, stored::LogId& out) {
  out.set_term(in.term.value);
  out.set_index(in.index.value);
}

log_id take_log_id(const stored::LogId& in) { return {term_t(in.term()), index_t(in.index())}; }

void put_entry(const log_entry& in, stored::Entry& out) {
  out.set_term(in.term.value);
  out.set_index(in.index.value);
  out.set_kind(static_cast<std::uint32_t>(in.kind));
  out.set_payload(std::string(in.payload.view()));
}

entry_kind take_entry_kind(std::uint32_t kind) {
  switch (kind) {
    case static_cast<std::uint32_t>(entry_kind::command): return entry_kind::command;
    case static_cast<std::uint32_t>(entry_kind::noop): return entry_kind::noop;
    case static_cast<std::uint32_t>(entry_kind::membership): return entry_kind::membership;
  }
  malformed("unknown log entry kind " + std::to_string(kind));
}

log_entry take_entry(stored::Entry& in) {
  return {term_t(in.term()), index_t(in.index()), take_entry_kind(in.kind()),
          shared_bytes(std::move(*in.mutable_payload()))};
}

void put_snapshot_meta(const snapshot_meta& in, stored::SnapshotMeta& out) {
  put_log_id(in.last_included, *out.mutable_last_included());
  out.set_config(encode_membership(in.config));
}

snapshot_meta take_snapshot_meta(const stored::SnapshotMeta& in) {
  auto config = decode_membership(in.config());
  if (!config) malformed("snapshot membership does not decode");
  return {take_log_id(in.last_included()), std::move(*config)};
}

// Requests, coraft to wire.

void put(const vote_request& in, wire::Request& request) {
  auto& out = *request.mutable_vote();
  put_header(in, *out.mutable_header());
  put_log_id(in.last_log, *out.mutable_last_log());
  out.set_pre_vote(in.pre_vote);
  out.set_transfer(in.transfer);
}

void put(const append_request& in, wire::Request& request) {
  auto& out = *request.mutable_append();
  put_header(in, *out.mutable_header());
  put_log_id(in.prev, *out.mutable_prev());
  out.mutable_entries()->Reserve(static_cast<int>(in.entries.size()));
  for (const auto& entry : in.entries) put_entry(entry, *out.add_entries());
  out.set_leader_commit(in.leader_commit.value);
}

void put(const heartbeat_request& in, wire::Request& request) {
  auto& out = *request.mutable_heartbeat();
  put_header(in, *out.mutable_header());
  out.set_commit(in.commit.value);
  out.set_read_round(in.read_round);
}

void put(const timeout_now_request& in, wire::Request& request) {
  put_header(in, *request.mutable_timeout_now()->mutable_header());
}

void put(const read_index_request& in, wire::Request& request) {
  auto& out = *request.mutable_read_index();
  put_header(in, *out.mutable_header());
  out.set_context(in.context);
}

void put(const snapshot_request& in, wire::Request& request) {
  auto& out = *request.mutable_snapshot();
  put_header(in, *out.mutable_header());
  put_snapshot_meta(in.meta, *out.mutable_meta());
}

// Responses, coraft to wire.

void put(const vote_response& in, wire::Response& response) {
  auto& out = *response.mutable_vote();
  put_header(in, *out.mutable_header());
  out.set_pre_vote(in.pre_vote);
  out.set_granted(in.granted);
}

void put(const append_response& in, wire::Response& response) {
  auto& out = *response.mutable_append();
  put_header(in, *out.mutable_header());
  out.set_success(in.success);
  out.set_match_index(in.match_index.value);
  out.set_rejected_index(in.rejected_index.value);
  out.set_conflict_term(in.conflict_term.value);
  out.set_conflict_index(in.conflict_index.value);
}

void put(const heartbeat_response& in, wire::Response& response) {
  auto& out = *response.mutable_heartbeat();
  put_header(in, *out.mutable_header());
  out.set_read_round(in.read_round);
}

void put(const timeout_now_response& in, wire::Response& response) {
  put_header(in, *response.mutable_timeout_now()->mutable_header());
}

void put(const read_index_response& in, wire::Response& response) {
  auto& out = *response.mutable_read_index();
  put_header(in, *out.mutable_header());
  out.set_success(in.success);
  out.set_read_index(in.read_index.value);
  out.set_context(in.context);
}

void put(const snapshot_response& in, wire::Response& response) {
  auto& out = *response.mutable_snapshot();
  put_header(in, *out.mutable_header());
  out.set_success(in.success);
  out.set_last_index(in.last_index.value);
}

// Requests, wire to coraft.

vote_request take(const wire::VoteRequest& in) {
  vote_request out;
  take_header(in.header(), out);
  out.last_log = take_log_id(in.last_log());
  out.pre_vote = in.pre_vote();
  out.transfer = in.transfer();
  return out;
}

append_request take(wire::AppendRequest& in) {
  append_request out;
  take_header(in.header(), out);
  out.prev = take_log_id(in.prev());
  out.entries.reserve(in.entries_size());
  for (auto& entry : *in.mutable_entries()) out.entries.push_back(take_entry(entry));
  out.leader_commit = index_t(in.leader_commit());
  return out;
}

heartbeat_request take(const wire::HeartbeatRequest& in) {
  heartbeat_request out;
  take_header(in.header(), out);
  out.commit = index_t(in.commit());
  out.read_round = in.read_round();
  return out;
}

timeout_now_request take(const wire::TimeoutNowRequest& in) {
  timeout_now_request out;
  take_header(in.header(), out);
  return out;
}

read_index_request take(const wire::ReadIndexRequest& in) {
  read_index_request out;
  take_header(in.header(), out);
  out.context = in.context();
  return out;
}

snapshot_request take(const wire::SnapshotRequest& in) {
  snapshot_request out;
  take_header(in.header(), out);
  out.meta = take_snapshot_meta(in.meta());
  return out;
}

// Responses, wire to coraft.

vote_response take(const wire::VoteResponse& in) {
  vote_response out;
  take_header(in.header(), out);
  out.pre_vote = in.pre_vote();
  out.granted = in.granted();
  return out;
}

append_response take(const wire::AppendResponse& in) {
  append_response out;
  take_header(in.header(), out);
  out.success = in.success();
  out.match_index = index_t(in.match_index());
  out.rejected_index = index_t(in.rejected_index());
  out.conflict_term = term_t(in.conflict_term());
  out.conflict_index = index_t(in.conflict_index());
  return out;
}

heartbeat_response take(const wire::HeartbeatResponse& in) {
  heartbeat_response out;
  take_header(in.header(), out);
  out.read_round = in.read_round();
  return out;
}

timeout_now_response take(const wire::TimeoutNowResponse& in) {
  timeout_now_response out;
  take_header(in.header(), out);
  return out;
}

read_index_response take(const wire::ReadIndexResponse& in) {
  read_index_response out;
  take_header(in.header(), out);
  out.success = in.success();
  out.read_index = index_t(in.read_index());
  out.context = in.context();
  return out;
}

snapshot_response take(const wire::SnapshotResponse& in) {
  snapshot_response out;
  take_header(in.header(), out);
  out.success = in.success();
  out.last_index = index_t(in.last_index());
  return out;
}

}  // namespace

void to_wire(std::uint64_t call_id, const request_message& message, wire::Request& out) {
  out.set_call_id(call_id);
  std::visit([&](const auto& body) { put(body, out); }, message);
}

void to_wire(std::uint64_t call_id, const response_message& message, wire::Response& out) {
  out.set_call_id(call_id);
  std::visit([&](const auto& body) { put(body, out); }, message);
}

request_message from_wire(wire::Request& in) {
  switch (in.body_case()) {
    case wire::Request::kVote: return take(in.vote());
    case wire::Request::kAppend: return take(*in.mutable_append());
    case wire::Request::kHeartbeat: return take(in.heartbeat());
    case wire::Request::kTimeoutNow: return take(in.timeout_now());
    case wire::Request::kReadIndex: return take(in.read_index());
    case wire::Request::kSnapshot: return take(in.snapshot());
    case wire::Request::BODY_NOT_SET: break;
  }
  malformed("request without a body");
}

response_message from_wire(const wire::Response& in) {
  switch (in.body_case()) {
    case wire::Response::kVote: return take(in.vote());
    case wire::Response::kAppend: return take(in.append());
    case wire::Response::kHeartbeat: return take(in.heartbeat());
    case wire::Response::kTimeoutNow: return take(in.timeout_now());
    case wire::Response::kReadIndex: return take(in.read_index());
    case wire::Response::kSnapshot: return take(in.snapshot());
    case wire::Response::kFailure:
    case wire::Response::BODY_NOT_SET: break;
  }
  malformed("response without a body");
}

}  // namespace coraft::net
