#include "linearizability.h"

#include <algorithm>
#include <functional>
#include <ostream>
#include <string>

namespace coraft::lin {

std::string_view to_string(verdict v) {
  switch (v) {
    case verdict::linearizable:
      return "linearizable";
    case verdict::not_linearizable:
      return "not linearizable";
    case verdict::gave_up:
      return "gave up";
  }
  return "unknown verdict";
}

std::ostream& operator<<(std::ostream& out, verdict v) { return out << to_string(v); }

std::string_view to_string(kv_kind kind) {
  switch (kind) {
    case kv_kind::get:
      return "get";
    case kv_kind::put:
      return "put";
    case kv_kind::append:
      return "append";
  }
  return "unknown kind";
}

namespace {

std::string quoted(std::string_view text) { return '"' + std::string(text) + '"'; }

std::string describe_register_value(const register_value& value) {
  return value ? std::to_string(*value) : std::string("nil");
}

}  // namespace

// ---------------------------------------------------------------------------
// Key-value store

std::optional<kv_model::state> kv_model::step(const state& s, const input& in, const std::optional<output>& out) const {
  if (in.kind == kv_kind::put) return in.value;
  if (in.kind == kv_kind::append) return s + in.value;
  if (out && *out != s) return std::nullopt;
  return s;
}

std::size_t kv_model::hash(const state& s) const { return std::hash<state>{}(s); }

std::string kv_model::describe(const input& in, const std::optional<output>& out) const {
  auto call = std::string(to_string(in.kind)) + "(" + quoted(in.key);
  if (in.kind != kv_kind::get) return call + ", " + quoted(in.value) + ")";
  return call + ") -> " + (out ? quoted(*out) : std::string("?"));
}

std::string kv_model::describe(const state& s) const { return quoted(s); }

check_result check_kv(std::span<const kv_operation> history, const check_options& options) {
  std::vector<operation<kv_model>> checked;
  checked.reserve(history.size());
  for (const auto& op : history) {
    if (op.kind == kv_kind::get && !op.output) continue;
    checked.push_back({op.client, {op.kind, op.key, op.value}, op.output, op.invoke, op.complete});
  }
  return check<kv_model>(kv_model{}, checked, options);
}

// ---------------------------------------------------------------------------
// Compare-and-set register

std::optional<register_model::state> register_model::step(const state& s, const input& in,
                                                          const std::optional<output>& out) const {
  if (in.kind == register_kind::read) {
    if (out && out->read != s) return std::nullopt;
    return s;
  }
  if (in.kind == register_kind::write || s == in.expected) return in.value;
  // A cas whose comparison fails changes nothing, which only an unknown
  // outcome allows: a known outcome here means it succeeded.
  if (!out) return s;
  return std::nullopt;
}

std::size_t register_model::hash(const state& s) const { return std::hash<state>{}(s); }

std::string register_model::describe(const input& in, const std::optional<output>& out) const {
  switch (in.kind) {
    case register_kind::read:
      return "read -> " + (out ? describe_register_value(out->read) : std::string("?"));
    case register_kind::write:
      return "write(" + describe_register_value(in.value) + ")";
    case register_kind::cas:
      return "cas(" + describe_register_value(in.expected) + " -> " + describe_register_value(in.value) + ")";
  }
  return "unknown operation";
}

std::string register_model::describe(const state& s) const { return describe_register_value(s); }

namespace {

// nullopt for an operation that constrains nothing: one that failed (and so had
// no effect) or a read whose outcome is unknown.
std::optional<operation<register_model>> to_checked(const register_operation& op) {
  if (op.outcome == register_outcome::failed) return std::nullopt;
  if (op.outcome == register_outcome::unknown && op.kind == register_kind::read) return std::nullopt;
  operation<register_model> checked{
      op.client, {op.kind, op.value, op.expected}, std::nullopt, op.invoke, unknown_completion};
  if (op.outcome == register_outcome::ok) {
    checked.output = register_model::output{op.kind == register_kind::read ? op.value : std::nullopt};
    checked.complete = op.complete;
  }
  return checked;
}

}  // namespace

check_result check_register(std::span<const register_operation> history, const check_options& options) {
  std::vector<operation<register_model>> checked;
  checked.reserve(history.size());
  for (const auto& op : history) {
    if (auto kept = to_checked(op)) checked.push_back(std::move(*kept));
  }
  return check<register_model>(register_model{}, checked, options);
}

// ---------------------------------------------------------------------------
// Search machinery

namespace detail {

event_list::event_list(std::span<const interval> operations)
    : next_(2 * operations.size() + 1), prev_(2 * operations.size() + 1) {
  struct timed_event {
    timestamp time;
    event id;
  };
  std::vector<timed_event> events;
  events.reserve(2 * operations.size());
  for (std::size_t k = 0; k < operations.size(); ++k) {
    events.push_back({operations[k].invoke, call_of(k)});
    events.push_back({operations[k].complete, return_of(k)});
  }
  std::sort(events.begin(), events.end(), [](const timed_event& a, const timed_event& b) {
    if (a.time != b.time) return a.time < b.time;
    if (is_call(a.id) != is_call(b.id)) return is_call(a.id);
    return a.id < b.id;
  });
  event previous = end;
  for (const auto& e : events) {
    next_[previous] = e.id;
    prev_[e.id] = previous;
    previous = e.id;
  }
  next_[previous] = end;
  prev_[end] = previous;
}

void event_list::unlink(event e) {
  next_[prev_[e]] = next_[e];
  prev_[next_[e]] = prev_[e];
}

// Valid only while e's neighbours are those it had when it was unlinked.
void event_list::relink(event e) {
  next_[prev_[e]] = e;
  prev_[next_[e]] = e;
}

void event_list::lift(std::size_t operation) {
  unlink(call_of(operation));
  unlink(return_of(operation));
}

void event_list::unlift(std::size_t operation) {
  relink(return_of(operation));
  relink(call_of(operation));
}

namespace {

// SplitMix64's finalizer: a well-mixed key per operation number.
std::size_t member_key(std::size_t operation) {
  std::uint64_t z = operation + 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return static_cast<std::size_t>(z ^ (z >> 31));
}

}  // namespace

void operation_set::insert(std::size_t operation) {
  words_[operation / 64] |= std::uint64_t{1} << (operation % 64);
  hash_ ^= member_key(operation);
}

void operation_set::erase(std::size_t operation) {
  words_[operation / 64] &= ~(std::uint64_t{1} << (operation % 64));
  hash_ ^= member_key(operation);
}

search_budget::search_budget(const check_options& options) : max_steps_(options.max_steps) {
  if (options.time_limit) deadline_ = std::chrono::steady_clock::now() + *options.time_limit;
}

bool search_budget::spend() {
  ++steps_;
  if (max_steps_ && steps_ > *max_steps_) return false;
  // Reading the clock costs more than a step, so it is read every 1024 steps,
  // starting with the first.
  if (deadline_ && steps_ % 1024 == 1 && std::chrono::steady_clock::now() >= *deadline_) out_of_time_ = true;
  return !out_of_time_;
}

std::string search_budget::describe_exhaustion() const {
  if (out_of_time_) return "time limit reached after " + std::to_string(steps_) + " search steps";
  return "step limit of " + std::to_string(max_steps_.value_or(0)) + " search steps reached";
}

std::string describe_operation(int client, const std::string& description, timestamp invoke, timestamp complete) {
  const auto completion = complete == unknown_completion ? std::string("?") : std::to_string(complete);
  return "client " + std::to_string(client) + ": " + description + " [" + std::to_string(invoke) + ", " + completion +
         "]";
}

std::string explain(const dead_end& deepest) {
  // The end of a long prefix is what leads into the dead end.
  constexpr std::size_t shown = 10;
  std::string text = "longest linearizable prefix: " + std::to_string(deepest.prefix.size()) + " of " +
                     std::to_string(deepest.operation_count) + " operations\n";
  const auto hidden = deepest.prefix.size() > shown ? deepest.prefix.size() - shown : 0;
  if (hidden > 0) text += "  ... " + std::to_string(hidden) + " earlier operations\n";
  for (auto it = deepest.prefix.begin() + static_cast<std::ptrdiff_t>(hidden); it != deepest.prefix.end(); ++it) {
    text += "  " + *it + "\n";
  }
  text += "state after it: " + deepest.state + "\n";
  text += "no order of the remaining operations lets this one take effect before it completes:\n";
  text += "  " + deepest.blocked;
  return text;
}

void require_ordered_interval(timestamp invoke, timestamp complete, std::size_t position) {
  if (complete < invoke) {
    throw std::invalid_argument("operation " + std::to_string(position) + " completes at " + std::to_string(complete) +
                                ", before its invocation at " + std::to_string(invoke));
  }
}

}  // namespace detail

}  // namespace coraft::lin
