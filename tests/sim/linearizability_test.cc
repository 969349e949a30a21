#include "linearizability.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "history_io.h"

using namespace coraft::lin;

namespace {

constexpr timestamp unknown = unknown_completion;

kv_operation put(int client, std::string value, timestamp invoke, timestamp complete) {
  return {.client = client,
          .kind = kv_kind::put,
          .key = "x",
          .value = std::move(value),
          .invoke = invoke,
          .complete = complete};
}

kv_operation append(int client, std::string value, timestamp invoke, timestamp complete) {
  return {.client = client,
          .kind = kv_kind::append,
          .key = "x",
          .value = std::move(value),
          .invoke = invoke,
          .complete = complete};
}

kv_operation get(int client, std::optional<std::string> output, timestamp invoke, timestamp complete) {
  return {.client = client,
          .kind = kv_kind::get,
          .key = "x",
          .output = std::move(output),
          .invoke = invoke,
          .complete = complete};
}

kv_operation on_key(std::string key, kv_operation op) {
  op.key = std::move(key);
  return op;
}

register_operation register_read(int client, register_value value, timestamp invoke, timestamp complete) {
  return {.client = client, .kind = register_kind::read, .value = value, .invoke = invoke, .complete = complete};
}

register_operation register_write(int client, std::int64_t value, timestamp invoke, timestamp complete) {
  return {.client = client, .kind = register_kind::write, .value = value, .invoke = invoke, .complete = complete};
}

register_operation register_cas(int client, std::int64_t expected, std::int64_t value, register_outcome outcome,
                                timestamp invoke, timestamp complete) {
  return {.client = client,
          .kind = register_kind::cas,
          .value = value,
          .expected = expected,
          .outcome = outcome,
          .invoke = invoke,
          .complete = complete};
}

register_operation unknown_register_write(int client, std::int64_t value, timestamp invoke) {
  auto op = register_write(client, value, invoke, unknown);
  op.outcome = register_outcome::unknown;
  return op;
}

verdict kv_verdict(const std::vector<kv_operation>& history) { return check_kv(history).verdict; }
verdict register_verdict(const std::vector<register_operation>& history) { return check_register(history).verdict; }

// 100 puts, each followed by a get that sees it: linearizable in a few hundred
// search steps.
std::vector<kv_operation> long_sequential_history(const std::string& key) {
  std::vector<kv_operation> history;
  for (timestamp i = 0; i < 100; ++i) {
    history.push_back(on_key(key, put(1, std::to_string(i), 4 * i, 4 * i + 1)));
    history.push_back(on_key(key, get(2, std::to_string(i), 4 * i + 2, 4 * i + 3)));
  }
  return history;
}

}  // namespace

// ---------------------------------------------------------------------------
// Key-value model

TEST_CASE("overlapping writes may take effect in either order") {
  CHECK(kv_verdict({put(1, "a", 0, 10), put(2, "b", 1, 11), get(3, "a", 12, 13)}) == verdict::linearizable);
  CHECK(kv_verdict({put(1, "a", 0, 10), put(2, "b", 1, 11), get(3, "b", 12, 13)}) == verdict::linearizable);
  CHECK(kv_verdict({put(1, "a", 0, 10), put(2, "b", 1, 11), get(3, "c", 12, 13)}) == verdict::not_linearizable);
}

TEST_CASE("a read that misses a write completed before it began is not linearizable") {
  const auto result = check_kv(std::vector{put(1, "a", 0, 1), put(2, "b", 2, 3), get(3, "a", 4, 5)});
  CHECK(result.verdict == verdict::not_linearizable);
  CHECK(result.key == "x");
  CHECK_THAT(result.explanation, Catch::Contains("client 3: get(\"x\") -> \"a\" [4, 5]"));
  CHECK_THAT(result.explanation, Catch::Contains("state after it: \"b\""));
}

