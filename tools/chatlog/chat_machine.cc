#include "chat_machine.h"

#include "chat_rules.h"
#include "protocol.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <optional>

namespace chatlog {
namespace {

// Keys (the base keeps them apart from its own):
//   "c" + room                  the room's last sequence number, in decimal
//   "m" + room + "/" + seq      one message as JSON; seq as 20 decimal digits so that keys sort by it
//   "d" + id                    the client address of member `id`
// Room names cannot contain '/', so no room's messages run into another's.
std::string counter_key(std::string_view room) { return "c" + std::string(room); }
std::string messages_prefix(std::string_view room) { return "m" + std::string(room) + "/"; }
std::string directory_key(std::uint64_t id) { return "d" + std::to_string(id); }

std::string message_key(std::string_view room, std::uint64_t seq) {
  char digits[21];
  std::snprintf(digits, sizeof digits, "%020llu", static_cast<unsigned long long>(seq));
  return messages_prefix(room) + digits;
}

std::uint64_t parse_count(std::string_view text) {
  std::uint64_t value = 0;
  std::from_chars(text.data(), text.data() + text.size(), value);
  return value;
}

std::uint64_t last_seq(const coraft::state_reader& state, std::string_view room) {
  return parse_count(state.get(counter_key(room)).value_or("0"));
}

std::string invalid(const std::string& problem) {
  return to_text({{"error", "bad_request"}, {"message", problem}});
}

// The parsed object, or nullopt when `text` is not a JSON object.
std::optional<json> parse_object(std::string_view text) {
  json value = json::parse(text, nullptr, false);
  if (value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

std::optional<std::string> string_field(const json& object, const char* name) {
  auto found = object.find(name);
  if (found == object.end() || !found->is_string()) return std::nullopt;
  return found->get<std::string>();
}

std::optional<std::uint64_t> number_field(const json& object, const char* name) {
  auto found = object.find(name);
  if (found == object.end() || !found->is_number_unsigned()) return std::nullopt;
  return found->get<std::uint64_t>();
}

std::string apply_post(const json& command, const coraft::state_reader& state, coraft::state_writer& batch) {
  const auto room = string_field(command, "room");
  const auto user = string_field(command, "user");
  const auto text = string_field(command, "text");
  const auto time_ms = number_field(command, "time_ms");
  if (!room || !user || !text || !time_ms) return invalid("post needs room, user, text and time_ms");
  if (auto problem = check_room(*room)) return invalid(*problem);
  if (auto problem = check_user(*user)) return invalid(*problem);
  if (auto problem = check_text(*text)) return invalid(*problem);
  const std::uint64_t seq = last_seq(state, *room) + 1;
  batch.put(counter_key(*room), std::to_string(seq));
  batch.put(message_key(*room, seq), to_text({{"seq", seq}, {"user", *user}, {"text", *text}, {"time_ms", *time_ms}}));
  return to_text({{"seq", seq}, {"time_ms", *time_ms}});
}

std::string apply_register(const json& command, coraft::state_writer& batch) {
  const auto id = number_field(command, "id");
  const auto address = string_field(command, "client_address");
  if (!id || *id == 0 || !address || address->empty()) return invalid("register needs id and client_address");
  batch.put(directory_key(*id), *address);
  return "{}";
}

json read_messages(const coraft::state_reader& state, std::string_view room, std::uint64_t from,
                   std::uint64_t limit) {
  json messages = json::array();
  const std::string prefix = messages_prefix(room);
  state.scan_from(prefix, message_key(room, from), [&](std::string_view, std::string_view value) {
    messages.push_back(json::parse(value));
    return messages.size() < limit;
  });
  return messages;
}

std::string answer_tail(const json& query, const coraft::state_reader& state) {
  const auto room = string_field(query, "room");
  if (!room) return invalid("tail needs a room");
  if (auto problem = check_room(*room)) return invalid(*problem);
  const std::uint64_t last = last_seq(state, *room);
  std::uint64_t from = number_field(query, "from").value_or(1);
  std::uint64_t limit = number_field(query, "limit").value_or(max_tail_limit);
  if (auto wanted = number_field(query, "last")) {
    limit = *wanted;
    from = last >= *wanted ? last - *wanted + 1 : 1;
  }
  limit = std::min(limit, max_tail_limit);
  json messages = limit == 0 ? json::array() : read_messages(state, *room, std::max<std::uint64_t>(from, 1), limit);
  return to_text({{"messages", std::move(messages)}, {"last", last}});
}

std::string answer_rooms(const coraft::state_reader& state) {
  json rooms = json::array();
  state.scan("c", [&](std::string_view key, std::string_view value) {
    rooms.push_back({{"room", key.substr(1)}, {"messages", parse_count(value)}});
    return true;
  });
  return to_text({{"rooms", std::move(rooms)}});
}

std::string answer_directory(const coraft::state_reader& state) {
  json addresses = json::object();
  state.scan("d", [&](std::string_view key, std::string_view value) {
    addresses[std::string(key.substr(1))] = value;
    return true;
  });
  return to_text({{"client_addresses", std::move(addresses)}});
}

std::string answer(std::string_view request, const coraft::state_reader& state) {
  const std::optional<json> query = parse_object(request);
  const std::optional<std::string> kind = query ? string_field(*query, "q") : std::nullopt;
  if (!kind) return invalid("a query is a JSON object with a string \"q\"");
  if (*kind == "tail") return answer_tail(*query, state);
  if (*kind == "rooms") return answer_rooms(state);
  if (*kind == "directory") return answer_directory(state);
  return invalid("unknown query \"" + *kind + "\"");
}

}  // namespace

chat_machine::chat_machine(const std::string& directory) : coraft::leveldb_state_machine(directory) {}

std::string chat_machine::read_local(std::string_view query) const {
  std::string answered;
  read_state([&](const coraft::state_reader& state) { answered = answer(query, state); });
  return answered;
}

std::string chat_machine::apply_command(std::string_view text, const coraft::state_reader& state,
                                        coraft::state_writer& batch) {
  const std::optional<json> command = parse_object(text);
  const std::optional<std::string> op = command ? string_field(*command, "op") : std::nullopt;
  if (!op) return invalid("a command is a JSON object with a string \"op\"");
  if (*op == "post") return apply_post(*command, state, batch);
  if (*op == "register") return apply_register(*command, batch);
  return invalid("unknown command \"" + *op + "\"");
}

std::string chat_machine::answer_query(std::string_view request, const coraft::state_reader& state) {
  return answer(request, state);
}

}  // namespace chatlog
