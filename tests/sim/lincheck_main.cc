// coraft-lincheck: checks a JSON-lines history (see history_io.h) for
// linearizability against the key-value model.
//
//   coraft-lincheck [--max-steps N] [--time-limit-ms N] FILE
//
// --max-steps bounds the search, and so its memory too (roughly 100 bytes a
// step for a key with thousands of operations); the default suits histories of
// thousands of operations. Exit status: 0 linearizable, 1 not linearizable,
// 2 gave up or bad input.
#include <charconv>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <string>
#include <string_view>

#include "history_io.h"
#include "linearizability.h"

namespace {

enum exit_status { exit_linearizable = 0, exit_not_linearizable = 1, exit_undecided = 2 };

constexpr std::uint64_t default_max_steps = 20'000'000;

constexpr std::string_view usage = "usage: coraft-lincheck [--max-steps N] [--time-limit-ms N] FILE\n";

struct arguments {
  coraft::lin::check_options options{.max_steps = default_max_steps};
  std::string file;
};

std::optional<std::uint64_t> parse_count(std::string_view text) {
  std::uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc{} || end != text.data() + text.size()) return std::nullopt;
  return value;
}

std::optional<arguments> parse_arguments(int argc, char** argv) {
  arguments result;
  for (int i = 1; i < argc; ++i) {
    const std::string_view argument = argv[i];
    const bool has_value = i + 1 < argc;
    if (argument == "--max-steps" && has_value) {
      result.options.max_steps = parse_count(argv[++i]);
      if (!result.options.max_steps) return std::nullopt;
    } else if (argument == "--time-limit-ms" && has_value) {
      const auto milliseconds = parse_count(argv[++i]);
      if (!milliseconds) return std::nullopt;
      result.options.time_limit = std::chrono::milliseconds(*milliseconds);
    } else if (result.file.empty() && !argument.starts_with("--")) {
      result.file = argument;
    } else {
      return std::nullopt;
    }
  }
  if (result.file.empty()) return std::nullopt;
  return result;
}

int report(const coraft::lin::check_result& result) {
  using coraft::lin::verdict;
  std::cout << to_string(result.verdict);
  if (result.verdict == verdict::linearizable) {
    std::cout << '\n';
    return exit_linearizable;
  }
  std::cout << " (key \"" << result.key << "\")\n" << result.explanation << '\n';
  return result.verdict == verdict::not_linearizable ? exit_not_linearizable : exit_undecided;
}

int check_file(const arguments& args) {
  std::ifstream in(args.file);
  if (!in) {
    std::cerr << "coraft-lincheck: cannot open " << args.file << ": " << std::strerror(errno) << '\n';
    return exit_undecided;
  }
  try {
    const auto history = coraft::lin::read_json_lines(in);
    return report(coraft::lin::check_kv(history, args.options));
  } catch (const std::exception& e) {
    std::cerr << "coraft-lincheck: " << args.file << ": " << e.what() << '\n';
    return exit_undecided;
  }
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = parse_arguments(argc, argv);
  if (!args) {
    std::cerr << usage;
    return exit_undecided;
  }
  return check_file(*args);
}
