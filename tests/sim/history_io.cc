#include "history_io.h"

#include <cctype>
#include <charconv>
#include <istream>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>

namespace coraft::lin {

namespace {

// Runs parse(line) for every line of `in`, numbering lines from 1 and naming
// the line in any error.
template <class ParseLine>
void for_each_line(std::istream& in, ParseLine parse) {
  std::string line;
  for (timestamp number = 1; std::getline(in, line); ++number) {
    try {
      parse(line, number);
    } catch (const std::exception& e) {
      throw history_error("line " + std::to_string(number) + ": " + e.what());
    }
  }
  if (in.bad()) throw history_error("read error");
}

// Collects operations from invocation and completion events, where each
// process has at most one operation open.
template <class Operation>
class history_builder {
 public:
  void invoke(int process, Operation op) {
    if (!open_.emplace(process, operations_.size()).second) {
      throw history_error("process " + std::to_string(process) + " invokes while its last operation is open");
    }
    operations_.push_back(std::move(op));
  }

  // The process's open operation, which the current event completes.
  Operation& close(int process) { return *operations_[take_open(process)]; }

  // Closes the process's open operation, which definitely had no effect.
  void drop(int process) { operations_[take_open(process)].reset(); }

  // In order of invocation; operations still open keep their unknown outcome.
  std::vector<Operation> finish() && {
    std::vector<Operation> result;
    for (auto& op : operations_) {
      if (op) result.push_back(std::move(*op));
    }
    return result;
  }

 private:
  std::size_t take_open(int process) {
    const auto it = open_.find(process);
    if (it == open_.end()) throw history_error("process " + std::to_string(process) + " has no open operation");
    const auto index = it->second;
    open_.erase(it);
    return index;
  }

  std::vector<std::optional<Operation>> operations_;
  std::unordered_map<int, std::size_t> open_;
};

template <class Integer>
std::optional<Integer> parse_integer(std::string_view text) {
  Integer value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::int64_t require_integer(std::string_view text) {
  const auto value = parse_integer<std::int64_t>(text);
  if (!value) throw history_error("not an integer: \"" + std::string(text) + "\"");
  return *value;
}

void require_same_operation(bool same, int process) {
  if (!same) throw history_error("the completion does not match process " + std::to_string(process) + "'s invocation");
}

kv_kind parse_kv_kind(std::string_view name) {
  for (const auto kind : {kv_kind::get, kv_kind::put, kv_kind::append}) {
    if (to_string(kind) == name) return kind;
  }
  throw history_error("unknown operation \"" + std::string(name) + "\"");
}

// ---------------------------------------------------------------------------
// JSON lines

using json = nlohmann::json;

const json& member(const json& object, const char* name) {
  const auto it = object.find(name);
  if (it == object.end()) throw history_error(std::string("missing \"") + name + "\"");
  return *it;
}

std::int64_t integer_member(const json& object, const char* name) {
  const auto& value = member(object, name);
  const bool fits = value.is_number_integer() &&
                    (!value.is_number_unsigned() ||
                     value.get<std::uint64_t>() <= std::uint64_t{std::numeric_limits<std::int64_t>::max()});
  if (!fits) throw history_error(std::string("\"") + name + "\" must be a 64-bit integer");
  return value.get<std::int64_t>();
}

std::optional<std::int64_t> nullable_integer_member(const json& object, const char* name) {
  if (member(object, name).is_null()) return std::nullopt;
  return integer_member(object, name);
}

std::optional<std::string> nullable_string_member(const json& object, const char* name) {
  const auto& value = member(object, name);
  if (value.is_null()) return std::nullopt;
  if (!value.is_string()) throw history_error(std::string("\"") + name + "\" must be a string or null");
  return value.get<std::string>();
}

std::string string_member(const json& object, const char* name) {
  auto value = nullable_string_member(object, name);
  if (!value) throw history_error(std::string("\"") + name + "\" must be a string");
  return std::move(*value);
}

int client_member(const json& object) {
  const auto client = integer_member(object, "client");
  if (client < std::numeric_limits<int>::min() || client > std::numeric_limits<int>::max()) {
    throw history_error("\"client\" is out of range");
  }
  return static_cast<int>(client);
}

kv_operation parse_json_operation(const std::string& line) {
  const auto object = json::parse(line);
  if (!object.is_object()) throw history_error("not a JSON object");
  kv_operation op;
  op.client = client_member(object);
  op.kind = parse_kv_kind(string_member(object, "kind"));
  op.key = string_member(object, "key");
  auto value = nullable_string_member(object, "value");
  if (value.has_value() == (op.kind == kv_kind::get)) {
    throw history_error("\"value\" must be a string for put and append and null for get");
  }
  op.value = value.value_or("");
  op.invoke = integer_member(object, "invoke");
  op.complete = nullable_integer_member(object, "complete").value_or(unknown_completion);
  if (op.complete < op.invoke) throw history_error("\"complete\" is before \"invoke\"");
  op.output = nullable_string_member(object, "output");
  if (op.output && op.kind != kv_kind::get) throw history_error("\"output\" must be null for put and append");
  return op;
}

// Members in the documented order, for people reading the file.
nlohmann::ordered_json to_json(const kv_operation& op) {
  using ordered_json = nlohmann::ordered_json;
  ordered_json object;
  object["client"] = op.client;
  object["kind"] = to_string(op.kind);
  object["key"] = op.key;
  object["value"] = op.kind == kv_kind::get ? ordered_json(nullptr) : ordered_json(op.value);
  object["invoke"] = op.invoke;
  object["complete"] = op.complete == unknown_completion ? ordered_json(nullptr) : ordered_json(op.complete);
  object["output"] = op.kind == kv_kind::get && op.output ? ordered_json(*op.output) : ordered_json(nullptr);
  return object;
}

// ---------------------------------------------------------------------------
// EDN maps, as much of EDN as the kv corpus uses: a flat map from keywords to
// nil, integers, keywords and strings.

struct edn_keyword {
  std::string name;
};
using edn_value = std::variant<std::monostate, std::int64_t, edn_keyword, std::string>;
using edn_map = std::map<std::string, edn_value, std::less<>>;

class edn_map_reader {
 public:
  explicit edn_map_reader(std::string_view text) : text_(text) {}

  edn_map read() {
    expect('{');
    edn_map map;
    for (skip_separators(); peek() != '}'; skip_separators()) {
      if (peek() != ':') throw history_error("a map key must be a keyword");
      auto key = read_keyword();
      skip_separators();
      map.insert_or_assign(std::move(key.name), read_value());
    }
    expect('}');
    skip_separators();
    if (position_ != text_.size()) throw history_error("text after the map");
    return map;
  }

 private:
  char peek() const {
    if (position_ == text_.size()) throw history_error("unexpected end of line");
    return text_[position_];
  }

  char next() {
    const char c = peek();
    ++position_;
    return c;
  }

  void expect(char c) {
    if (peek() != c) throw history_error(std::string("expected '") + c + "'");
    ++position_;
  }

  void skip_separators() {
    while (position_ < text_.size() &&
           (std::isspace(static_cast<unsigned char>(text_[position_])) != 0 || text_[position_] == ',')) {
      ++position_;
    }
  }

  std::string_view read_token() {
    const auto start = position_;
    while (position_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[position_])) == 0 &&
           std::string_view(",{}[]\"").find(text_[position_]) == std::string_view::npos) {
      ++position_;
    }
    if (position_ == start) throw history_error("expected a value");
    return text_.substr(start, position_ - start);
  }

