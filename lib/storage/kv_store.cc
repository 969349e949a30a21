#include <coraft/kv_store.h>

#include "core/codec.h"

#include <algorithm>
#include <vector>

namespace coraft::kv {
namespace {

constexpr std::uint8_t snapshot_format_version = 1;

}  // namespace

std::string encode(const command& cmd) {
  std::string out(1, static_cast<char>(cmd.op));
  codec::put_varint(out, cmd.client);
  codec::put_varint(out, cmd.sequence);
  codec::put_string(out, cmd.key);
  codec::put_string(out, cmd.value);
  return out;
}

std::optional<command_view> decode_view(std::string_view bytes) {
  codec::reader in(bytes);
  auto op = in.byte();
  auto client = in.varint();
  auto sequence = in.varint();
  auto key = in.view();
  auto value = in.view();
  if (!op || *op > static_cast<std::uint8_t>(operation::append) || !client || !sequence || !key || !value ||
      !in.at_end()) {
    return std::nullopt;
  }
  return command_view{*client, *sequence, static_cast<operation>(*op), *key, *value};
}

std::optional<command> decode(std::string_view bytes) {
  const std::optional<command_view> view = decode_view(bytes);
  if (!view) return std::nullopt;
  return command{view->client, view->sequence, view->op, std::string(view->key), std::string(view->value)};
}

std::string store::apply(const command& cmd) {
  return apply(command_view{cmd.client, cmd.sequence, cmd.op, cmd.key, cmd.value});
}

std::string store::apply(const command_view& cmd) {
  if (cmd.client == 0) return execute(cmd);
  session& s = sessions_[cmd.client];
  if (cmd.sequence == s.last_sequence) return s.last_answer;
  if (cmd.sequence < s.last_sequence) return {};
  s.last_sequence = cmd.sequence;
  s.last_answer = execute(cmd);
  return s.last_answer;
}

std::string store::execute(const command_view& cmd) {
  switch (cmd.op) {
    case operation::get: return get(cmd.key);
    case operation::put: return value_of(cmd.key).assign(cmd.value);
    case operation::append: return value_of(cmd.key).append(cmd.value);
  }
  return {};
}

std::string& store::value_of(std::string_view key) {
  auto found = values_.find(key);
  if (found == values_.end()) found = values_.emplace(std::string(key), std::string()).first;
  return found->second;
}

std::string store::get(std::string_view key) const {
  auto found = values_.find(key);
  return found == values_.end() ? std::string() : found->second;
}

std::string store::encode_snapshot() const {
  std::string out(1, static_cast<char>(snapshot_format_version));
  codec::put_varint(out, values_.size());
  std::vector<const std::pair<const std::string, std::string>*> sorted;
  sorted.reserve(values_.size());
  for (const auto& pair : values_) sorted.push_back(&pair);
  std::sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
  for (const auto* pair : sorted) {
    codec::put_string(out, pair->first);
    codec::put_string(out, pair->second);
  }
  codec::put_varint(out, sessions_.size());
  for (const auto& [client, s] : sessions_) {
    codec::put_varint(out, client);
    codec::put_varint(out, s.last_sequence);
    codec::put_string(out, s.last_answer);
  }
  return out;
}

std::optional<store> store::decode_snapshot(std::string_view bytes) {
  codec::reader in(bytes);
  if (in.byte() != snapshot_format_version) return std::nullopt;
  store decoded;
  auto value_count = in.varint();
  if (!value_count) return std::nullopt;
  for (std::uint64_t i = 0; i < *value_count; ++i) {
    auto key = in.string();
    auto value = in.string();
    if (!key || !value) return std::nullopt;
    decoded.values_.emplace(std::move(*key), std::move(*value));
  }
  auto session_count = in.varint();
  if (!session_count) return std::nullopt;
  for (std::uint64_t i = 0; i < *session_count; ++i) {
    auto client = in.varint();
    auto sequence = in.varint();
    auto answer = in.string();
    if (!client || !sequence || !answer) return std::nullopt;
    decoded.sessions_.emplace(*client, session{*sequence, std::move(*answer)});
  }
  if (!in.at_end()) return std::nullopt;
  return decoded;
}

}  // namespace coraft::kv