TEST_CASE("a read overlapping a write may see the old or the new value") {
  CHECK(kv_verdict({put(1, "a", 0, 1), put(2, "b", 2, 10), get(3, "a", 3, 4), get(3, "b", 5, 6)}) ==
        verdict::linearizable);
  CHECK(kv_verdict({put(1, "a", 0, 1), put(2, "b", 2, 10), get(3, "b", 3, 4), get(3, "a", 5, 6)}) ==
        verdict::not_linearizable);
}

TEST_CASE("sequential appends apply in real-time order") {
  CHECK(kv_verdict({append(1, "x", 0, 1), append(2, "y", 2, 3), get(3, "xy", 4, 5)}) == verdict::linearizable);
  CHECK(kv_verdict({append(1, "x", 0, 1), append(2, "y", 2, 3), get(3, "yx", 4, 5)}) == verdict::not_linearizable);
}

TEST_CASE("concurrent appends may apply in either order but only once") {
  CHECK(kv_verdict({append(1, "x", 0, 5), append(2, "y", 1, 6), get(3, "yx", 7, 8)}) == verdict::linearizable);
  CHECK(kv_verdict({append(1, "x", 0, 5), append(2, "y", 1, 6), get(3, "xyx", 7, 8)}) == verdict::not_linearizable);
}

TEST_CASE("a missing key reads as empty") {
  CHECK(kv_verdict({get(1, "", 0, 1)}) == verdict::linearizable);
  CHECK(kv_verdict({get(1, "a", 0, 1)}) == verdict::not_linearizable);
  CHECK(kv_verdict({put(1, "a", 0, 1), get(2, "", 2, 3)}) == verdict::not_linearizable);
}

TEST_CASE("operations whose intervals share an instant are concurrent") {
  CHECK(kv_verdict({put(1, "a", 0, 5), get(2, "", 5, 6)}) == verdict::linearizable);
  CHECK(kv_verdict({put(1, "a", 0, 5), get(2, "", 6, 7)}) == verdict::not_linearizable);
}

TEST_CASE("a timed-out put may have taken effect") {
  CHECK(kv_verdict({put(1, "a", 0, 1), put(2, "b", 2, unknown), get(3, "b", 5, 6), get(3, "b", 7, 8)}) ==
        verdict::linearizable);
}

TEST_CASE("a timed-out put may never have taken effect") {
  CHECK(kv_verdict({put(1, "a", 0, 1), put(2, "b", 2, unknown), get(3, "a", 5, 6), get(3, "a", 7, 8)}) ==
        verdict::linearizable);
}

TEST_CASE("a timed-out put may take effect long after it timed out") {
  CHECK(kv_verdict({put(1, "a", 0, 1), put(2, "b", 2, unknown), get(3, "a", 50, 60), get(3, "b", 70, 80)}) ==
        verdict::linearizable);
}

TEST_CASE("a timed-out put's value cannot appear and then disappear") {
  CHECK(kv_verdict({put(1, "a", 0, 1), put(2, "b", 2, unknown), get(3, "b", 3, 4), get(3, "a", 5, 6)}) ==
        verdict::not_linearizable);
}

TEST_CASE("a timed-out append applies at most once") {
  CHECK(kv_verdict({append(1, "x", 0, unknown), get(2, "x", 1, 2), get(2, "x", 3, 4)}) == verdict::linearizable);
  CHECK(kv_verdict({append(1, "x", 0, unknown), get(2, "x", 1, 2), get(2, "xx", 3, 4)}) == verdict::not_linearizable);
}

TEST_CASE("a get with unknown outcome constrains nothing") {
  CHECK(kv_verdict({put(1, "a", 0, 1), get(2, std::nullopt, 2, unknown), get(3, "a", 4, 5)}) == verdict::linearizable);
}

