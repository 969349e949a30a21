// The smallest application of coraft: it compiles against the installed public
// headers only and checks a round trip through the library.
#include <coraft/types.h>

#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include <cstdio>

int main() {
  coraft::membership config;
  config.voters = {coraft::node_id(1), coraft::node_id(2), coraft::node_id(3)};
  bool decoded_same = false;
  asio::io_context io;
  asio::post(io, [&] { decoded_same = coraft::decode_membership(coraft::encode_membership(config)) == config; });
  io.run();
  std::printf("consumer: membership round trip %s\n", decoded_same ? "ok" : "FAILED");
  return decoded_same ? 0 : 1;
}
