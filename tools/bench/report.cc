#include "report.h"

#include "format.h"
#include "source_version.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <set>
#include <string>
#include <vector>

namespace coraft::bench {
namespace {

constexpr double mebibyte = 1024.0 * 1024.0;

double ratio(std::uint64_t numerator, std::uint64_t denominator) {
  return denominator == 0 ? 0 : static_cast<double>(numerator) / static_cast<double>(denominator);
}

double percentile_us(const histogram& h, double percentile) {
  return static_cast<double>(h.value_at_percentile(percentile)) / 1e3;
}

double latest_send_us(const point_result& point) {
  return std::chrono::duration<double, std::micro>(point.load.latest_send).count();
}

const node_sample* leader_of(const point_result& point) {
  const auto leader = std::find_if(point.nodes.begin(), point.nodes.end(),
                                   [](const node_sample& node) { return node.role == "leader"; });
  return leader == point.nodes.end() ? nullptr : &*leader;
}

nlohmann::json node_json(const node_sample& node) {
  nlohmann::json out = {{"id", node.id.value},
                        {"role", node.role},
                        {"log_writes", node.totals.log_writes},
                        {"entries_written", node.totals.entries_written},
                        {"entries_per_write", ratio(node.totals.entries_written, node.totals.log_writes)},
                        {"messages_sent", node.totals.messages_sent},
                        {"entries_sent", node.totals.entries_sent},
                        {"entries_per_message", ratio(node.totals.entries_sent, node.totals.messages_sent)},
                        {"elections_started", node.totals.elections_started}};
  if (node.usage) {
    out["cpu_s"] = node.usage->cpu_seconds;
    out["context_switches"] = node.usage->context_switches;
  }
  if (node.peak_rss_bytes) out["peak_rss_mib"] = static_cast<double>(*node.peak_rss_bytes) / mebibyte;
  return out;
}

nlohmann::json point_json(const bench_report& report, const point_result& point) {
  const point_figures figures = figures_of(report, point);
  nlohmann::json failed = nlohmann::json::object();
  for (std::size_t k = 0; k < failure_kinds; ++k)
    failed[std::string(to_string(failure_kind(k)))] = point.load.failed[k];
  nlohmann::json nodes = nlohmann::json::array();
  for (const node_sample& node : point.nodes) nodes.push_back(node_json(node));
  nlohmann::json out = {
      {"clients", point.clients},
      {"clients_in", to_string(point.place)},
      {"connections", point.connections},
      {"open_loop_rate", point.offered_rate},
      {"latest_send_us", latest_send_us(point)},
      {"window_s", point.load.window_seconds},
      {"ops", point.load.succeeded},
      {"ops_per_s", figures.ops_per_second},
      {"mib_per_s", figures.mib_per_second},
      {"latency_us", latency_summary_json(point.load.latency)},
      {"failed", failed},
      {"cpu_s", figures.cpu_seconds},
      {"cpu_s_per_1000_ops", figures.cpu_seconds_per_1000_ops},
      {"context_switches_per_op", figures.context_switches_per_op},
      {"entries_per_write", figures.entries_per_write},
      {"leader_entries_per_message", figures.leader_entries_per_message},
      {"bench_process",
       {{"cpu_s", point.bench_usage.cpu_seconds},
        {"context_switches", point.bench_usage.context_switches},
        {"peak_rss_mib", static_cast<double>(point.bench_peak_rss_bytes) / mebibyte}}},
      {"nodes", nodes},
  };
  if (figures.floor_microseconds) {
    out["floor_round_trips"] = *figures.floor_round_trips;
    out["floor_us"] = *figures.floor_microseconds;
    out["p50_over_floor"] = *figures.p50_over_floor;
  }
  if (figures.shared_disk_floor_microseconds) {
    out["shared_disk_floor_us"] = *figures.shared_disk_floor_microseconds;
    out["p50_over_shared_disk_floor"] = *figures.p50_over_shared_disk_floor;
  }
  if (figures.bare_replication_microseconds) {
    out["bare_replication_us"] = *figures.bare_replication_microseconds;
    out["p50_over_bare_replication"] = *figures.p50_over_bare_replication;
  }
  return out;
}

// Columns padded to their widest cell; numbers align right, the columns in
// `text_columns` left.
void print_table(std::ostream& out, const std::vector<std::vector<std::string>>& rows,
                 const std::set<std::size_t>& text_columns) {
  std::vector<std::size_t> widths;
  for (const auto& row : rows) {
    widths.resize(std::max(widths.size(), row.size()));
    for (std::size_t c = 0; c < row.size(); ++c) widths[c] = std::max(widths[c], row[c].size());
  }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t c = 0; c < row.size(); ++c) {
      const std::string padding(widths[c] - row[c].size(), ' ');
      line += text_columns.contains(c) ? row[c] + padding : padding + row[c];
      line += "  ";
    }
    line.erase(line.find_last_not_of(' ') + 1);
    out << line << "\n";
  }
}

