#!/usr/bin/env python3
"""The operator requests, through the chatlog client: a member joins (caught up by snapshot),
is promoted, takes over by transfer; snapshots on demand; a member is removed.

Nodes 1-3 run from a cluster file that does not list node 4, so redirects to
node 4 must come from the directory that `members add` replicates.
"""

import json
import os
import subprocess

from chatlog_cluster import Cluster, Connection, fail, main, wait_until

ROOM = "ops"


def chatlog(cluster, *arguments):
    result = subprocess.run([cluster.chatlog] + list(arguments), capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        fail(f"chatlog {' '.join(arguments)} failed ({result.returncode}): {result.stderr}")
    return result.stdout


def voters_and_learners(cluster, node):
    config = cluster.status(node)["config"]
    return sorted(config["voters"]), sorted(config["learners"])


def test(chatlog_path):
    timing = {"tick_ms": 10, "election_timeout_min_ticks": 20, "election_timeout_max_ticks": 40}
    with Cluster(chatlog_path, size=4, timing=timing) as cluster:
        # Node 4 joins later; nodes 1-3 do not know it from their file.
        with open(cluster.config_path) as source:
            config = json.load(source)
        config["snapshot"] = {"every_entries": 50, "keep_entries": 10}
        config["members"][3]["founding"] = False
        with open(cluster.config_path, "w") as out:
            json.dump(config, out)
        founders_path = os.path.join(cluster.directory, "founders.json")
        founders = dict(config, members=config["members"][:3])
        with open(founders_path, "w") as out:
            json.dump(founders, out)
        for node in (1, 2, 3):
            cluster.start(node, founders_path)
        cluster.start(4)
        cluster.wait_for_leader([1, 2, 3])
        servers = ",".join(cluster.client_address(node) for node in (1, 2, 3))

        posts = subprocess.run([chatlog_path, "post", "--servers", servers, "--room", ROOM, "--user", "op",
                                "--stdin"], input="".join(f"before {n}\n" for n in range(200)),
                               capture_output=True, text=True, timeout=300)
        if posts.returncode != 0:
            fail(f"posting failed: {posts.stderr}")
        wait_until("a compacted log", lambda: all(cluster.status(n)["snapshot"]["index"] > 100 for n in (1, 2, 3)))

        address4 = cluster.client_address(4)
        peer4 = cluster.members[4]["peer_address"]
        chatlog(cluster, "members", "add", "--id", "4", "--peer-address", peer4, "--client-address", address4,
                "--servers", servers)
        if voters_and_learners(cluster, 1) != ([1, 2, 3], [4]):
            fail(f"after add: {voters_and_learners(cluster, 1)}")
        wait_until("node 4 to catch up by snapshot", lambda: cluster.status(4)["applied"] >= 200)
        if cluster.status(4)["snapshot"]["index"] == 0:
            fail("node 4 caught up without installing a snapshot")

        chatlog(cluster, "members", "promote", "--id", "4", "--servers", servers)
        if voters_and_learners(cluster, 1)[0] != [1, 2, 3, 4]:
            fail(f"after promote: {voters_and_learners(cluster, 1)}")

        chatlog(cluster, "transfer", "--to", "4", "--servers", servers)
        wait_until("node 4 to lead", lambda: cluster.leader() == 4)
        redirect = Connection(cluster.client_address(1)).call(
            {"op": "post", "room": ROOM, "user": "op", "text": "x", "client": 1, "seq": 1})
        if redirect.get("error") != "not_leader" or redirect.get("leader") != {"id": 4, "client_address": address4}:
            fail(f"node 1 does not redirect to node 4's client address: {redirect}")
        chatlog(cluster, "post", "--servers", servers, "--room", ROOM, "--user", "op", "after the transfer")

        snapshots = chatlog(cluster, "snapshot", "--servers", cluster.all_addresses())
        if snapshots.count("snapshot through index") != 4:
            fail(f"not every member took a snapshot:\n{snapshots}")

        chatlog(cluster, "members", "remove", "--id", "2", "--servers", cluster.all_addresses())
        wait_until("node 2 to leave", lambda: voters_and_learners(cluster, 4)[0] == [1, 3, 4])
        chatlog(cluster, "post", "--servers", cluster.all_addresses(), "--room", ROOM, "--user", "op",
                "after the removal")
        wait_until("the members to agree", lambda: len({cluster.status(n)["applied"] for n in (1, 3, 4)}) == 1)

        logs = {node: [(m["seq"], m["text"]) for m in cluster.local_log(node, ROOM)] for node in (1, 3, 4)}
        if logs[1] != logs[3] or logs[1] != logs[4] or len(logs[1]) != 202:
            fail(f"members' logs differ or are incomplete: {[len(log) for log in logs.values()]}")
        print("add (caught up by snapshot), promote, transfer, snapshot and remove all worked; "
              "the members hold identical logs")


if __name__ == "__main__":
    main(test)
