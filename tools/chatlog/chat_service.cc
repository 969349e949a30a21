#include "chat_service.h"

#include "chat_rules.h"

#include <coraft/leveldb_state_machine.h>
#include <coraft/logging.h>
#include <coraft/metrics.h>

#include <chrono>
#include <exception>
#include <optional>
#include <set>
#include <stdexcept>
#include <utility>

namespace chatlog {
namespace {

using namespace std::chrono_literals;

// An idle follow stream sends a heartbeat this often, so that the client can
// tell a quiet room from a dead member, and the server a gone client.
constexpr std::chrono::milliseconds follow_heartbeat = 1s;
// A follow stream whose client reads nothing for this long is closed.
constexpr std::chrono::milliseconds follow_write_limit = 30s;

// A request the protocol cannot carry out as written: answered bad_request.
class request_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string required_text(const json& request, const char* name) {
  auto found = request.find(name);
  if (found == request.end() || !found->is_string()) throw request_error(std::string(name) + ": expected a string");
  return found->get<std::string>();
}

std::optional<std::string> optional_text(const json& request, const char* name) {
  if (!request.contains(name)) return std::nullopt;
  return required_text(request, name);
}

std::optional<std::uint64_t> optional_count(const json& request, const char* name) {
  auto found = request.find(name);
  if (found == request.end()) return std::nullopt;
  if (!found->is_number_unsigned()) throw request_error(std::string(name) + ": expected a non-negative integer");
  return found->get<std::uint64_t>();
}

coraft::node_id required_id(const json& request, const char* name) {
  const std::optional<std::uint64_t> id = optional_count(request, name);
  if (!id || *id == 0) throw request_error(std::string(name) + ": expected a node id (an integer from 1)");
  return coraft::node_id(*id);
}

void check(const std::optional<std::string>& problem) {
  if (problem) throw request_error(*problem);
}

std::uint64_t now_ms() {
  using namespace std::chrono;
  return static_cast<std::uint64_t>(duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count());
}

}  // namespace

chat_service::chat_service(coraft::tcp_node& node, std::shared_ptr<chat_machine> machine)
    : node_(node), machine_(std::move(machine)) {}

// ---------------------------------------------------------------- the connection

asio::awaitable<void> chat_service::serve(line_stream& stream) {
  for (;;) {
    const std::optional<std::string> line = co_await read_request(stream);
    if (!line) co_return;
    if (line->find_first_not_of(" \t\r") == std::string::npos) continue;
    outcome handled = co_await handle(*line);
    if (handled.follow) {
      co_await follow(stream, std::move(*handled.follow));
      co_return;
    }
    co_await stream.write(to_line(handled.reply));
  }
}

// The next request line, or nullopt when the connection is over: the client
// closed it, or sent a line too long to tell where the next request starts.
asio::awaitable<std::optional<std::string>> chat_service::read_request(line_stream& stream) {
  try {
    co_return co_await stream.read_line();
  } catch (const std::system_error& error) {
    if (error.code() != std::errc::message_size) throw;
  }
  const json refusal = error_reply("line_too_long", "a request line is at most 1 MiB; closing");
  co_await stream.write(to_line(refusal));
  co_return std::nullopt;
}

asio::awaitable<chat_service::outcome> chat_service::handle(const std::string& line) {
  const json request = json::parse(line, nullptr, false);
  outcome handled;
  if (request.is_discarded() || !request.is_object()) {
    handled.reply = error_reply("bad_request", "a request is one JSON object on one line");
    co_return handled;
  }
  try {
    const std::string op = required_text(request, "op");
    if (op == "follow") {
      handled.follow = follow_request{required_text(request, "room"), optional_count(request, "from").value_or(1)};
      check(check_room(handled.follow->room));
    } else {
      handled.reply = co_await answer(op, request);
    }
  } catch (const request_error& error) {
    handled.follow.reset();
    handled.reply = error_reply("bad_request", error.what());
  } catch (const std::exception& error) {
    coraft::log(coraft::log_level::error, "request ", line, " failed: ", error.what());
    handled.reply = error_reply("internal", error.what());
  }
  if (request.contains("id")) handled.reply["id"] = request["id"];
  co_return handled;
}

asio::awaitable<json> chat_service::answer(const std::string& op, const json& request) {
  coraft::log(coraft::log_level::debug, "request ", request);  // formatted only when debug is on
  if (op == "post") co_return co_await post(request);
  if (op == "tail") co_return co_await tail(request);
  if (op == "rooms") co_return co_await rooms(request);
  if (op == "status") co_return status();
  if (op == "members") co_return co_await members(request);
  if (op == "transfer") co_return co_await transfer(request);
  if (op == "snapshot") co_return co_await snapshot();
  throw request_error("unknown op \"" + op + "\"");
}

// ---------------------------------------------------------------- writes

asio::awaitable<json> chat_service::post(const json& request) {
  const std::string room = required_text(request, "room");
  const std::string user = required_text(request, "user");
  const std::string text = required_text(request, "text");
  check(check_room(room));
  check(check_user(user));
  check(check_text(text));
  // A session (client id and sequence number) makes retries exactly-once;
  // without one, every delivery of the request is a new message.
  const std::uint64_t client = optional_count(request, "client").value_or(0);
  const std::uint64_t sequence = optional_count(request, "seq").value_or(0);
  if ((client == 0) != (sequence == 0)) throw request_error("client and seq come together, both from 1");

  const json command = {{"op", "post"}, {"room", room}, {"user", user}, {"text", text}, {"time_ms", now_ms()}};
  std::string payload = coraft::encode_session_command({client, sequence, to_text(command)});
  coraft::result<std::string> applied = co_await node_.raft().propose(std::move(payload));
  if (!applied) co_return failure(applied.error(), applied.leader());
  json reply = machine_reply(*applied);
  if (reply.value("ok", false)) reply["room"] = room;
  co_return reply;
}

json chat_service::machine_reply(const std::string& answer) {
  if (answer == coraft::stale_request_answer) {
    return error_reply("stale_request", "the client has sent a newer sequence number since");
  }
  json parsed = json::parse(answer, nullptr, false);
  if (parsed.is_discarded() || !parsed.is_object()) return error_reply("internal", "the state machine answered " + answer);
  if (parsed.contains("error")) {
    return error_reply(parsed["error"].get<std::string>(), parsed.value("message", std::string()));
  }
  parsed["ok"] = true;
  return parsed;
}

// ---------------------------------------------------------------- reads

asio::awaitable<json> chat_service::tail(const json& request) {
  json query = {{"q", "tail"}, {"room", required_text(request, "room")}};
  for (const char* field : {"from", "limit", "last"}) {
    if (auto value = optional_count(request, field)) query[field] = *value;
  }
  co_return co_await read(request, query);
}

asio::awaitable<json> chat_service::rooms(const json& request) {
  const json query = {{"q", "rooms"}};
  co_return co_await read(request, query);
}

// Only in the build made with -Dnemesis_broken_reads=true: every read is served
// from this member's applied state, as a broken implementation would, so that
// the nemesis test can show that it catches stale reads.
#ifdef CHATLOG_BROKEN_READS
constexpr bool every_read_local = true;
#else
constexpr bool every_read_local = false;
#endif

asio::awaitable<json> chat_service::read(const json& request, const json& query) {
  const std::string mode_name = optional_text(request, "read").value_or("linearizable");
  const std::optional<read_choice> choice = parse_read_choice(mode_name);
  if (!choice) throw request_error("read: expected linearizable, lease, follower or stale");
  std::string answer;
  if (choice->stale || every_read_local) {
    answer = machine_->read_local(to_text(query));
  } else {
    coraft::result<std::string> served = co_await node_.raft().read(to_text(query), choice->mode);
    if (!served) co_return failure(served.error(), served.leader());
    answer = std::move(*served);
  }
  json reply = machine_reply(answer);
  reply["node"] = node_.self().id.value;
  reply["read"] = mode_name;
  co_return reply;
}

json chat_service::status() const {
  const coraft::metrics metrics = node_.raft().get_metrics();
  json reply = {{"ok", true},
                {"node", metrics.id.value},
                {"client_address", node_.self().client_address},
                {"metrics", json::parse(coraft::to_json(metrics))}};
  if (metrics.leader != coraft::no_node) reply["leader"] = leader_of(metrics.leader);
  return reply;
}

// A stream of the room's messages from `request.from` on, as this member
// applies them: first what it holds, then each new message, with heartbeats
// while the room is quiet. Ends when the client goes or the node stops.
asio::awaitable<void> chat_service::follow(line_stream& stream, follow_request request) {
  stream_deadline write_limit(stream);
  auto send = [&](const std::string& lines) -> asio::awaitable<void> {
    write_limit.arm(follow_write_limit);
    co_await stream.write(lines);
    write_limit.disarm();
  };
  const json started = {{"ok", true}, {"following", request.room}, {"from", request.from}};
  co_await send(to_line(started));
  std::uint64_t next = std::max<std::uint64_t>(request.from, 1);
  for (;;) {
    const coraft::index_t applied = node_.raft().get_metrics().applied;
    const json query = {{"q", "tail"}, {"room", request.room}, {"from", next}, {"limit", max_tail_limit}};
    const json answer = json::parse(machine_->read_local(to_text(query)));
    std::string lines;
    for (json message : answer.at("messages")) {
      next = message.at("seq").get<std::uint64_t>() + 1;
      message["event"] = "message";
      message["room"] = request.room;
      lines += to_line(message);
    }
    if (!lines.empty()) {
      co_await send(lines);
      continue;
    }
    auto moved_on = [applied](const coraft::metrics& m) { return m.applied > applied || m.role == "stopped"; };
    const bool woken = co_await node_.raft().wait_for(moved_on, follow_heartbeat);
    if (node_.raft().get_metrics().role == "stopped") {
      const json end = {{"event", "end"}, {"error", "shutting_down"}};
      co_await send(to_line(end));
      co_return;
    }
    if (!woken) {
      const json heartbeat = {{"event", "heartbeat"}, {"applied", applied.value}};
      co_await send(to_line(heartbeat));
    }
  }
}

// ---------------------------------------------------------------- operators

asio::awaitable<json> chat_service::members(const json& request) {
  const std::string action = required_text(request, "action");
  const coraft::node_id id = required_id(request, "id");
  if (action == "add") co_return co_await add_member(request, id);
  coraft::result<void> done;
  if (action == "promote") {
    // The voters as this member knows them; a member that does not lead
    // answers not_leader anyway.
    std::set<coraft::node_id> voters = node_.raft().get_metrics().config.voters;
    voters.insert(id);
    done = co_await node_.raft().change_membership(std::move(voters));
  } else if (action == "remove") {
    done = co_await node_.raft().remove_member(id);
  } else {
    throw request_error("action: expected add, promote or remove");
  }
  if (!done) co_return failure(done.error(), done.leader());
  co_return json{{"ok", true}};
}

// Records where the new member serves clients (so that any member can send
// clients there), then adds it as a learner. Addresses the request leaves out
// come from the cluster file.
asio::awaitable<json> chat_service::add_member(const json& request, coraft::node_id id) {
  const coraft::cluster_member* listed = node_.config().member(id);
  const std::optional<std::string> peer_address =
      listed ? optional_text(request, "peer_address").value_or(listed->peer_address)
             : optional_text(request, "peer_address");
  const std::optional<std::string> client_address =
      listed ? optional_text(request, "client_address").value_or(listed->client_address)
             : optional_text(request, "client_address");
  if (!peer_address || !client_address) {
    throw request_error("peer_address and client_address are needed for a member the cluster file does not list");
  }
  const json command = {{"op", "register"}, {"id", id.value}, {"client_address", *client_address}};
  std::string payload = coraft::encode_session_command({0, 0, to_text(command)});
  coraft::result<std::string> registered = co_await node_.raft().propose(std::move(payload));
  if (!registered) co_return failure(registered.error(), registered.leader());
  coraft::result<void> added = co_await node_.raft().add_learner(id, *peer_address);
  if (!added) co_return failure(added.error(), added.leader());
  co_return json{{"ok", true}};
}

asio::awaitable<json> chat_service::transfer(const json& request) {
  coraft::result<void> done = co_await node_.raft().transfer_leadership(required_id(request, "to"));
  if (!done) co_return failure(done.error(), done.leader());
  co_return json{{"ok", true}};
}

asio::awaitable<json> chat_service::snapshot() {
  coraft::result<coraft::log_id> taken = co_await node_.raft().trigger_snapshot();
  if (!taken) co_return failure(taken.error(), taken.leader());
  co_return json{{"ok", true},
                 {"node", node_.self().id.value},
                 {"last_included", {{"term", taken->term.value}, {"index", taken->index.value}}}};
}

// ---------------------------------------------------------------- redirects

json chat_service::failure(const std::error_code& error, const coraft::leader_hint& leader) const {
  json reply = error_reply(error_name(error), error.message());
  if (error == coraft::errc::not_leader && leader.id != coraft::no_node) reply["leader"] = leader_of(leader.id);
  return reply;
}

json chat_service::leader_of(coraft::node_id id) const {
  return {{"id", id.value}, {"client_address", client_address_of(id)}};
}

// From the cluster file, or else from the directory of members added later.
std::string chat_service::client_address_of(coraft::node_id id) const {
  if (const coraft::cluster_member* member = node_.config().member(id)) return member->client_address;
  const json directory = json::parse(machine_->read_local(R"({"q":"directory"})"));
  return directory.at("client_addresses").value(std::to_string(id.value), std::string());
}

}  // namespace chatlog