std::string mib(std::uint64_t bytes) { return format_fixed(static_cast<double>(bytes) / mebibyte, 0); }

std::string failures_text(const load_result& load) {
  if (load.failures() == 0) return "0";
  std::string text;
  for (std::size_t k = 0; k < failure_kinds; ++k) {
    if (load.failed[k] == 0) continue;
    if (!text.empty()) text += ", ";
    text += format_count(static_cast<double>(load.failed[k])) + " " + std::string(to_string(failure_kind(k)));
  }
  return text;
}

std::string where(const point_result& point) {
  std::string text(to_string(point.place));
  if (point.place == client_place::tcp) text += " (" + std::to_string(point.connections) + " conn)";
  if (point.offered_rate > 0) text += " open loop " + format_count(point.offered_rate) + "/s";
  return text;
}

// Where the nodes call their log and state machine (--workers).
std::string_view worker_placement(const bench_options& o) {
  if (!o.workers_on_io) return "log and state machine on threads of each node's own";
  if (o.leveldb) return "log on a thread of each node's own, state machine on the io threads";
  return "log and state machine on the io threads";
}

void print_header(std::ostream& out, const bench_report& report) {
  const bench_options& o = report.options;
  out << "coraft-bench: " << to_string(o.mode) << ", " << o.nodes << (o.nodes == 1 ? " node" : " nodes") << ", log in "
      << (o.leveldb ? "LevelDB (sync)" : "memory") << ", " << o.payload_bytes << " B commands, ";
  if (o.ops != 0) {
    out << format_count(static_cast<double>(o.ops)) << " proposals";
  } else {
    out << format_fixed(o.duration_seconds, 1) << " s";
  }
  out << " per point after " << format_fixed(o.warmup_seconds, 1) << " s warm-up\n"
      << "threads: " << o.threads << " io per " << (o.mode == cluster_mode::in_process ? "process" : "node")
      << ", " << worker_placement(o) << "\n"
      << "coraft: " << CORAFT_BENCH_SOURCE_VERSION << "\n";
  const machine_description& m = report.machine;
  out << "machine: " << m.processors << " x " << m.cpu_model << ", Linux " << m.kernel << "\n"
      << "disk: " << m.disk << "\n"
      << "load average: " << format_fixed(report.load_average_before[0], 2) << " before, "
      << format_fixed(report.load_average_after[0], 2) << " after\n\n";
}

// One measurement's p50 before the points and after them.
std::string p50_before_then_after(const bench_report& report, histogram physical_bound::*measurement) {
  return format_microseconds(percentile_us(report.bound_before.*measurement, 50)) + " then " +
         format_microseconds(percentile_us(report.bound_after.*measurement, 50));
}

// How far the disk moved between the two measurements that `bound` pools.
void print_bound_drift(std::ostream& out, const bench_report& report) {
  out << "       measured before and after the points: fsync p50 "
      << p50_before_then_after(report, &physical_bound::durable_append);
  if (report.bound.concurrent_durable_append.count() != 0) {
    out << ", " << report.bound.writers << " writers "
        << p50_before_then_after(report, &physical_bound::concurrent_durable_append);
  }
  if (report.bound.bare_replication.count() != 0)
    out << ", replication without Raft " << p50_before_then_after(report, &physical_bound::bare_replication);
  out << "; the floor pools both\n\n";
}

