#include <coraft/kv_store.h>

#include <catch2/catch.hpp>

using namespace coraft;

namespace {

kv::command put(std::uint64_t client, std::uint64_t sequence, std::string key, std::string value) {
  return {client, sequence, kv::operation::put, std::move(key), std::move(value)};
}

kv::command append(std::uint64_t client, std::uint64_t sequence, std::string key, std::string value) {
  return {client, sequence, kv::operation::append, std::move(key), std::move(value)};
}

}  // namespace

TEST_CASE("a command survives encoding and decoding, and damage is refused") {
  const kv::command cmd = append(7, 42, "key", std::string("v\0lue", 5));
  const std::string bytes = kv::encode(cmd);
  CHECK(kv::decode(bytes) == cmd);
  for (std::size_t cut = 0; cut < bytes.size(); ++cut) CHECK_FALSE(kv::decode(bytes.substr(0, cut)));
  CHECK_FALSE(kv::decode(bytes + "x"));
  std::string bad_op = bytes;
  bad_op[0] = 9;
  CHECK_FALSE(kv::decode(bad_op));
}

TEST_CASE("a command decoded as views points into its encoding") {
  const kv::command cmd = put(7, 42, "key", "value");
  const std::string bytes = kv::encode(cmd);
  const std::optional<kv::command_view> view = kv::decode_view(bytes);
  REQUIRE(view);
  CHECK(view->client == 7);
  CHECK(view->sequence == 42);
  CHECK(view->op == kv::operation::put);
  CHECK(view->key == "key");
  CHECK(view->value == "value");
  CHECK(view->value.data() > bytes.data());
  CHECK(view->value.data() + view->value.size() == bytes.data() + bytes.size());
  CHECK_FALSE(kv::decode_view(bytes.substr(0, bytes.size() - 1)));
}

TEST_CASE("get, put and append behave as a map of strings") {
  kv::store store;
  CHECK(store.apply(kv::command{0, 0, kv::operation::get, "k", ""}).empty());
  CHECK(store.apply(put(0, 0, "k", "a")) == "a");
  CHECK(store.apply(append(0, 0, "k", "b")) == "ab");
  CHECK(store.get("k") == "ab");
  CHECK(store.get("missing").empty());
}

TEST_CASE("a retried command is applied once and answered as the first time") {
  kv::store store;
  CHECK(store.apply(append(1, 1, "k", "x")) == "x");
  CHECK(store.apply(append(1, 1, "k", "x")) == "x");  // retry
  CHECK(store.get("k") == "x");
  CHECK(store.apply(append(1, 2, "k", "y")) == "xy");
  CHECK(store.apply(append(1, 1, "k", "x")).empty());  // a late duplicate of an older command
  CHECK(store.get("k") == "xy");
  CHECK(store.apply(append(2, 1, "k", "z")) == "xyz");  // another client has its own sequence
}

TEST_CASE("a snapshot restores values and sessions") {
  kv::store store;
  store.apply(put(1, 1, "a", "1"));
  store.apply(append(2, 5, "b", "2"));
  auto restored = kv::store::decode_snapshot(store.encode_snapshot());
  REQUIRE(restored);
  CHECK(*restored == store);
  CHECK(restored->apply(append(2, 5, "b", "2")) == "2");  // still deduplicated
  CHECK(restored->get("b") == "2");
  const std::string bytes = store.encode_snapshot();
  CHECK_FALSE(kv::store::decode_snapshot(bytes.substr(0, bytes.size() - 1)));
}

TEST_CASE("equal stores encode equal snapshots, whatever order their keys came in") {
  kv::store forward;
  kv::store backward;
  for (int key = 0; key < 100; ++key) forward.apply(put(0, 0, "key-" + std::to_string(key), "v"));
  for (int key = 99; key >= 0; --key) backward.apply(put(0, 0, "key-" + std::to_string(key), "v"));
  REQUIRE(forward == backward);
  CHECK(forward.encode_snapshot() == backward.encode_snapshot());
}
