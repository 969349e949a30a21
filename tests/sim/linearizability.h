// Linearizability checking of recorded client histories.
//
// A history is linearizable when every operation can be given one instant
// between its invocation and its completion such that the operations, applied
// in the order of those instants to a sequential model, produce exactly the
// outputs the clients saw. The search is Wing & Gong's, with Lowe's memoization
// of (set of linearized operations, model state): a configuration already
// explored is never explored again. Operations on different keys are checked
// independently, since a history is linearizable exactly when each key's
// sub-history is.
//
// An operation whose outcome is unknown (a timeout, a crash, no answer by the
// end of the history) may have taken effect at any instant after its
// invocation, or never: it completes at +infinity and its output matches
// anything. Taking effect after every other operation is the same as never
// taking effect, so the search needs no separate "did not happen" branch.
#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <limits>
#include <map>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

namespace coraft::lin {

// One clock per history: simulated ticks, nanoseconds, or line numbers.
using timestamp = std::int64_t;

// The completion time of an operation whose outcome is unknown.
inline constexpr timestamp unknown_completion = std::numeric_limits<timestamp>::max();

enum class verdict { linearizable, not_linearizable, gave_up };
std::string_view to_string(verdict v);
std::ostream& operator<<(std::ostream& out, verdict v);

struct check_options {
  // Search steps allowed over all keys together; one step visits one call or
  // return event. Deterministic, unlike time_limit.
  std::optional<std::uint64_t> max_steps{};
  std::optional<std::chrono::milliseconds> time_limit{};
};

struct check_result {
  lin::verdict verdict = lin::verdict::linearizable;
  // The key that is not linearizable or on which the budget ran out; empty
  // when the history is linearizable.
  std::string key{};
  // Why, for a person: the longest linearizable prefix of the failing key and
  // the operation that cannot follow it, or which budget ran out.
  std::string explanation{};
};

// A sequential specification. step returns the state after `in` if applying
// `in` to `s` can produce `out`; an absent `out` was not observed (the outcome
// is unknown) and must match any result. Operations whose inputs have
// different partitions never affect each other.
template <class M>
concept model = std::equality_comparable<typename M::state> &&
    requires(const M& m, const typename M::state& s, const typename M::input& in,
             const std::optional<typename M::output>& out) {
  { m.initial_state() } -> std::same_as<typename M::state>;
  { m.step(s, in, out) } -> std::same_as<std::optional<typename M::state>>;
  { m.hash(s) } -> std::same_as<std::size_t>;
  { m.partition(in) } -> std::convertible_to<std::string>;
  { m.describe(in, out) } -> std::same_as<std::string>;
  { m.describe(s) } -> std::same_as<std::string>;
};

template <model M>
struct operation {
  int client = 0;
  typename M::input input;
  // What the client saw; nullopt when the outcome is unknown. A model may
  // ignore it for operations that return nothing.
  std::optional<typename M::output> output;
  timestamp invoke = 0;
  // unknown_completion when the outcome is unknown.
  timestamp complete = unknown_completion;
};

// Throws std::invalid_argument if an operation completes before its invocation.
template <model M>
check_result check(const M& model, std::span<const operation<M>> history, const check_options& options = {});

// ---------------------------------------------------------------------------
// Key-value store: get / put / append on string keys; a missing key reads "".

enum class kv_kind { get, put, append };
std::string_view to_string(kv_kind kind);

struct kv_operation {
  int client = 0;
  kv_kind kind = kv_kind::get;
  std::string key{};
  // The argument of put and append; unused by get.
  std::string value{};
  // What a get returned; nullopt for put and append, and for a get whose
  // outcome is unknown (such a get constrains nothing and is not checked).
  std::optional<std::string> output{};
  timestamp invoke = 0;
  // unknown_completion when the outcome is unknown.
  timestamp complete = unknown_completion;

  friend bool operator==(const kv_operation&, const kv_operation&) = default;
};

class kv_model {
 public:
  struct input {
    kv_kind kind;
    std::string key;
    std::string value;
  };
  // The value a get returned.
  using output = std::string;
  // The value of the one key a partition holds.
  using state = std::string;

