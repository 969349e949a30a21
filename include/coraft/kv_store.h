// A small replicated key-value map with client sessions: what the examples,
// the tests and the simulator replicate. Commands are applied exactly once even
// when a client retries them (same client id and sequence number), because the
// store remembers each client's last sequence number and its answer.
// Free of Asio and I/O; coraft::memory_kv_state_machine serves it to the engine.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

namespace coraft::kv {

enum class operation : std::uint8_t { get = 0, put = 1, append = 2 };

struct command {
  // 0 means "no session": the command is not deduplicated.
  std::uint64_t client = 0;
  // Increases by one with each new command of a client; a retry reuses it.
  std::uint64_t sequence = 0;
  operation op = operation::get;
  std::string key;
  std::string value;  // put: the new value; append: the suffix
  friend bool operator==(const command&, const command&) = default;
};

// A command whose key and value point into its encoding, or into a command:
// what the store applies, so that applying copies only what it keeps.
struct command_view {
  std::uint64_t client = 0;
  std::uint64_t sequence = 0;
  operation op = operation::get;
  std::string_view key;
  std::string_view value;
};

std::string encode(const command& cmd);
std::optional<command> decode(std::string_view bytes);
// Like decode(), without copying: the views point into `bytes`.
std::optional<command_view> decode_view(std::string_view bytes);

class store {
 public:
  // Applies `cmd` and returns its answer: get answers the value ("" when the
  // key is missing); put and append answer the key's new value. A retry of the
  // client's last command returns the first answer without applying it again;
  // an older sequence number answers "" and changes nothing.
  std::string apply(const command_view& cmd);
  std::string apply(const command& cmd);

  // The current value of `key` ("" when missing), without a session.
  std::string get(std::string_view key) const;
  std::size_t size() const { return values_.size(); }

  std::string encode_snapshot() const;
  // nullopt when the bytes are not a snapshot of a store.
  static std::optional<store> decode_snapshot(std::string_view bytes);

  friend bool operator==(const store&, const store&) = default;

 private:
  struct session {
    std::uint64_t last_sequence = 0;
    std::string last_answer;
    friend bool operator==(const session&, const session&) = default;
  };
  std::string execute(const command_view& cmd);
  // The value stored under `key`, inserted empty when missing.
  std::string& value_of(std::string_view key);

  // Hashes std::string and std::string_view alike, so lookups by a view copy nothing.
  struct key_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  // Unordered for speed; snapshots list the keys sorted, so equal stores encode equally.
  std::unordered_map<std::string, std::string, key_hash, std::equal_to<>> values_;
  std::map<std::uint64_t, session> sessions_;  // per client id
};

}  // namespace coraft::kv
