// What the leveldb_state_machine tests share: a small key-value application on
// the base, log entries that carry its commands, and blocking calls.
#pragma once

#include <coraft/leveldb_state_machine.h>

#include "storage_conformance.h"

#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace coraft::testing {

// Commands are "<op> <key> <value>":
//   put K V          sets K, answers V
//   append K V       appends V to K's value, answers the new value
//   erase K          removes K, answers "erased"
//   erase-prefix P   removes every key starting with P, answers how many
//   list P           answers "K=V;" for each key starting with P, in order
//   incr K P         sets K to its number plus one (absent: 0), writes key
//                    "k/<new number>" holding P, answers the new number
// Queries are "get K" (answers the value or "<none>"), "list P" as above and
// "list-from P S N" (at most N keys starting with P, from S on).
class kv_machine final : public leveldb_state_machine {
 public:
  explicit kv_machine(const std::string& directory, leveldb_state_machine_options options = {})
      : leveldb_state_machine(directory, std::move(options)) {}

  // How often apply_command ran: a retried command must not run again.
  int commands_run = 0;

 protected:
  std::string apply_command(std::string_view command, const state_reader& state, state_writer& batch) override {
    ++commands_run;
    const auto [op, key, value] = split(command);
    if (op == "put") {
      batch.put(key, value);
      return std::string(value);
    }
    if (op == "append") {
      const std::string joined = state.get(key).value_or("") + std::string(value);
      batch.put(key, joined);
      return joined;
    }
    if (op == "erase") {
      batch.erase(key);
      return "erased";
    }
    if (op == "erase-prefix") {
      std::vector<std::string> doomed;
      state.scan(key, [&](std::string_view found, std::string_view) {
        doomed.emplace_back(found);
        return true;
      });
      for (const std::string& found : doomed) batch.erase(found);
      return std::to_string(doomed.size());
    }
    if (op == "list") return list(state, key, key, SIZE_MAX);
    if (op == "incr") {
      const std::string next = std::to_string(std::stoull(state.get(key).value_or("0")) + 1);
      batch.put(key, next);
      batch.put("k/" + next, value);
      return next;
    }
    return "unknown command";
  }

  std::string answer_query(std::string_view request, const state_reader& state) override {
    const auto [op, key, rest] = split(request);
    if (op == "get") return state.get(key).value_or("<none>");
    if (op == "list") return list(state, key, key, SIZE_MAX);
    if (op == "list-from") {
      const auto [start, limit, unused] = split(rest);
      return list(state, key, start, std::stoull(std::string(limit)));
    }
    return "unknown query";
  }

 private:
  struct parts {
    std::string_view first, second, rest;
  };

  static parts split(std::string_view text) {
    auto next = [&text] {
      const std::size_t space = text.find(' ');
      const std::string_view word = text.substr(0, space);
      text = space == std::string_view::npos ? std::string_view() : text.substr(space + 1);
      return word;
    };
    const std::string_view first = next();
    const std::string_view second = next();
    return {first, second, text};
  }

  static std::string list(const state_reader& state, std::string_view prefix, std::string_view start,
                          std::size_t limit) {
    std::string out;
    std::size_t count = 0;
    state.scan_from(prefix, start, [&](std::string_view key, std::string_view value) {
      out.append(key).append("=").append(value).append(";");
      return ++count < limit;
    });
    return out;
  }
};

inline log_entry command_entry(std::uint64_t index, const session_command& command, std::uint64_t term = 1) {
  return {term_t(term), index_t(index), entry_kind::command, shared_bytes(encode_session_command(command))};
}

// A command of no session.
inline log_entry command_entry(std::uint64_t index, std::string command, std::uint64_t term = 1) {
  return command_entry(index, session_command{0, 0, std::move(command)}, term);
}

inline log_entry membership_entry(std::uint64_t index, const membership& config, std::uint64_t term = 1) {
  return {term_t(term), index_t(index), entry_kind::membership, shared_bytes(encode_membership(config))};
}

inline membership voters(std::initializer_list<std::uint64_t> ids) {
  membership config;
  for (std::uint64_t id : ids) config.voters.insert(node_id(id));
  return config;
}

inline std::vector<std::string> apply_entries(state_machine& machine, std::vector<log_entry> entries) {
  return run_to_completion(machine.apply(std::move(entries)));
}

inline std::string apply_one(state_machine& machine, log_entry entry) {
  return apply_entries(machine, {std::move(entry)}).at(0);
}

inline applied_state applied(state_machine& machine) { return run_to_completion(machine.read_applied_state()); }

// Every application key and value, as read_state() sees them.
inline std::map<std::string, std::string> application_keys(const leveldb_state_machine& machine) {
  std::map<std::string, std::string> keys;
  machine.read_state([&](const state_reader& state) {
    state.scan("", [&](std::string_view key, std::string_view value) {
      keys.emplace(key, value);
      return true;
    });
  });
  return keys;
}

// Streams the current snapshot of `from` into `to` chunk by chunk, without
// holding more than one chunk, and installs it.
inline snapshot_meta transfer_snapshot(state_machine& from, state_machine& to) {
  const snapshot_meta meta = run_to_completion(from.current_snapshot()).value();
  auto source = run_to_completion(from.open_snapshot());
  auto sink = run_to_completion(to.begin_receive_snapshot(meta));
  while (auto chunk = run_to_completion(source->next_chunk())) run_to_completion(sink->write_chunk(std::move(*chunk)));
  run_to_completion(sink->finish());
  run_to_completion(to.install_received_snapshot(meta));
  return meta;
}

// The names in a directory, sorted.
inline std::vector<std::string> directory_names(const std::filesystem::path& directory) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) names.push_back(entry.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace coraft::testing