void print_bound(std::ostream& out, const physical_bound& bound) {
  out << "bound: 4 KiB append + fdatasync p50 " << format_microseconds(percentile_us(bound.durable_append, 50))
      << " (p99 " << format_microseconds(percentile_us(bound.durable_append, 99)) << ")";
  if (bound.concurrent_durable_append.count() != 0) {
    out << ", " << bound.writers << " writers of " << bound.concurrent_write_bytes << " B at once p50 "
        << format_microseconds(percentile_us(bound.concurrent_durable_append, 50));
  }
  out << "\n       loopback TCP round trip p50 " << format_microseconds(percentile_us(bound.round_trip, 50)) << " (p99 "
      << format_microseconds(percentile_us(bound.round_trip, 99)) << ")\n"
      << "       floor, 1 round trip + 1 fsync: " << format_microseconds(bound.floor_microseconds(1)) << "\n";
  if (bound.bare_replication.count() != 0) {
    out << "       replication without Raft p50 " << format_microseconds(percentile_us(bound.bare_replication, 50))
        << " (p99 " << format_microseconds(percentile_us(bound.bare_replication, 99)) << "): a thread sends "
        << bound.concurrent_write_bytes << " B to " << bound.followers()
        << " followers\n         and appends them with fdatasync; they do the same and answer; done at "
        << bound.answers_needed() << " answer"
        << (bound.answers_needed() == 1 ? "" : "s") << "\n";
  }
}

void print_points(std::ostream& out, const bench_report& report) {
  std::vector<std::vector<std::string>> rows = {{"clients", "where", "ops/s", "MiB/s", "p50", "p90", "p99", "p99.9",
                                                 "max", "CPU s/1k ops", "ctx sw/op", "entries/write", "entries/msg",
                                                 "failed"}};
  for (const point_result& point : report.points) {
    const point_figures figures = figures_of(report, point);
    const histogram& latency = point.load.latency;
    rows.push_back({std::to_string(point.clients), where(point), format_count(figures.ops_per_second),
                    format_fixed(figures.mib_per_second, 2), format_microseconds(percentile_us(latency, 50)),
                    format_microseconds(percentile_us(latency, 90)), format_microseconds(percentile_us(latency, 99)),
                    format_microseconds(percentile_us(latency, 99.9)),
                    format_microseconds(static_cast<double>(latency.max()) / 1e3),
                    format_fixed(figures.cpu_seconds_per_1000_ops, 3), format_fixed(figures.context_switches_per_op, 1),
                    format_fixed(figures.entries_per_write, 1), format_fixed(figures.leader_entries_per_message, 1),
                    failures_text(point.load)});
  }
  print_table(out, rows, {1, 13});
  out << "\n";
}

// An open loop's latencies count from the due times, so they hold whatever
// delay the generator itself added: shown so that it is not taken for the group's.
void print_latest_sends(std::ostream& out, const bench_report& report) {
  bool any = false;
  for (const point_result& point : report.points) {
    if (point.offered_rate <= 0) continue;
    if (!any) out << "open loop, latest send: the most a proposal went out after its due time:\n";
    any = true;
    out << "  " << point.clients << " " << where(point) << ": " << format_microseconds(latest_send_us(point)) << "\n";
  }
  if (any) out << "\n";
}

void print_floor_ratios(std::ostream& out, const bench_report& report) {
  bool any = false;
  for (const point_result& point : report.points) {
    const point_figures figures = figures_of(report, point);
    if (point.clients != 1 || point.offered_rate > 0 || !figures.p50_over_floor) continue;
    if (!any) out << "p50 at 1 client over the floor (fsync p50 + round trips p50):\n";
    any = true;
    out << "  " << to_string(point.place) << ": " << format_microseconds(percentile_us(point.load.latency, 50)) << " = "
        << format_fixed(*figures.p50_over_floor, 2) << " x " << format_microseconds(*figures.floor_microseconds)
        << " (1 fsync + " << *figures.floor_round_trips << " round trip" << (*figures.floor_round_trips == 1 ? "" : "s")
        << ")";
    if (figures.p50_over_shared_disk_floor) {
      out << "; " << format_fixed(*figures.p50_over_shared_disk_floor, 2) << " x "
          << format_microseconds(*figures.shared_disk_floor_microseconds) << " with " << report.bound.writers
          << " fsyncs of " << report.bound.concurrent_write_bytes << " B at once on the shared disk";
    }
    if (figures.p50_over_bare_replication) {
      out << ";\n    " << format_fixed(*figures.p50_over_bare_replication, 2) << " x "
          << format_microseconds(*figures.bare_replication_microseconds)
          << ", the same appends and round trips without Raft";
    }
    out << "\n";
  }
  if (any) out << "\n";
}