TEST_CASE("keys are checked independently and the failing key is named") {
  const auto result = check_kv(std::vector{on_key("good", put(1, "a", 0, 1)), on_key("good", get(2, "a", 2, 3)),
                                           on_key("bad", put(1, "a", 4, 5)), on_key("bad", get(2, "", 6, 7))});
  CHECK(result.verdict == verdict::not_linearizable);
  CHECK(result.key == "bad");
}

TEST_CASE("the same value on two keys does not let one key's write explain the other's read") {
  CHECK(kv_verdict({on_key("y", put(1, "a", 0, 1)), get(2, "a", 2, 3)}) == verdict::not_linearizable);
}

TEST_CASE("an operation completing before its invocation is refused") {
  CHECK_THROWS_AS(check_kv(std::vector{put(1, "a", 5, 4)}), std::invalid_argument);
}

// ---------------------------------------------------------------------------
// Compare-and-set register

TEST_CASE("a register never written reads nil") {
  CHECK(register_verdict({register_read(1, std::nullopt, 0, 1)}) == verdict::linearizable);
  CHECK(register_verdict({register_write(1, 3, 0, 1), register_read(2, std::nullopt, 2, 3)}) ==
        verdict::not_linearizable);
}

TEST_CASE("overlapping register writes may take effect in either order") {
  CHECK(register_verdict({register_write(1, 1, 0, 10), register_write(2, 2, 1, 11), register_read(3, 1, 12, 13)}) ==
        verdict::linearizable);
  CHECK(register_verdict({register_write(1, 1, 0, 10), register_write(2, 2, 1, 11), register_read(3, 2, 12, 13)}) ==
        verdict::linearizable);
}

TEST_CASE("a stale register read is not linearizable") {
  CHECK(register_verdict({register_write(1, 1, 0, 1), register_write(2, 2, 2, 3), register_read(3, 1, 4, 5)}) ==
        verdict::not_linearizable);
}

TEST_CASE("a successful cas requires the expected value") {
  CHECK(register_verdict({register_write(1, 1, 0, 1), register_cas(2, 1, 2, register_outcome::ok, 2, 3),
                          register_read(3, 2, 4, 5)}) == verdict::linearizable);
  CHECK(register_verdict({register_write(1, 1, 0, 1), register_cas(2, 0, 2, register_outcome::ok, 2, 3)}) ==
        verdict::not_linearizable);
}

TEST_CASE("a failed cas definitely had no effect") {
  const auto failed = register_cas(2, 1, 2, register_outcome::failed, 2, 3);
  CHECK(register_verdict({register_write(1, 1, 0, 1), failed, register_read(3, 1, 4, 5)}) == verdict::linearizable);
  CHECK(register_verdict({register_write(1, 1, 0, 1), failed, register_read(3, 2, 4, 5)}) == verdict::not_linearizable);
}

TEST_CASE("a cas with unknown outcome takes effect late or never, but once") {
  const auto timed_out = register_cas(2, 1, 2, register_outcome::unknown, 2, unknown);
  CHECK(register_verdict({register_write(1, 1, 0, 1), timed_out, register_read(3, 1, 4, 5),
                          register_read(3, 2, 6, 7)}) == verdict::linearizable);
  CHECK(register_verdict({register_write(1, 1, 0, 1), timed_out, register_read(3, 1, 4, 5),
                          register_read(3, 1, 6, 7)}) == verdict::linearizable);
  CHECK(register_verdict({register_write(1, 1, 0, 1), timed_out, register_read(3, 2, 4, 5),
                          register_read(3, 1, 6, 7)}) == verdict::not_linearizable);
}

TEST_CASE("a cas with unknown outcome cannot apply when its expected value never held") {
  const auto timed_out = register_cas(2, 5, 2, register_outcome::unknown, 2, unknown);
  CHECK(register_verdict({register_write(1, 1, 0, 1), timed_out, register_read(3, 2, 4, 5)}) ==
        verdict::not_linearizable);
}

