#!/usr/bin/env python3
"""Runs coraft-bench briefly in each mode and checks that its output is well
formed: the exit status, the JSON's fields and numbers, and the SVG. Figures
are never judged here: a benchmark is not a pass/fail test."""

import json
import math
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree

LATENCY_FIELDS = ("samples", "p50", "p90", "p99", "p99_9", "max")


def run_bench(bench, arguments):
    command = [bench, "--json", "--no-progress", "--duration", "1", "--warmup", "0.3", "--bound-samples", "20"]
    done = subprocess.run(command + arguments, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=240)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command + arguments)} exited {done.returncode}:\n{done.stderr}")
    return json.loads(done.stdout)


def check_number(value, where, positive=False):
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        sys.exit(f"{where}: not a number: {value!r}")
    if value < 0 or (positive and value == 0):
        sys.exit(f"{where}: {value} out of range")


def check_latency(latency, where):
    for field in LATENCY_FIELDS:
        check_number(latency[field], f"{where}.{field}", positive=True)
    ordered = [latency[f] for f in LATENCY_FIELDS[1:]]
    if ordered != sorted(ordered):
        sys.exit(f"{where}: percentiles out of order: {ordered}")


def check_report(report, expected_points, places):
    for field in ("nproc", "cpu_model", "kernel", "disk"):
        if not report["machine"][field]:
            sys.exit(f"machine.{field} is empty")
    check_latency(report["bound"]["fsync_4k_us"], "bound.fsync_4k_us")
    check_latency(report["bound"]["loopback_rtt_us"], "bound.loopback_rtt_us")
    check_number(report["bound"]["floor_1rtt_1fsync_us"], "bound.floor_1rtt_1fsync_us", positive=True)
    concurrent = report["bound"]["fsync_concurrent_us"]
    check_latency(concurrent, "bound.fsync_concurrent_us")
    if concurrent["writers"] != report["config"]["nodes"]:
        sys.exit(f"bound.fsync_concurrent_us: {concurrent['writers']} writers for {report['config']['nodes']} nodes")
    if concurrent["write_bytes"] != report["config"]["payload_bytes"]:
        sys.exit(f"bound.fsync_concurrent_us: writes {concurrent['write_bytes']} B, the payload is "
                 f"{report['config']['payload_bytes']} B")
    bare = report["bound"]["bare_replication_us"]
    check_latency(bare, "bound.bare_replication_us")
    nodes = report["config"]["nodes"]
    if (bare["followers"], bare["answers_needed"], bare["bytes"]) != (nodes - 1, nodes // 2,
                                                                        report["config"]["payload_bytes"]):
        sys.exit(f"bound.bare_replication_us: {bare['followers']} followers, {bare['answers_needed']} answers, "
                 f"{bare['bytes']} B for {nodes} nodes and {report['config']['payload_bytes']} B commands")
    for measurement in ("fsync_4k_us", "loopback_rtt_us", "bare_replication_us"):
        pooled = report["bound"][measurement]["samples"]
        parts = [report[half][measurement]["samples"] for half in ("bound_before", "bound_after")]
        if pooled != sum(parts) or 0 in parts:
            sys.exit(f"bound.{measurement}: {pooled} samples do not pool before and after ({parts})")
    points = report["points"]
    if len(points) != expected_points:
        sys.exit(f"expected {expected_points} points, got {len(points)}")
    if {p["clients_in"] for p in points} != set(places):
        sys.exit(f"expected clients in {places}, got {[p['clients_in'] for p in points]}")
    for i, point in enumerate(points):
        where = f"points[{i}]"
        for field in ("ops_per_s", "mib_per_s", "cpu_s_per_1000_ops", "entries_per_write", "window_s"):
            check_number(point[field], f"{where}.{field}", positive=True)
        check_number(point["leader_entries_per_message"], f"{where}.leader_entries_per_message")
        check_number(point["latest_send_us"], f"{where}.latest_send_us")
        check_latency(point["latency_us"], f"{where}.latency_us")
        if len(point["nodes"]) != report["config"]["nodes"]:
            sys.exit(f"{where}: one sample per node expected")
        if sum(node["role"] == "leader" for node in point["nodes"]) != 1:
            sys.exit(f"{where}: exactly one leader expected")
    return points


def check_svg(path):
    root = ElementTree.parse(path).getroot()
    if not root.tag.endswith("svg"):
        sys.exit(f"{path}: not an SVG document")
    if not any(element.tag.endswith("polyline") for element in root.iter()):
        sys.exit(f"{path}: no lines drawn")


def main():
    bench = sys.argv[1]
    with tempfile.TemporaryDirectory() as scratch:
        plot = f"{scratch}/sweep.svg"
        report = run_bench(bench, ["--mode", "in-process", "--nodes", "3", "--clients", "1,8",
                                   "--data-dir", scratch, "--plot", plot])
        check_report(report, 2, ["leader"])
        check_svg(plot)

        report = run_bench(bench, ["--mode", "real", "--nodes", "3", "--clients", "4", "--data-dir", scratch])
        for point in check_report(report, 2, ["leader", "tcp"]):
            for node in point["nodes"]:
                check_number(node["cpu_s"], "node cpu_s", positive=True)
                check_number(node["peak_rss_mib"], "node peak_rss_mib", positive=True)
            check_number(point["p50_over_floor"], "p50_over_floor", positive=True)
            check_number(point["p50_over_bare_replication"], "p50_over_bare_replication", positive=True)

        rate = 400
        report = run_bench(bench, ["--mode", "real", "--nodes", "3", "--clients", "4", "--clients-in", "leader",
                                   "--rate", str(rate), "--data-dir", scratch])
        for point in check_report(report, 1, ["leader"]):
            if point["open_loop_rate"] != rate:
                sys.exit(f"open loop: offered {point['open_loop_rate']}/s, asked for {rate}/s")
            # Answers in the window are at most what fell due in it, and the few
            # due just before it.
            if point["ops_per_s"] > 1.1 * rate:
                sys.exit(f"open loop: {point['ops_per_s']} ops/s answered, {rate}/s offered")
    print("coraft-bench output is well formed")


if __name__ == "__main__":
    main()
