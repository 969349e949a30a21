#include "options.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <charconv>
#include <optional>
#include <utility>

namespace coraft::bench {

const char* const usage_text = R"(usage: coraft-bench [options]

How close coraft comes to the machine's limit: throughput, latency percentiles,
CPU and memory per node, batching, and the p50 commit latency as a multiple of
one loopback round trip plus one fsync, measured in the same run.

  --mode in-process|real   in-process: every node in this process; real: one
                           process per node, TCP on 127.0.0.1, LevelDB with sync
                           (default in-process)
  --nodes N                group size, 1 to 9 (default 3)
  --storage memory|leveldb the log (default memory in-process, leveldb real)
  --payload BYTES          size of each proposed command (default 64)
  --clients LIST           concurrent clients, one measurement per value,
                           e.g. 1,4,16,64,256 (default 1,16,256)
  --clients-in WHERE       leader: coroutines in the leader's process;
                           tcp: this process, over the leader's client port
                           (real mode only); both (default leader in-process,
                           both real)
  --connections N          TCP connections the tcp clients share (default
                           min(clients, 16))
  --duration SECONDS       measured time per point (default 5)
  --ops N                  measure N proposals per point instead
  --warmup SECONDS         unmeasured time before each point (default 1)
  --rate OPS|Fx            open loop: OPS proposals per second, or F times the
                           throughput a closed loop of the same clients reached
                           just before (measured first)
  --data-dir DIR           where the run's directory is made (default $TMPDIR
                           or /tmp); removed afterwards unless --keep-data
  --keep-data
  --threads N              io threads in-process, or per node process (default 1)
  --workers io|own         io: what never blocks (the state machine, and the
                           log when it is in memory) runs on the io threads;
                           own: on threads of each node's own, coraft's
                           default (default io)
  --client-threads N       io threads of the tcp clients (default 1)
  --bound-samples N        fsyncs measured for the bound (default 300)
  --json                   print the results as JSON on stdout
  --plot FILE.svg          draw throughput and p99 latency against clients
  --no-progress            no progress line on stderr
  --help

coraft-bench node --config FILE --id N [--threads N] [--workers io|own] runs one node of a real
cluster; coraft-bench starts these itself.
)";

std::string_view to_string(cluster_mode mode) { return mode == cluster_mode::in_process ? "in-process" : "real"; }
std::string_view to_string(client_place place) { return place == client_place::leader ? "leader" : "tcp"; }

std::size_t bench_options::connections_for(std::size_t client_count) const {
  return connections != 0 ? std::min(connections, client_count) : std::min<std::size_t>(client_count, 16);
}

namespace {

template <class Number>
Number parse_number(std::string_view name, std::string_view text) {
  Number value{};
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size())
    throw usage_error(std::string(name) + ": not a number: \"" + std::string(text) + "\"");
  return value;
}

template <class Number>
Number parse_positive(std::string_view name, std::string_view text) {
  const auto value = parse_number<Number>(name, text);
  if (!(value > 0)) throw usage_error(std::string(name) + " must be above 0");
  return value;
}

std::vector<std::size_t> parse_list(std::string_view name, std::string_view text) {
  std::vector<std::size_t> values;
  while (!text.empty()) {
    const std::size_t comma = std::min(text.find(','), text.size());
    values.push_back(parse_positive<std::size_t>(name, text.substr(0, comma)));
    text.remove_prefix(std::min(comma + 1, text.size()));
  }
  if (values.empty()) throw usage_error(std::string(name) + ": no values");
  return values;
}

std::vector<client_place> parse_places(std::string_view text) {
  if (text == "leader") return {client_place::leader};
  if (text == "tcp") return {client_place::tcp};
  if (text == "both") return {client_place::leader, client_place::tcp};
  throw usage_error("--clients-in: leader, tcp or both, not \"" + std::string(text) + "\"");
}