TEST_CASE("a register write with unknown outcome may apply or not") {
  CHECK(register_verdict({register_write(1, 1, 0, 1), unknown_register_write(2, 2, 2), register_read(3, 2, 4, 5)}) ==
        verdict::linearizable);
  CHECK(register_verdict({register_write(1, 1, 0, 1), unknown_register_write(2, 2, 2), register_read(3, 1, 4, 5)}) ==
        verdict::linearizable);
  CHECK(register_verdict({register_write(1, 1, 0, 1), unknown_register_write(2, 2, 2), register_read(3, 2, 4, 5),
                          register_read(3, 1, 6, 7)}) == verdict::not_linearizable);
}

TEST_CASE("a read with unknown outcome constrains nothing") {
  auto lost_read = register_read(2, 7, 2, unknown);
  lost_read.outcome = register_outcome::unknown;
  CHECK(register_verdict({register_write(1, 1, 0, 1), lost_read, register_read(3, 1, 4, 5)}) == verdict::linearizable);
}

// ---------------------------------------------------------------------------
// Agreement with an exhaustive search on small random histories

namespace {

// Whether `candidate` may take effect next: no operation still to place
// completed before it was invoked.
template <class Operation>
bool may_come_next(const std::vector<Operation>& history, const std::vector<bool>& placed, std::size_t candidate) {
  for (std::size_t i = 0; i < history.size(); ++i) {
    if (!placed[i] && history[i].complete < history[candidate].invoke) return false;
  }
  return true;
}

// Tries every order of the operations not yet placed that respects real
// time; operations of unknown outcome may also be left out.
template <class Operation, class State, class Apply, class IsUnknown>
bool some_order_fits(const std::vector<Operation>& history, std::vector<bool>& placed, const State& state,
                     const Apply& apply, const IsUnknown& is_unknown) {
  bool only_unknown_left = true;
  for (std::size_t i = 0; i < history.size(); ++i) only_unknown_left &= placed[i] || is_unknown(history[i]);
  if (only_unknown_left) return true;
  for (std::size_t i = 0; i < history.size(); ++i) {
    if (placed[i] || !may_come_next(history, placed, i)) continue;
    const auto next = apply(state, history[i]);
    if (!next) continue;
    placed[i] = true;
    const bool fits = some_order_fits(history, placed, *next, apply, is_unknown);
    placed[i] = false;
    if (fits) return true;
  }
  return false;
}

verdict kv_verdict_by_enumeration(const std::vector<kv_operation>& history) {
  auto apply = [](const std::string& value, const kv_operation& op) -> std::optional<std::string> {
    if (op.kind == kv_kind::put) return op.value;
    if (op.kind == kv_kind::append) return value + op.value;
    if (op.output && *op.output != value) return std::nullopt;
    return value;
  };
  auto is_unknown = [](const kv_operation& op) {
    return op.complete == unknown || (op.kind == kv_kind::get && !op.output);
  };
  std::vector<bool> placed(history.size());
  return some_order_fits(history, placed, std::string(), apply, is_unknown) ? verdict::linearizable
                                                                            : verdict::not_linearizable;
}

verdict register_verdict_by_enumeration(std::vector<register_operation> history) {
  std::erase_if(history, [](const register_operation& op) { return op.outcome == register_outcome::failed; });
  // nullopt: the operation cannot take effect on `value`.
  auto apply = [](const register_value& value, const register_operation& op) -> std::optional<register_value> {
    const bool known = op.outcome == register_outcome::ok;
    if (op.kind == register_kind::write) return std::optional<register_value>(op.value);
    if (op.kind == register_kind::cas && value == op.expected) return std::optional<register_value>(op.value);
    if (op.kind == register_kind::cas && known) return std::nullopt;
    if (op.kind == register_kind::read && known && op.value != value) return std::nullopt;
    return std::optional<register_value>(value);
  };
  auto is_unknown = [](const register_operation& op) { return op.outcome == register_outcome::unknown; };
  std::vector<bool> placed(history.size());
  return some_order_fits(history, placed, register_value(), apply, is_unknown) ? verdict::linearizable
                                                                               : verdict::not_linearizable;
}

template <class T>
const T& pick(std::mt19937& random, const std::vector<T>& choices) {
  return choices[std::uniform_int_distribution<std::size_t>(0, choices.size() - 1)(random)];
}

// Up to 7 operations on one key over a short stretch of time, so that
// intervals overlap and touch often; one in five has an unknown outcome.
std::vector<kv_operation> random_kv_history(std::mt19937& random) {
  std::uniform_int_distribution<int> size(1, 7), start(0, 8), length(0, 4), one_in_five(0, 4);
  std::vector<kv_operation> history;
  for (int client = size(random); client > 0; --client) {
    auto op = get(client, std::nullopt, start(random), 0);
    op.complete = one_in_five(random) == 0 ? unknown : op.invoke + length(random);
    op.kind = pick(random, std::vector{kv_kind::get, kv_kind::put, kv_kind::append});
    if (op.kind != kv_kind::get) op.value = pick(random, std::vector<std::string>{"a", "b"});
    if (op.kind == kv_kind::get && op.complete != unknown) {
      op.output = pick(random, std::vector<std::string>{"", "a", "b", "ab", "ba", "aa"});
    }
    history.push_back(op);
  }
  return history;
}

std::vector<register_operation> random_register_history(std::mt19937& random) {
  std::uniform_int_distribution<int> size(1, 7), start(0, 8), length(0, 4);
  const std::vector<register_value> values{std::nullopt, 1, 2};
  std::vector<register_operation> history;
  for (int client = size(random); client > 0; --client) {
    auto op = register_read(client, pick(random, values), start(random), 0);
    op.kind = pick(random, std::vector{register_kind::read, register_kind::write, register_kind::cas});
    if (op.kind != register_kind::read) op.value = pick(random, std::vector<register_value>{1, 2});
    if (op.kind == register_kind::cas) op.expected = pick(random, values);
    op.outcome = pick(random, std::vector{register_outcome::ok, register_outcome::ok, register_outcome::ok,
                                          register_outcome::failed, register_outcome::unknown});
    op.complete = op.outcome == register_outcome::unknown ? unknown : op.invoke + length(random);
    history.push_back(op);
  }
  return history;
}

}  // namespace

