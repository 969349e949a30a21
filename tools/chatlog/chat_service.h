// What `chatlog serve` answers on its client port: the requests of the
// protocol (README.md, section "chatlog") carried out on a tcp_node that
// replicates a chat_machine.
#pragma once

#include "chat_machine.h"
#include "line_stream.h"
#include "protocol.h"

#include <coraft/raft.h>
#include <coraft/tcp_node.h>

#include <asio/awaitable.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace chatlog {

class chat_service {
 public:
  chat_service(coraft::tcp_node& node, std::shared_ptr<chat_machine> machine);

  // Answers the requests of one connection in order, until the client closes
  // it. A follow request turns the connection into a stream of messages.
  // Malformed requests get an error reply; only a broken connection ends it.
  asio::awaitable<void> serve(line_stream& stream);

 private:
  struct follow_request {
    std::string room;
    std::uint64_t from = 1;
  };
  // What a request line asks for: a reply, or to become a follow stream.
  struct outcome {
    json reply;
    std::optional<follow_request> follow;
  };

  asio::awaitable<std::optional<std::string>> read_request(line_stream& stream);
  asio::awaitable<outcome> handle(const std::string& line);
  asio::awaitable<json> answer(const std::string& op, const json& request);
  asio::awaitable<json> post(const json& request);
  asio::awaitable<json> tail(const json& request);
  asio::awaitable<json> rooms(const json& request);
  asio::awaitable<json> read(const json& request, const json& query);
  json status() const;
  asio::awaitable<json> members(const json& request);
  asio::awaitable<json> add_member(const json& request, coraft::node_id id);
  asio::awaitable<json> transfer(const json& request);
  asio::awaitable<json> snapshot();
  asio::awaitable<void> follow(line_stream& stream, follow_request request);

  // The reply for a failed coraft call; not_leader names the leader's client address.
  json failure(const std::error_code& error, const coraft::leader_hint& leader) const;
  // The reply for the chat machine's answer to a command or query.
  static json machine_reply(const std::string& answer);
  json leader_of(coraft::node_id id) const;
  std::string client_address_of(coraft::node_id id) const;

  coraft::tcp_node& node_;
  std::shared_ptr<chat_machine> machine_;
};

}  // namespace chatlog