void parse_rate(bench_options& options, std::string_view text) {
  if (text.ends_with('x')) {
    options.rate_factor = parse_positive<double>("--rate", text.substr(0, text.size() - 1));
  } else {
    options.rate = parse_positive<double>("--rate", text);
  }
}

// Splits "--name=value" and "--name value" alike; flags take no value.
class argument_reader {
 public:
  explicit argument_reader(const std::vector<std::string>& arguments) : arguments_(arguments) {}

  bool done() const { return next_ >= arguments_.size(); }

  // The next option's name, and its inline value if it had one.
  std::string take_name() {
    std::string argument = arguments_[next_++];
    if (!argument.starts_with("--")) throw usage_error("unexpected argument \"" + argument + "\"");
    const std::size_t equals = argument.find('=');
    inline_value_.reset();
    if (equals != std::string::npos) {
      inline_value_ = argument.substr(equals + 1);
      argument.resize(equals);
    }
    return argument;
  }

  std::string take_value(const std::string& name) {
    if (inline_value_) return *std::exchange(inline_value_, std::nullopt);
    if (done()) throw usage_error(name + " needs a value");
    return arguments_[next_++];
  }

  void expect_no_value(const std::string& name) const {
    if (inline_value_) throw usage_error(name + " takes no value");
  }

 private:
  const std::vector<std::string>& arguments_;
  std::size_t next_ = 0;
  std::optional<std::string> inline_value_;
};

bool parse_workers_on_io(const std::string& text) {
  if (text != "io" && text != "own") throw usage_error("--workers: io or own, not \"" + text + "\"");
  return text == "io";
}

node_process_options parse_node_command(const std::vector<std::string>& arguments) {
  node_process_options options;
  argument_reader reader(arguments);
  while (!reader.done()) {
    const std::string name = reader.take_name();
    if (name == "--config") {
      options.config_file = reader.take_value(name);
    } else if (name == "--id") {
      options.id = node_id(parse_positive<std::uint64_t>(name, reader.take_value(name)));
    } else if (name == "--threads") {
      options.threads = parse_positive<unsigned>(name, reader.take_value(name));
    } else if (name == "--workers") {
      options.state_machine_on_io = parse_workers_on_io(reader.take_value(name));
    } else {
      throw usage_error("node: unknown option " + name);
    }
  }
  if (options.config_file.empty() || options.id == no_node) throw usage_error("node: --config and --id are required");
  return options;
}

cluster_mode parse_mode(const std::string& text) {
  if (text == "in-process") return cluster_mode::in_process;
  if (text == "real") return cluster_mode::processes;
  throw usage_error("--mode: in-process or real, not \"" + text + "\"");
}

bool parse_storage_is_leveldb(const std::string& text) {
  if (text != "memory" && text != "leveldb") throw usage_error("--storage: memory or leveldb, not \"" + text + "\"");
  return text == "leveldb";
}

// Applies a flag; false when `name` is none.
bool apply_flag(bench_options& options, const std::string& name) {
  if (name == "--json") {
    options.json = true;
  } else if (name == "--keep-data") {
    options.keep_data = true;
  } else if (name == "--no-progress") {
    options.progress = false;
  } else {
    return false;
  }
  return true;
}