void print_nodes(std::ostream& out, const bench_report& report) {
  std::vector<std::vector<std::string>> rows = {{"clients", "where", "node", "role", "CPU s", "ctx switches",
                                                 "peak RSS MiB", "disk writes", "entries/write", "messages",
                                                 "entries/msg"}};
  for (const point_result& point : report.points) {
    for (const node_sample& node : point.nodes) {
      rows.push_back({std::to_string(point.clients), where(point), std::to_string(node.id.value), node.role,
                      node.usage ? format_fixed(node.usage->cpu_seconds, 2) : "-",
                      node.usage ? format_count(static_cast<double>(node.usage->context_switches)) : "-",
                      node.peak_rss_bytes ? mib(*node.peak_rss_bytes) : "-",
                      format_count(static_cast<double>(node.totals.log_writes)),
                      format_fixed(ratio(node.totals.entries_written, node.totals.log_writes), 1),
                      format_count(static_cast<double>(node.totals.messages_sent)),
                      format_fixed(ratio(node.totals.entries_sent, node.totals.messages_sent), 1)});
    }
    rows.push_back({std::to_string(point.clients), where(point), "bench", "this process",
                    format_fixed(point.bench_usage.cpu_seconds, 2),
                    format_count(static_cast<double>(point.bench_usage.context_switches)),
                    mib(point.bench_peak_rss_bytes)});
  }
  out << "per node, over each point (warm-up and drain included):\n";
  print_table(out, rows, {1, 3});
}

}  // namespace

point_figures figures_of(const bench_report& report, const point_result& point) {
  point_figures figures;
  figures.ops_per_second = point.load.ops_per_second();
  figures.mib_per_second = figures.ops_per_second * static_cast<double>(report.options.payload_bytes) / mebibyte;
  resource_usage total = point.bench_usage;
  std::uint64_t writes = 0;
  std::uint64_t entries = 0;
  for (const node_sample& node : point.nodes) {
    if (node.usage) {
      total.cpu_seconds += node.usage->cpu_seconds;
      total.context_switches += node.usage->context_switches;
    }
    writes += node.totals.log_writes;
    entries += node.totals.entries_written;
  }
  const double ops_in_run = std::max<double>(1, static_cast<double>(point.load.succeeded_in_run));
  figures.cpu_seconds = total.cpu_seconds;
  figures.cpu_seconds_per_1000_ops = 1000 * total.cpu_seconds / ops_in_run;
  figures.context_switches_per_op = static_cast<double>(total.context_switches) / ops_in_run;
  figures.entries_per_write = ratio(entries, writes);
  if (const node_sample* leader = leader_of(point))
    figures.leader_entries_per_message = ratio(leader->totals.entries_sent, leader->totals.messages_sent);
  if (report.options.leveldb) {
    const bool replicated_over_tcp = report.options.mode == cluster_mode::processes && report.options.nodes > 1;
    const unsigned round_trips = (replicated_over_tcp ? 1 : 0) + (point.place == client_place::tcp ? 1 : 0);
    figures.floor_round_trips = round_trips;
    figures.floor_microseconds = report.bound.floor_microseconds(round_trips);
    const double p50 = percentile_us(point.load.latency, 50);
    figures.p50_over_floor = p50 / *figures.floor_microseconds;
    figures.shared_disk_floor_microseconds = report.bound.shared_disk_floor_microseconds(round_trips);
    if (figures.shared_disk_floor_microseconds)
      figures.p50_over_shared_disk_floor = p50 / *figures.shared_disk_floor_microseconds;
    if (replicated_over_tcp) {
      figures.bare_replication_microseconds = report.bound.bare_replication_microseconds(round_trips - 1);
      if (figures.bare_replication_microseconds)
        figures.p50_over_bare_replication = p50 / *figures.bare_replication_microseconds;
    }
  }
  return figures;
}

nlohmann::json to_json(const bench_report& report) {
  nlohmann::json machine = to_json(report.machine);
  machine["load_average_before"] = report.load_average_before;
  machine["load_average_after"] = report.load_average_after;
  nlohmann::json points = nlohmann::json::array();
  for (const point_result& point : report.points) points.push_back(point_json(report, point));
  return {{"tool", "coraft-bench"},
          {"source", CORAFT_BENCH_SOURCE_VERSION},
          {"config", to_json(report.options)},
          {"machine", machine},
          {"bound", to_json(report.bound)},
          {"bound_before", to_json(report.bound_before)},
          {"bound_after", to_json(report.bound_after)},
          {"points", points}};
}

void print_report(std::ostream& out, const bench_report& report) {
  print_header(out, report);
  print_bound(out, report.bound);
  print_bound_drift(out, report);
  print_points(out, report);
  print_latest_sends(out, report);
  print_floor_ratios(out, report);
  print_nodes(out, report);
}

}  // namespace coraft::bench
