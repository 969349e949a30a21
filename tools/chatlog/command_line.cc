#include "command_line.h"

#include <charconv>
#include <cstdint>

namespace chatlog {

command_line::command_line(const std::vector<std::string>& words, const command_spec& spec) {
  for (std::size_t i = 0; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (word == "--") {
      positional_.insert(positional_.end(), words.begin() + static_cast<std::ptrdiff_t>(i) + 1, words.end());
      break;
    }
    if (!word.starts_with("--")) {
      positional_.push_back(word);
      continue;
    }
    const std::size_t equals = word.find('=');
    const std::string name = word.substr(2, equals == std::string::npos ? std::string::npos : equals - 2);
    if (spec.flags.contains(name) && equals == std::string::npos) {
      flags_.insert(name);
    } else if (!spec.options.contains(name)) {
      throw usage_error("unknown option --" + name);
    } else if (equals != std::string::npos) {
      options_[name] = word.substr(equals + 1);
    } else if (i + 1 < words.size()) {
      options_[name] = words[++i];
    } else {
      throw usage_error("--" + name + " needs a value");
    }
  }
}

std::optional<std::string> command_line::option(const std::string& name) const {
  auto found = options_.find(name);
  if (found == options_.end()) return std::nullopt;
  return found->second;
}

std::string command_line::required(const std::string& name) const {
  auto value = option(name);
  if (!value) throw usage_error("--" + name + " is required");
  return *value;
}

std::optional<std::uint64_t> command_line::number(const std::string& name) const {
  auto value = option(name);
  if (!value) return std::nullopt;
  std::uint64_t number = 0;
  auto [end, error] = std::from_chars(value->data(), value->data() + value->size(), number);
  if (error != std::errc() || end != value->data() + value->size()) {
    throw usage_error("--" + name + " expects a non-negative integer, got \"" + *value + "\"");
  }
  return number;
}

}  // namespace chatlog