TEST_CASE("the search agrees with trying every order on small random kv histories") {
  std::mt19937 random(20240611);
  std::map<verdict, int> verdicts;
  for (int round = 0; round < 3000; ++round) {
    const auto history = random_kv_history(random);
    const auto expected = kv_verdict_by_enumeration(history);
    ++verdicts[expected];
    std::ostringstream shown;
    write_json_lines(shown, history);
    INFO(shown.str());
    REQUIRE(check_kv(history).verdict == expected);
  }
  // Both answers must be common, or the comparison proves little.
  CHECK(verdicts[verdict::linearizable] > 500);
  CHECK(verdicts[verdict::not_linearizable] > 500);
}

TEST_CASE("the search agrees with trying every order on small random register histories") {
  std::mt19937 random(20240611);
  std::map<verdict, int> verdicts;
  for (int round = 0; round < 3000; ++round) {
    const auto history = random_register_history(random);
    const auto expected = register_verdict_by_enumeration(history);
    ++verdicts[expected];
    INFO("round " << round);
    REQUIRE(check_register(history).verdict == expected);
  }
  CHECK(verdicts[verdict::linearizable] > 500);
  CHECK(verdicts[verdict::not_linearizable] > 500);
}

// ---------------------------------------------------------------------------
// Budgets and pluggable models

TEST_CASE("a history too large for the step budget gives up") {
  const auto history = long_sequential_history("k");
  CHECK(check_kv(history).verdict == verdict::linearizable);
  const auto result = check_kv(history, {.max_steps = 10});
  CHECK(result.verdict == verdict::gave_up);
  CHECK(result.key == "k");
  CHECK_THAT(result.explanation, Catch::StartsWith("step limit of 10 search steps reached"));
}

