// The command line of one chatlog subcommand: "--name value" or
// "--name=value" options, "--flag" switches and positional words.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace chatlog {

// A command line that does not fit the subcommand; the message says why.
class usage_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct command_spec {
  std::set<std::string> options;  // take a value
  std::set<std::string> flags;    // take none
};

class command_line {
 public:
  // Parses `words` (the arguments after the subcommand's name). Throws
  // usage_error for an unknown option or an option without its value.
  command_line(const std::vector<std::string>& words, const command_spec& spec);

  std::optional<std::string> option(const std::string& name) const;
  std::string required(const std::string& name) const;
  // The option as a number; usage_error when it is not one.
  std::optional<std::uint64_t> number(const std::string& name) const;
  bool flag(const std::string& name) const { return flags_.contains(name); }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::string> options_;
  std::set<std::string> flags_;
  std::vector<std::string> positional_;
};

}  // namespace chatlog
