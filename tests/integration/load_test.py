#!/usr/bin/env python3
"""10,000 messages from 8 concurrent clients while the leader is SIGKILLed and restarted three times.

Each client is a `chatlog post --stdin --json` process: it posts its lines in
order, one at a time, under one session (client id and sequence number), and
retries a post whose outcome it does not know with the same sequence number.
Afterwards every member must hold the same sequence of messages, every message
exactly once, and each client's messages in the order it sent them.
"""

import json
import subprocess
import threading
import time

from chatlog_cluster import Cluster, fail, main, wait_until

CLIENTS = 8
MESSAGES_PER_CLIENT = 1250
ROOM = "load"
# The leader is killed once this many posts were acknowledged, each time
# after the previous victim is back.
KILL_AT = (1500, 4000, 6500)


def text_of(client, number):
    return f"c{client}-{number:05d}"


class client_run:
    """One posting client process and the acknowledgements it printed."""

    def __init__(self, cluster, client):
        self.client = client
        self.acknowledged = []  # (text, seq) in the order printed
        self.process = cluster.spawn(
            ["post", "--servers", cluster.all_addresses(), "--room", ROOM, "--user", f"client{client}",
             "--stdin", "--json", "--timeout", "120"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        lines = "".join(text_of(client, n) + "\n" for n in range(MESSAGES_PER_CLIENT))
        self.writer = threading.Thread(target=self._feed, args=(lines,), daemon=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.writer.start()
        self.reader.start()

    def _feed(self, lines):
        self.process.stdin.write(lines.encode())
        self.process.stdin.close()

    def _read(self):
        for line in self.process.stdout:
            reply = json.loads(line)
            self.acknowledged.append((reply["text"], reply["seq"]))

    def finish(self):
        status = self.process.wait(timeout=600)
        self.reader.join(timeout=60)
        return status


def acknowledged_total(clients):
    return sum(len(c.acknowledged) for c in clients)


def kill_and_restart_leader(cluster, clients, threshold, kills):
    wait_until(f"{threshold} acknowledged posts", lambda: acknowledged_total(clients) >= threshold, limit=300)
    victim = cluster.wait_for_leader()
    cluster.kill(victim)
    at = acknowledged_total(clients)
    survivors = cluster.running()
    new_leader = cluster.wait_for_leader(survivors)
    # Let the victim fall behind before it comes back.
    wait_until("posts through the new leader", lambda: acknowledged_total(clients) >= at + 200, limit=300)
    cluster.start(victim)
    kills.append((victim, at, new_leader))


def check_logs(cluster, clients):
    logs = {node: cluster.local_log(node, ROOM) for node in cluster.running()}
    reference = logs[1]
    for node, log in logs.items():
        if [(m["seq"], m["user"], m["text"]) for m in log] != [(m["seq"], m["user"], m["text"]) for m in reference]:
            fail(f"node {node}'s log differs from node 1's")
    if [m["seq"] for m in reference] != list(range(1, len(reference) + 1)):
        fail("sequence numbers are not 1, 2, 3, ...")

    position = {}
    for message in reference:
        if message["text"] in position:
            fail(f"{message['text']} is stored twice (#{position[message['text']]} and #{message['seq']})")
        position[message["text"]] = message["seq"]
    expected = {text_of(c, n) for c in range(CLIENTS) for n in range(MESSAGES_PER_CLIENT)}
    if set(position) != expected:
        fail(f"missing: {sorted(expected - set(position))[:5]}..., unexpected: {sorted(set(position) - expected)[:5]}")

    for run in clients:
        if len(run.acknowledged) != MESSAGES_PER_CLIENT:
            fail(f"client {run.client} got {len(run.acknowledged)} acknowledgements")
        for text, seq in run.acknowledged:
            if position[text] != seq:
                fail(f"{text} was acknowledged as #{seq} but is stored as #{position[text]}")
        order = [position[text_of(run.client, n)] for n in range(MESSAGES_PER_CLIENT)]
        if order != sorted(order):
            fail(f"client {run.client}'s messages are stored out of the order it sent them")
        if [text for text, _ in run.acknowledged] != [text_of(run.client, n) for n in range(MESSAGES_PER_CLIENT)]:
            fail(f"client {run.client} acknowledged out of order")
    return len(reference)


def test(chatlog):
    with Cluster(chatlog) as cluster:
        cluster.start_all()
        cluster.wait_for_leader()
        started = time.monotonic()
        clients = [client_run(cluster, c) for c in range(CLIENTS)]
        kills = []
        for threshold in KILL_AT:
            kill_and_restart_leader(cluster, clients, threshold, kills)
        statuses = [run.finish() for run in clients]
        elapsed = time.monotonic() - started
        if any(statuses):
            fail(f"client exit statuses {statuses}")
        wait_until("every member to apply everything", cluster.converged)
        stored = check_logs(cluster, clients)
        for victim, at, new_leader in kills:
            print(f"killed leader {victim} after {at} acknowledged posts; node {new_leader} took over")
        print(f"{stored} messages from {CLIENTS} clients stored exactly once on all 3 members, "
              f"in client order, in {elapsed:.1f} s ({stored / elapsed:.0f} posts/s)")


if __name__ == "__main__":
    main(test)