TEST_CASE("a zero time limit gives up before the first step") {
  const auto result = check_kv(long_sequential_history("k"), {.time_limit = std::chrono::milliseconds(0)});
  CHECK(result.verdict == verdict::gave_up);
  CHECK_THAT(result.explanation, Catch::Contains("time limit"));
}

TEST_CASE("a small failing key is found even when a large one would exhaust the budget") {
  auto history = long_sequential_history("large");
  history.push_back(on_key("small", put(1, "a", 0, 1)));
  history.push_back(on_key("small", get(2, "", 2, 3)));
  const auto result = check_kv(history, {.max_steps = 20});
  CHECK(result.verdict == verdict::not_linearizable);
  CHECK(result.key == "small");
}

namespace {

// A counter, to show that the search takes any model.
struct counter_model {
  enum class input { increment, read };
  using output = int;
  using state = int;
  state initial_state() const { return 0; }
  std::optional<state> step(state s, input in, const std::optional<output>& out) const {
    if (in == input::increment) return s + 1;
    if (out && *out != s) return std::nullopt;
    return s;
  }
  std::size_t hash(state s) const { return std::hash<int>{}(s); }
  std::string partition(input) const { return {}; }
  std::string describe(input in, const std::optional<output>&) const {
    return in == input::increment ? "increment" : "read";
  }
  std::string describe(state s) const { return std::to_string(s); }
};

}  // namespace

TEST_CASE("the search checks any model") {
  using op = operation<counter_model>;
  using enum counter_model::input;
  const op first{1, increment, std::nullopt, 0, 1};
  const op second{2, increment, std::nullopt, 0, 1};
  CHECK(check<counter_model>({}, std::vector{first, second, op{3, read, 1, 2, 3}}).verdict ==
        verdict::not_linearizable);
  CHECK(check<counter_model>({}, std::vector{first, second, op{3, read, 2, 2, 3}}).verdict == verdict::linearizable);
}

// ---------------------------------------------------------------------------
// History formats

TEST_CASE("a history survives writing and reading JSON lines") {
  std::vector<kv_operation> history{
      put(1, "plain", 0, 10),
      on_key("k \"quoted\"\n", append(2, "tab\tand \\ backslash, caf\u00e9", 5, unknown)),
      get(3, "", 11, 12),
      get(4, std::nullopt, 13, unknown),
      get(5, std::nullopt, 14, 20),
      put(-6, "", std::numeric_limits<timestamp>::min(), std::numeric_limits<timestamp>::max() - 1),
  };
  std::stringstream file;
  write_json_lines(file, history);
  CHECK(read_json_lines(file) == history);
}

TEST_CASE("JSON lines may be blank and list members in any order") {
  std::istringstream file(
      "\n"
      R"({"output":"a","complete":9,"invoke":3,"value":null,"key":"x","kind":"get","client":7,"note":"extra"})"
      "\n  \n");
  const auto history = read_json_lines(file);
  REQUIRE(history.size() == 1);
  CHECK(history[0] == get(7, "a", 3, 9));
}

