#include <coraft/types.h>

#include <catch2/catch.hpp>

using namespace coraft;

TEST_CASE("a later term makes a log more up to date regardless of its length") {
  CHECK(log_id{term_t(3), index_t(1)} > log_id{term_t(2), index_t(100)});
  CHECK(log_id{term_t(2), index_t(5)} > log_id{term_t(2), index_t(4)});
  CHECK(log_id{term_t(2), index_t(5)} == log_id{term_t(2), index_t(5)});
}

TEST_CASE("a membership survives encoding and decoding") {
  membership config;
  config.voters = {node_id(1), node_id(2), node_id(300)};
  config.outgoing_voters = {node_id(1), node_id(4)};
  config.learners = {node_id(9)};
  config.addresses = {{node_id(1), "127.0.0.1:7001"}, {node_id(300), ""}};
  auto decoded = decode_membership(encode_membership(config));
  REQUIRE(decoded);
  CHECK(*decoded == config);
  CHECK(decoded->joint());
  CHECK(decoded->all_members() == std::set<node_id>{node_id(1), node_id(2), node_id(4), node_id(9), node_id(300)});
}

TEST_CASE("a damaged membership encoding is refused, not misread") {
  membership config;
  config.voters = {node_id(1), node_id(2)};
  config.addresses = {{node_id(1), "host:1"}};
  const std::string bytes = encode_membership(config);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) {
    INFO("truncated to " << cut << " bytes");
    CHECK_FALSE(decode_membership(std::string_view(bytes).substr(0, cut)));
  }
  CHECK_FALSE(decode_membership(bytes + "x"));
  std::string wrong_version = bytes;
  wrong_version[0] = 7;
  CHECK_FALSE(decode_membership(wrong_version));
}

TEST_CASE("shared bytes compare by content and share one buffer") {
  shared_bytes a(std::string("payload"));
  shared_bytes b = a;
  CHECK(a.view().data() == b.view().data());
  CHECK(a == shared_bytes(std::string_view("payload")));
  CHECK(shared_bytes().empty());
  CHECK(shared_bytes() == shared_bytes(std::string()));
}
