// Reading configuration from JSON objects, for the TCP options and the cluster
// file alike: each field read is checked for its type and range, and any field
// that was never read is reported as unknown (it is usually a typo).
#pragma once

#include "net/address.h"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace coraft::net {

// The fields of one JSON object at `path` ("" at the top level, "peers[1]",
// "timing" ...). Errors are thrown as Error(path of the field, problem).
template <class Error>
class json_object_reader {
 public:
  json_object_reader(const nlohmann::json& object, std::string path) : object_(object), path_(std::move(path)) {
    if (!object_.is_object()) throw Error(path_.empty() ? "(top level)" : path_, "expected an object");
  }

  std::string field_path(std::string_view name) const {
    return path_.empty() ? std::string(name) : path_ + "." + std::string(name);
  }

  const nlohmann::json* find(std::string_view name) {
    known_.emplace(name);
    auto found = object_.find(name);
    return found == object_.end() ? nullptr : &*found;
  }

  const nlohmann::json& require(std::string_view name) {
    const nlohmann::json* value = find(name);
    if (!value) throw Error(field_path(name), "missing");
    return *value;
  }

  std::optional<std::string> text(std::string_view name) {
    const nlohmann::json* value = find(name);
    if (!value) return std::nullopt;
    if (!value->is_string()) throw Error(field_path(name), "expected a string");
    return value->get<std::string>();
  }

  std::string required_text(std::string_view name) {
    require(name);
    std::string value = *text(name);
    if (value.empty()) throw Error(field_path(name), "must not be empty");
    return value;
  }

  std::optional<std::string> address(std::string_view name) {
    std::optional<std::string> value = text(name);
    if (value && !split_host_port(*value)) {
      throw Error(field_path(name), "expected \"host:port\" (an IPv6 host in brackets), got \"" + *value + "\"");
    }
    return value;
  }

  std::string required_address(std::string_view name) {
    require(name);
    return *address(name);
  }

  std::optional<std::uint64_t> number(std::string_view name, std::uint64_t minimum, std::uint64_t maximum) {
    const nlohmann::json* value = find(name);
    if (!value) return std::nullopt;
    return checked_number(*value, name, minimum, maximum);
  }

  std::uint64_t required_number(std::string_view name, std::uint64_t minimum, std::uint64_t maximum) {
    return checked_number(require(name), name, minimum, maximum);
  }

  std::optional<bool> flag(std::string_view name) {
    const nlohmann::json* value = find(name);
    if (!value) return std::nullopt;
    if (!value->is_boolean()) throw Error(field_path(name), "expected true or false");
    return value->get<bool>();
  }

  void reject_unknown() const {
    for (const auto& [name, value] : object_.items()) {
      if (!known_.contains(name)) throw Error(field_path(name), "unknown field");
    }
  }

 private:
  std::uint64_t checked_number(const nlohmann::json& value, std::string_view name, std::uint64_t minimum,
                               std::uint64_t maximum) const {
    // Parsed text yields unsigned numbers; numbers set from C++ code may be signed.
    const bool non_negative =
        value.is_number_unsigned() || (value.is_number_integer() && value.get<std::int64_t>() >= 0);
    if (!non_negative || value.get<std::uint64_t>() < minimum || value.get<std::uint64_t>() > maximum) {
      throw Error(field_path(name), "expected an integer from " + std::to_string(minimum) + " to " +
                                        std::to_string(maximum));
    }
    return value.get<std::uint64_t>();
  }

  const nlohmann::json& object_;
  std::string path_;
  std::set<std::string, std::less<>> known_;
};

}  // namespace coraft::net