TEST_CASE("malformed JSON lines are refused with their line number") {
  const std::string good = R"({"client":1,"kind":"put","key":"x","value":"a","invoke":1,"complete":2,"output":null})";
  const auto bad_lines = {
      R"({"client":1,"kind":"put","key":"x","value":"a","invoke":1,"complete":2})",
      R"({"client":1,"kind":"put","key":"x","value":"a","invoke":3,"complete":2,"output":null})",
      R"({"client":1,"kind":"get","key":"x","value":"a","invoke":1,"complete":2,"output":null})",
      R"({"client":1,"kind":"put","key":"x","value":null,"invoke":1,"complete":2,"output":null})",
      R"({"client":1,"kind":"put","key":"x","value":"a","invoke":1,"complete":2,"output":"a"})",
      R"({"client":1,"kind":"cas","key":"x","value":"a","invoke":1,"complete":2,"output":null})",
      R"({"client":"1","kind":"put","key":"x","value":"a","invoke":1,"complete":2,"output":null})",
      R"({"client":1,"kind":"put","key":"x","value":"a","invoke":1.5,"complete":2,"output":null})",
      R"({"client":1,"kind":"put","key":"x","value":"a","invoke":1,"complete":18446744073709551615,"output":null})",
      R"([1, 2])",
      R"({"client":1,"kind":"put")",
  };
  for (const std::string bad : bad_lines) {
    INFO(bad);
    std::istringstream file(good + "\n" + bad + "\n");
    CHECK_THROWS_WITH(read_json_lines(file), Catch::StartsWith("line 2: "));
  }
}

TEST_CASE("an EDN kv history pairs each completion with its process's invocation") {
  std::istringstream file(R"({:process 0, :type :invoke, :f :put, :key "x", :value "a \"b\""})"
                          "\n"
                          R"({:process 1, :type :invoke, :f :get, :key "x", :value nil})"
                          "\n"
                          R"({:process 0, :type :ok, :f :put, :key "x", :value "a \"b\""})"
                          "\n"
                          R"({:process 2, :type :invoke, :f :append, :key "y", :value "c"})"
                          "\n"
                          R"({:process 3, :type :invoke, :f :append, :key "y", :value "d"})"
                          "\n"
                          R"({:process 3, :type :fail, :f :append, :key "y", :value "d"})"
                          "\n"
                          R"({:process 1, :type :ok, :f :get, :key "x", :value ""})"
                          "\n");
  const std::vector<kv_operation> expected{
      {.client = 0, .kind = kv_kind::put, .key = "x", .value = "a \"b\"", .invoke = 1, .complete = 3},
      {.client = 1, .kind = kv_kind::get, .key = "x", .output = "", .invoke = 2, .complete = 7},
      {.client = 2, .kind = kv_kind::append, .key = "y", .value = "c", .invoke = 4, .complete = unknown},
  };
  CHECK(read_edn_kv_history(file) == expected);
}

TEST_CASE("an EDN completion without an open invocation is refused") {
  std::istringstream file(R"({:process 4, :type :ok, :f :get, :key "x", :value ""})");
  CHECK_THROWS_WITH(read_edn_kv_history(file), Catch::Contains("line 1: process 4 has no open operation"));
}

TEST_CASE("an EDN completion of another operation than the process invoked is refused") {
  std::istringstream file(R"({:process 4, :type :invoke, :f :get, :key "x", :value nil})"
                          "\n"
                          R"({:process 4, :type :ok, :f :get, :key "y", :value ""})"
                          "\n");
  CHECK_THROWS_WITH(read_edn_kv_history(file), Catch::Contains("line 2: the completion does not match process 4"));
}