// Applies an option that takes a value, which `reader` holds next. Throws
// usage_error for an unknown option or a bad value.
void apply_option(bench_options& options, const std::string& name, argument_reader& reader) {
  const auto value = [&] { return reader.take_value(name); };
  if (name == "--mode") {
    options.mode = parse_mode(value());
  } else if (name == "--nodes") {
    options.nodes = parse_positive<std::size_t>(name, value());
  } else if (name == "--storage") {
    options.leveldb = parse_storage_is_leveldb(value());
  } else if (name == "--payload") {
    options.payload_bytes = parse_positive<std::size_t>(name, value());
  } else if (name == "--clients") {
    options.clients = parse_list(name, value());
  } else if (name == "--clients-in") {
    options.places = parse_places(value());
  } else if (name == "--connections") {
    options.connections = parse_positive<std::size_t>(name, value());
  } else if (name == "--duration") {
    options.duration_seconds = parse_positive<double>(name, value());
  } else if (name == "--ops") {
    options.ops = parse_positive<std::uint64_t>(name, value());
  } else if (name == "--warmup") {
    options.warmup_seconds = parse_number<double>(name, value());
  } else if (name == "--rate") {
    parse_rate(options, value());
  } else if (name == "--data-dir") {
    options.data_parent = value();
  } else if (name == "--threads") {
    options.threads = parse_positive<unsigned>(name, value());
  } else if (name == "--client-threads") {
    options.client_threads = parse_positive<unsigned>(name, value());
  } else if (name == "--workers") {
    options.workers_on_io = parse_workers_on_io(value());
  } else if (name == "--bound-samples") {
    options.bound_samples = parse_positive<std::size_t>(name, value());
  } else if (name == "--plot") {
    options.plot_file = value();
  } else {
    throw usage_error("unknown option " + name);
  }
}

// The defaults that depend on the mode, unless the command line chose.
void apply_mode_defaults(bench_options& options, bool storage_given, bool places_given) {
  if (options.mode == cluster_mode::processes) {
    if (!storage_given) options.leveldb = true;
    if (!places_given) options.places = {client_place::leader, client_place::tcp};
  }
}

void check(const bench_options& options) {
  if (options.nodes > 9) throw usage_error("--nodes: 1 to 9");
  if (options.warmup_seconds < 0) throw usage_error("--warmup must not be negative");
  if (options.mode == cluster_mode::processes && !options.leveldb)
    throw usage_error(
        "real mode keeps the log in LevelDB (coraft::tcp_node): --storage memory needs --mode in-process");
  if (options.mode == cluster_mode::in_process &&
      std::find(options.places.begin(), options.places.end(), client_place::tcp) != options.places.end())
    throw usage_error("--clients-in tcp needs --mode real (in-process nodes have no client port)");
}

bench_options parse_bench_options(const std::vector<std::string>& arguments) {
  bench_options options;
  bool storage_given = false;
  bool places_given = false;
  argument_reader reader(arguments);
  while (!reader.done()) {
    const std::string name = reader.take_name();
    if (apply_flag(options, name)) {
      reader.expect_no_value(name);
      continue;
    }
    apply_option(options, name, reader);
    storage_given |= name == "--storage";
    places_given |= name == "--clients-in";
  }
  apply_mode_defaults(options, storage_given, places_given);
  check(options);
  return options;
}

}  // namespace

std::variant<bench_options, node_process_options, help_request> parse_command_line(
    const std::vector<std::string>& arguments) {
  if (!arguments.empty() && arguments.front() == "node")
    return parse_node_command(std::vector<std::string>(arguments.begin() + 1, arguments.end()));
  if (std::find(arguments.begin(), arguments.end(), "--help") != arguments.end()) return help_request{};
  return parse_bench_options(arguments);
}

nlohmann::json to_json(const bench_options& options) {
  nlohmann::json places = nlohmann::json::array();
  for (client_place place : options.places) places.push_back(to_string(place));
  return {{"mode", to_string(options.mode)},
          {"nodes", options.nodes},
          {"storage", options.leveldb ? "leveldb (sync)" : "memory"},
          {"payload_bytes", options.payload_bytes},
          {"clients", options.clients},
          {"clients_in", places},
          {"connections", options.connections},
          {"warmup_s", options.warmup_seconds},
          {"duration_s", options.duration_seconds},
          {"ops", options.ops},
          {"rate", options.rate},
          {"rate_factor", options.rate_factor},
          {"threads", options.threads},
          {"workers", options.workers_on_io ? "io" : "own"},
          {"client_threads", options.client_threads},
          {"bound_samples", options.bound_samples}};
}

}  // namespace coraft::bench
