// The sending side of a node: one network client per peer, and what the node
// last heard from each. Strand-only.
#pragma once

#include "engine/waiters.h"

#include <coraft/network.h>
#include <coraft/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace coraft::engine {

class peer_clients {
 public:
  explicit peer_clients(std::shared_ptr<network_factory> factory) : factory_(std::move(factory)) {}

  // The client for `peer`, connected on first use and replaced when the
  // peer's address in `config` changes. Calls in flight keep their client.
  std::shared_ptr<network> client_for(node_id peer, const membership& config);

  // `peer` answered a request just now.
  void heard_from(node_id peer, clock::time_point when);
  // When `peer` last answered; nullopt when it never did.
  std::optional<clock::time_point> last_contact(node_id peer) const;

  // Drops the clients of nodes no longer in `config`, or every client (calls
  // in flight finish with theirs).
  void keep_only(const membership& config);
  void clear() { peers_.clear(); }

 private:
  struct peer {
    std::string address;
    std::shared_ptr<network> client;
    std::optional<clock::time_point> last_contact;
  };
  std::shared_ptr<network_factory> factory_;
  std::map<node_id, peer> peers_;
};

}  // namespace coraft::engine