  state initial_state() const { return {}; }
  std::optional<state> step(const state& s, const input& in, const std::optional<output>& out) const;
  std::size_t hash(const state& s) const;
  const std::string& partition(const input& in) const { return in.key; }
  std::string describe(const input& in, const std::optional<output>& out) const;
  std::string describe(const state& s) const;
};

check_result check_kv(std::span<const kv_operation> history, const check_options& options = {});

// ---------------------------------------------------------------------------
// One compare-and-set register holding integers (Jepsen's cas-register).

// nullopt: never written (Jepsen's nil).
using register_value = std::optional<std::int64_t>;

enum class register_kind { read, write, cas };
// failed: the operation definitely had no effect (a cas whose comparison
// failed, a request refused before it ran).
enum class register_outcome { ok, failed, unknown };

struct register_operation {
  int client = 0;
  register_kind kind = register_kind::read;
  // read: the value returned; write: the value written; cas: the new value.
  register_value value{};
  // cas: the value compared with.
  register_value expected{};
  register_outcome outcome = register_outcome::ok;
  timestamp invoke = 0;
  // Used only when the outcome is ok: an unknown outcome completes at
  // unknown_completion whatever this says.
  timestamp complete = unknown_completion;
};

class register_model {
 public:
  struct input {
    register_kind kind;
    register_value value;
    register_value expected;
  };
  // Present for every operation whose outcome is known; only a read's matters.
  struct output {
    register_value read;
  };
  using state = register_value;

  state initial_state() const { return std::nullopt; }
  std::optional<state> step(const state& s, const input& in, const std::optional<output>& out) const;
  std::size_t hash(const state& s) const;
  std::string partition(const input&) const { return {}; }
  std::string describe(const input& in, const std::optional<output>& out) const;
  std::string describe(const state& s) const;
};

// Failed operations and reads with unknown outcome are left out: they
// constrain nothing.
check_result check_register(std::span<const register_operation> history, const check_options& options = {});

// ---------------------------------------------------------------------------
// The search, shared by every model.

namespace detail {

// The call and return events of one partition's operations, in time order, as
// a doubly linked list. At equal times calls come first, so operations whose
// intervals touch are concurrent. lift removes an operation's two events and
// unlift puts them back; unlifts must come in the reverse order of the lifts.
class event_list {
 public:
  using event = std::uint32_t;
  static constexpr event end = 0;

  struct interval {
    timestamp invoke;
    timestamp complete;
  };
  explicit event_list(std::span<const interval> operations);

  event first() const { return next_[end]; }
  event next(event e) const { return next_[e]; }
  static bool is_call(event e) { return e % 2 == 1; }
  static std::size_t operation_of(event e) { return (e - 1) / 2; }
  static event call_of(std::size_t operation) { return static_cast<event>(2 * operation + 1); }
  static event return_of(std::size_t operation) { return static_cast<event>(2 * operation + 2); }

  void lift(std::size_t operation);
  void unlift(std::size_t operation);

 private:
  void unlink(event e);
  void relink(event e);

  // Node `end` is the sentinel of the circular list; operation k's call is
  // node 2k + 1 and its return node 2k + 2.
  std::vector<event> next_;
  std::vector<event> prev_;
};

// A set of operation numbers with a hash kept up to date on every change.
class operation_set {
 public:
  explicit operation_set(std::size_t capacity) : words_((capacity + 63) / 64) {}

  void insert(std::size_t operation);
  void erase(std::size_t operation);
  std::size_t hash() const { return hash_; }
  friend bool operator==(const operation_set&, const operation_set&) = default;

 private:
  std::vector<std::uint64_t> words_;
  // The XOR of a fixed pseudo-random key per member.
  std::size_t hash_ = 0;
};

class search_budget {
 public:
  explicit search_budget(const check_options& options);

  // Counts one step; false once the budget is exhausted.
  bool spend();
  std::string describe_exhaustion() const;

 private:
  std::uint64_t steps_ = 0;
  std::optional<std::uint64_t> max_steps_;
  std::optional<std::chrono::steady_clock::time_point> deadline_;
  bool out_of_time_ = false;
};

// "client 3: get("x") -> "a" [4, 9]"; an unknown completion shows as "?".
std::string describe_operation(int client, const std::string& description, timestamp invoke, timestamp complete);

// The deepest point a failed search reached: `prefix` (descriptions of the
// operations in linearization order) leaves the model in `state`, and from
// there `blocked` cannot take effect before it completes.
struct dead_end {
  std::vector<std::string> prefix{};
  std::string state{};
  std::string blocked{};
  std::size_t operation_count = 0;
};
std::string explain(const dead_end& deepest);

void require_ordered_interval(timestamp invoke, timestamp complete, std::size_t position);

struct partition_result {
  lin::verdict verdict = lin::verdict::linearizable;
  std::string explanation;
};

template <model M>
class partition_search {
 public:
  partition_search(const M& model, std::span<const operation<M>* const> operations, search_budget& budget)
      : model_(model),
        operations_(operations),
        budget_(budget),
        events_(intervals(operations)),
        linearized_(operations.size()),
        state_(model.initial_state()) {}

  partition_result run() {
    auto e = events_.first();
    while (e != event_list::end) {
      if (!budget_.spend()) return {verdict::gave_up, explain_gave_up()};
      if (event_list::is_call(e)) {
        e = try_linearize(event_list::operation_of(e)) ? events_.first() : events_.next(e);
        continue;
      }
      remember_if_deepest(event_list::operation_of(e));
      if (linearized_order_.empty()) return {verdict::not_linearizable, explain(describe_deepest())};
      e = events_.next(event_list::call_of(undo_last()));
    }
    return {};
  }