  edn_keyword read_keyword() {
    expect(':');
    return {std::string(read_token())};
  }

  std::string read_string() {
    expect('"');
    std::string result;
    for (char c = next(); c != '"'; c = next()) result += c == '\\' ? unescape(next()) : c;
    return result;
  }

  static char unescape(char c) {
    switch (c) {
      case 'n':
        return '\n';
      case 't':
        return '\t';
      case 'r':
        return '\r';
      case '"':
      case '\\':
        return c;
    }
    throw history_error(std::string("unsupported escape \\") + c);
  }

  edn_value read_value() {
    if (peek() == '"') return read_string();
    if (peek() == ':') return read_keyword();
    const auto token = read_token();
    if (token == "nil") return std::monostate{};
    return require_integer(token);
  }

  std::string_view text_;
  std::size_t position_ = 0;
};

template <class T>
const T& edn_field(const edn_map& map, std::string_view name) {
  const auto it = map.find(name);
  if (it == map.end()) throw history_error("missing :" + std::string(name));
  const auto* value = std::get_if<T>(&it->second);
  if (value == nullptr) throw history_error(":" + std::string(name) + " has the wrong type");
  return *value;
}

void apply_edn_kv_event(const edn_map& event, timestamp time, history_builder<kv_operation>& history) {
  const auto process = static_cast<int>(edn_field<std::int64_t>(event, "process"));
  const auto& type = edn_field<edn_keyword>(event, "type").name;
  if (type == "invoke") {
    kv_operation op{.client = process,
                    .kind = parse_kv_kind(edn_field<edn_keyword>(event, "f").name),
                    .key = edn_field<std::string>(event, "key"),
                    .invoke = time};
    if (op.kind != kv_kind::get) op.value = edn_field<std::string>(event, "value");
    history.invoke(process, std::move(op));
  } else if (type == "ok") {
    auto& op = history.close(process);
    require_same_operation(op.kind == parse_kv_kind(edn_field<edn_keyword>(event, "f").name) &&
                               op.key == edn_field<std::string>(event, "key"),
                           process);
    op.complete = time;
    if (op.kind == kv_kind::get) op.output = edn_field<std::string>(event, "value");
  } else if (type == "fail") {
    history.drop(process);
  } else if (type == "info") {
    history.close(process);
  } else {
    throw history_error("unknown :type :" + type);
  }
}

// ---------------------------------------------------------------------------
// Jepsen's etcd logs

constexpr std::string_view jepsen_event_marker = "jepsen.util - ";

std::vector<std::string_view> split_whitespace(std::string_view text, std::size_t max_fields) {
  std::vector<std::string_view> fields;
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r'; };
  std::size_t position = 0;
  while (fields.size() < max_fields) {
    while (position < text.size() && is_space(text[position])) ++position;
    if (position == text.size()) break;
    auto end = position;
    // The last field takes the rest of the line: a cas value has a space.
    while (end < text.size() && (fields.size() + 1 == max_fields || !is_space(text[end]))) ++end;
    while (end > position && is_space(text[end - 1])) --end;
    fields.push_back(text.substr(position, end - position));
    position = end;
  }
  return fields;
}

register_value parse_register_value(std::string_view text) {
  if (text == "nil") return std::nullopt;
  return require_integer(text);
}

register_kind parse_register_kind(std::string_view name) {
  if (name == ":read") return register_kind::read;
  if (name == ":write") return register_kind::write;
  if (name == ":cas") return register_kind::cas;
  throw history_error("unknown operation " + std::string(name));
}

// "[OLD NEW]" into the invocation's expected and new values.
void parse_cas_arguments(std::string_view text, register_operation& op) {
  const auto space = text.find(' ');
  if (text.size() < 2 || text.front() != '[' || text.back() != ']' || space == std::string_view::npos) {
    throw history_error("a cas takes [OLD NEW], not " + std::string(text));
  }
  op.expected = parse_register_value(text.substr(1, space - 1));
  op.value = parse_register_value(text.substr(space + 1, text.size() - space - 2));
}

register_operation jepsen_invocation(int process, std::string_view f, std::string_view argument, timestamp time) {
  register_operation op{
      .client = process, .kind = parse_register_kind(f), .outcome = register_outcome::unknown, .invoke = time};
  if (op.kind == register_kind::write) op.value = parse_register_value(argument);
  if (op.kind == register_kind::cas) parse_cas_arguments(argument, op);
  return op;
}

void apply_jepsen_event(std::string_view line, timestamp time, history_builder<register_operation>& history) {
  const auto marker = line.find(jepsen_event_marker);
  if (marker == std::string_view::npos) return;
  const auto fields = split_whitespace(line.substr(marker + jepsen_event_marker.size()), 4);
  const auto process = fields.empty() ? std::nullopt : parse_integer<int>(fields[0]);
  if (!process) return;
  if (fields.size() != 4) throw history_error("expected PROCESS :TYPE :F VALUE");
  const auto type = fields[1];
  if (type == ":invoke") {
    history.invoke(*process, jepsen_invocation(*process, fields[2], fields[3], time));
  } else if (type == ":ok") {
    auto& op = history.close(*process);
    require_same_operation(op.kind == parse_register_kind(fields[2]), *process);
    op.outcome = register_outcome::ok;
    op.complete = time;
    if (op.kind == register_kind::read) op.value = parse_register_value(fields[3]);
  } else if (type == ":fail") {
    history.drop(*process);
  } else if (type == ":info") {
    history.close(*process);
  } else {
    throw history_error("unknown type " + std::string(type));
  }
}

}  // namespace

std::vector<kv_operation> read_json_lines(std::istream& in) {
  std::vector<kv_operation> history;
  for_each_line(in, [&](const std::string& line, timestamp) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) return;
    history.push_back(parse_json_operation(line));
  });
  return history;
}

void write_json_lines(std::ostream& out, std::span<const kv_operation> history) {
  for (const auto& op : history) out << to_json(op).dump() << '\n';
  if (!out) throw history_error("write error");
}

std::vector<kv_operation> read_edn_kv_history(std::istream& in) {
  history_builder<kv_operation> history;
  for_each_line(in, [&](const std::string& line, timestamp time) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) return;
    apply_edn_kv_event(edn_map_reader(line).read(), time, history);
  });
  return std::move(history).finish();
}

std::vector<register_operation> read_jepsen_register_history(std::istream& in) {
  history_builder<register_operation> history;
  for_each_line(in, [&](const std::string& line, timestamp time) { apply_jepsen_event(line, time, history); });
  return std::move(history).finish();
}

}  // namespace coraft::lin
