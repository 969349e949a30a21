#include <coraft/types.h>

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
// table, every number as a LEB128 varint and every string length-prefixed.
constexpr char membership_format_version = 1;

void put_varint(std::string& out, std::uint64_t value) {
  while (value >= 0x80) {
    out.push_back(static_cast<char>((value & 0x7f) | 0x80));
    value >>= 7;
  }
  out.push_back(static_cast<char>(value));
}

void put_ids(std::string& out, const std::set<node_id>& ids) {
  put_varint(out, ids.size());
  for (node_id id : ids) put_varint(out, id.value);
}

class byte_reader {
 public:
  explicit byte_reader(std::string_view bytes) : rest_(bytes) {}

  std::optional<std::uint64_t> varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64 && !rest_.empty(); shift += 7) {
      auto byte = static_cast<unsigned char>(rest_.front());
      rest_.remove_prefix(1);
      value |= std::uint64_t(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    return std::nullopt;
  }

  std::optional<std::string> string() {
    auto length = varint();
    if (!length || *length > rest_.size()) return std::nullopt;
    std::string value(rest_.substr(0, *length));
    rest_.remove_prefix(*length);
    return value;
  }

  std::optional<std::set<node_id>> ids() {
    auto count = varint();
    if (!count || *count > rest_.size()) return std::nullopt;
    std::set<node_id> ids;
    for (std::uint64_t i = 0; i < *count; ++i) {
      auto id = varint();
      if (!id) return std::nullopt;
      ids.insert(node_id(*id));
    }
    return ids;
  }

  bool at_end() const { return rest_.empty(); }

 private:
  std::string_view rest_;
};

}  // namespace

std::string encode_membership(const membership& config) {
  std::string out(1, membership_format_version);
  put_ids(out, config.voters);
  put_ids(out, config.outgoing_voters);
  put_ids(out, config.learners);
  put_varint(out, config.addresses.size());
  for (const auto& [id, address] : config.addresses) {
    put_varint(out, id.value);
    put_varint(out, address.size());
    out += address;
  }
  return out;
}

std::optional<membership> decode_membership(std::string_view bytes) {
  if (bytes.empty() || bytes.front() != membership_format_version) return std::nullopt;
  byte_reader in(bytes.substr(1));
  membership config;
  auto voters = in.ids();
  auto outgoing = in.ids();
  auto learners = in.ids();
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