 private:
  using state = typename M::state;

  struct memo_entry {
    operation_set linearized;
    state model_state;
    std::size_t hash;
    friend bool operator==(const memo_entry& a, const memo_entry& b) {
      return a.hash == b.hash && a.linearized == b.linearized && a.model_state == b.model_state;
    }
  };
  struct memo_hash {
    std::size_t operator()(const memo_entry& entry) const { return entry.hash; }
  };
  struct undo_record {
    std::size_t operation;
    state before;
  };
  // The longest prefix linearized so far, ended by the return of `blocked`.
  struct deepest_point {
    std::vector<std::size_t> prefix;
    state after_prefix;
    std::size_t blocked;
  };

  static std::vector<event_list::interval> intervals(std::span<const operation<M>* const> operations) {
    std::vector<event_list::interval> result;
    result.reserve(operations.size());
    for (const auto* op : operations) result.push_back({op->invoke, op->complete});
    return result;
  }

  // Linearizes `index` next if the model accepts it and the resulting
  // configuration has not been explored before.
  bool try_linearize(std::size_t index) {
    const auto& op = *operations_[index];
    auto next_state = model_.step(state_, op.input, op.output);
    if (!next_state) return false;
    linearized_.insert(index);
    const auto hash = linearized_.hash() ^ (model_.hash(*next_state) * 0x9e3779b97f4a7c15ULL);
    if (!explored_.insert({linearized_, *next_state, hash}).second) {
      linearized_.erase(index);
      return false;
    }
    linearized_order_.push_back({index, std::move(state_)});
    state_ = std::move(*next_state);
    events_.lift(index);
    return true;
  }

  // Takes back the most recent linearization; returns its operation.
  std::size_t undo_last() {
    auto last = std::move(linearized_order_.back());
    linearized_order_.pop_back();
    state_ = std::move(last.before);
    linearized_.erase(last.operation);
    events_.unlift(last.operation);
    return last.operation;
  }

  void remember_if_deepest(std::size_t blocked) {
    if (deepest_ && linearized_order_.size() <= deepest_->prefix.size()) return;
    std::vector<std::size_t> prefix;
    prefix.reserve(linearized_order_.size());
    for (const auto& record : linearized_order_) prefix.push_back(record.operation);
    deepest_ = deepest_point{std::move(prefix), state_, blocked};
  }

  std::string explain_gave_up() const {
    const auto deepest = std::max(linearized_order_.size(), deepest_ ? deepest_->prefix.size() : 0);
    return budget_.describe_exhaustion() + "; the longest linearizable prefix found has " + std::to_string(deepest) +
           " of " + std::to_string(operations_.size()) + " operations";
  }

  dead_end describe_deepest() const {
    dead_end described{.state = model_.describe(deepest_->after_prefix),
                       .blocked = describe(deepest_->blocked),
                       .operation_count = operations_.size()};
    for (const auto index : deepest_->prefix) described.prefix.push_back(describe(index));
    return described;
  }

  std::string describe(std::size_t index) const {
    const auto& op = *operations_[index];
    return describe_operation(op.client, model_.describe(op.input, op.output), op.invoke, op.complete);
  }

  const M& model_;
  std::span<const operation<M>* const> operations_;
  search_budget& budget_;
  event_list events_;
  // The operations linearized so far, as a set and in order.
  operation_set linearized_;
  std::vector<undo_record> linearized_order_;
  state state_;
  std::unordered_set<memo_entry, memo_hash> explored_;
  std::optional<deepest_point> deepest_;
};

}  // namespace detail

template <model M>
check_result check(const M& model, std::span<const operation<M>> history, const check_options& options) {
  std::map<std::string, std::vector<const operation<M>*>> partitions;
  for (std::size_t i = 0; i < history.size(); ++i) {
    detail::require_ordered_interval(history[i].invoke, history[i].complete, i);
    partitions[model.partition(history[i].input)].push_back(&history[i]);
  }
  // Small partitions first: a cheap definite failure beats a budget spent on a
  // large partition.
  std::vector<typename decltype(partitions)::const_iterator> order;
  for (auto it = partitions.cbegin(); it != partitions.cend(); ++it) order.push_back(it);
  std::stable_sort(order.begin(), order.end(),
                   [](const auto& a, const auto& b) { return a->second.size() < b->second.size(); });

  detail::search_budget budget(options);
  for (const auto& partition : order) {
    auto result = detail::partition_search<M>(model, partition->second, budget).run();
    if (result.verdict != verdict::linearizable) return {result.verdict, partition->first, result.explanation};
  }
  return {};
}

}  // namespace coraft::lin