TEST_CASE("a Jepsen log gives reads, writes and cas with their outcomes") {
  std::istringstream file(
      "INFO  jepsen.core - Worker 0 starting\n"
      "INFO  jepsen.util - 0\t:invoke\t:write\t3\n"
      "INFO  jepsen.util - 1\t:invoke\t:cas\t[3 4]\n"
      "INFO  jepsen.util - :nemesis\t:info\t:start\tnil\n"
      "INFO  jepsen.util - 0   :ok     :write  3\n"
      "INFO  jepsen.util - 2\t:invoke\t:read\tnil\n"
      "INFO  jepsen.util - 1\t:info\t:cas\t:timed-out\n"
      "INFO  jepsen.util - 2\t:ok\t:read\tnil\n"
      "INFO  jepsen.util - 3\t:invoke\t:cas\t[0 1]\n"
      "INFO  jepsen.util - 3\t:fail\t:cas\t[0 1]\n"
      "INFO  jepsen.util - 4\t:invoke\t:read\tnil\n"
      "INFO  jepsen.util - 4\t:fail\t:read\t:timed-out\n"
      "INFO  jepsen.util - 5\t:invoke\t:write\t1\n");
  const auto history = read_jepsen_register_history(file);
  REQUIRE(history.size() == 4);
  CHECK(history[0].kind == register_kind::write);
  CHECK(history[0].value == 3);
  CHECK(history[0].outcome == register_outcome::ok);
  CHECK(history[0].invoke == 2);
  CHECK(history[0].complete == 5);
  CHECK(history[1].kind == register_kind::cas);
  CHECK(history[1].expected == 3);
  CHECK(history[1].value == 4);
  CHECK(history[1].outcome == register_outcome::unknown);
  CHECK(history[2].kind == register_kind::read);
  CHECK(history[2].value == std::nullopt);
  CHECK(history[2].outcome == register_outcome::ok);
  CHECK(history[3].value == 1);
  CHECK(history[3].outcome == register_outcome::unknown);
}

// ---------------------------------------------------------------------------
// coraft-lincheck

namespace {

// A directory removed with everything in it when the test ends.
class scratch_directory {
 public:
  scratch_directory()
      : path_(std::filesystem::temp_directory_path() / ("coraft-lincheck-test-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~scratch_directory() { std::filesystem::remove_all(path_); }
  scratch_directory(const scratch_directory&) = delete;
  scratch_directory& operator=(const scratch_directory&) = delete;

  std::string create_file(const std::string& name, const std::string& contents) const {
    const auto file = path_ / name;
    std::ofstream(file) << contents;
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

std::string lincheck_path() {
  const char* path = std::getenv("CORAFT_LINCHECK");
  if (path == nullptr) FAIL("CORAFT_LINCHECK must name the coraft-lincheck executable (meson test sets it)");
  return path;
}

// The exit status of coraft-lincheck run with `arguments`.
int run_lincheck(std::vector<std::string> arguments) {
  auto program = lincheck_path();
  arguments.insert(arguments.begin(), program);
  std::vector<char*> argv;
  for (auto& argument : arguments) argv.push_back(argument.data());
  argv.push_back(nullptr);
  pid_t child = 0;
  REQUIRE(::posix_spawn(&child, program.c_str(), nullptr, nullptr, argv.data(), environ) == 0);
  int status = 0;
  REQUIRE(::waitpid(child, &status, 0) == child);
  REQUIRE(WIFEXITED(status));
  return WEXITSTATUS(status);
}

std::string json_lines(const std::vector<kv_operation>& history) {
  std::ostringstream out;
  write_json_lines(out, history);
  return out.str();
}

}  // namespace

TEST_CASE("coraft-lincheck exits 0 for linearizable, 1 for not, 2 for gave up or bad input") {
  const scratch_directory scratch;
  const auto good = scratch.create_file("good.jsonl", json_lines({put(1, "a", 0, 1), get(2, "a", 2, 3)}));
  const auto bad = scratch.create_file("bad.jsonl", json_lines({put(1, "a", 0, 1), get(2, "", 2, 3)}));
  const auto large = scratch.create_file("large.jsonl", json_lines(long_sequential_history("k")));
  const auto malformed = scratch.create_file("malformed.jsonl", "{\"client\": 1}\n");

  CHECK(run_lincheck({good}) == 0);
  CHECK(run_lincheck({bad}) == 1);
  CHECK(run_lincheck({large}) == 0);
  CHECK(run_lincheck({"--max-steps", "10", large}) == 2);
  CHECK(run_lincheck({malformed}) == 2);
  CHECK(run_lincheck({good + ".missing"}) == 2);
  CHECK(run_lincheck({}) == 2);
  CHECK(run_lincheck({"--max-steps", "ten", good}) == 2);
}
