// coraft-bench: how close coraft comes to the machine's limit. See README.md.
#include "benchmark.h"
#include "node_process.h"
#include "options.h"
#include "report.h"
#include "svg_plot.h"

#include <nlohmann/json.hpp>

#include <csignal>
#include <exception>
#include <fstream>
#include <iostream>
#include <string>
#include <variant>
#include <vector>

namespace {

using namespace coraft::bench;

void write_plot(const std::string& file, const bench_report& report) {
  std::ofstream out(file);
  out << plot_svg(report);
  if (!out) throw std::runtime_error("cannot write " + file);
}

int run(const bench_options& options) {
  const bench_report report = run_benchmark(options);
  if (options.json) {
    std::cout << to_json(report).dump(2) << "\n";
  } else {
    print_report(std::cout, report);
  }
  if (!options.plot_file.empty()) write_plot(options.plot_file, report);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  // A node process that ended must not take this one with it when written to.
  std::signal(SIGPIPE, SIG_IGN);
  try {
    const auto command = parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
    if (std::holds_alternative<help_request>(command)) {
      std::cout << usage_text;
      return 0;
    }
    if (const auto* node = std::get_if<node_process_options>(&command)) return run_node_process(*node);
    return run(std::get<bench_options>(command));
  } catch (const usage_error& error) {
    std::cerr << "coraft-bench: " << error.what() << "\n\n" << usage_text;
    return 2;
  } catch (const std::exception& error) {
    std::cerr << "coraft-bench: " << error.what() << "\n";
    return 1;
  }
}
