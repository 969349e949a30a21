#include <coraft/types.h>

#include "core/codec.h"

#include <ostream>

namespace coraft {

shared_bytes::shared_bytes(std::string bytes) : data_(std::make_shared<const std::string>(std::move(bytes))) {}

std::set<node_id> membership::all_members() const {
  std::set<node_id> all = voters;
  all.insert(outgoing_voters.begin(), outgoing_voters.end());
  all.insert(learners.begin(), learners.end());
  return all;
}

namespace {

// The membership encoding: a version byte, then three id sets and the address
// table, every number a varint and every string length-prefixed.
constexpr std::uint8_t membership_format_version = 1;

void put_ids(std::string& out, const std::set<node_id>& ids) {
  codec::put_varint(out, ids.size());
  for (node_id id : ids) codec::put_varint(out, id.value);
}

std::optional<std::set<node_id>> read_ids(codec::reader& in) {
  auto count = in.varint();
  if (!count || *count > in.rest().size()) return std::nullopt;
  std::set<node_id> ids;
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto id = in.varint();
    if (!id) return std::nullopt;
    ids.insert(node_id(*id));
  }
  return ids;
}

}  // namespace

std::string encode_membership(const membership& config) {
  std::string out(1, static_cast<char>(membership_format_version));
  put_ids(out, config.voters);
  put_ids(out, config.outgoing_voters);
  put_ids(out, config.learners);
  codec::put_varint(out, config.addresses.size());
  for (const auto& [id, address] : config.addresses) {
    codec::put_varint(out, id.value);
    codec::put_string(out, address);
  }
  return out;
}

std::optional<membership> decode_membership(std::string_view bytes) {
  codec::reader in(bytes);
  if (in.byte() != membership_format_version) return std::nullopt;
  membership config;
  auto voters = read_ids(in);
  auto outgoing = read_ids(in);
  auto learners = read_ids(in);
  auto address_count = in.varint();
  if (!voters || !outgoing || !learners || !address_count) return std::nullopt;
  config.voters = std::move(*voters);
  config.outgoing_voters = std::move(*outgoing);
  config.learners = std::move(*learners);
  for (std::uint64_t i = 0; i < *address_count; ++i) {
    auto id = in.varint();
    auto address = in.string();
    if (!id || !address) return std::nullopt;
    config.addresses.emplace(node_id(*id), std::move(*address));
  }
  if (!in.at_end()) return std::nullopt;
  return config;
}

std::ostream& operator<<(std::ostream& out, term_t term) { return out << "t" << term.value; }
std::ostream& operator<<(std::ostream& out, index_t index) { return out << "i" << index.value; }
std::ostream& operator<<(std::ostream& out, node_id id) { return out << "n" << id.value; }
std::ostream& operator<<(std::ostream& out, const log_id& id) { return out << "(" << id.term << "," << id.index << ")"; }

}  // namespace coraft
