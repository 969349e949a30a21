#include "engine/peers.h"

namespace coraft::engine {

std::shared_ptr<network> peer_clients::client_for(node_id id, const membership& config) {
  static const std::string unknown_address;
  auto known = config.addresses.find(id);
  const std::string& address = known == config.addresses.end() ? unknown_address : known->second;
  peer& p = peers_[id];
  if (!p.client || p.address != address) {
    p.client = factory_->connect(id, address);
    p.address = address;
  }
  return p.client;
}

void peer_clients::keep_only(const membership& config) {
  std::erase_if(peers_, [&](const auto& peer) { return !config.contains(peer.first); });
}

void peer_clients::heard_from(node_id id, clock::time_point when) { peers_[id].last_contact = when; }

std::optional<clock::time_point> peer_clients::last_contact(node_id id) const {
  auto found = peers_.find(id);
  return found == peers_.end() ? std::nullopt : found->second.last_contact;
}

}  // namespace coraft::engine
