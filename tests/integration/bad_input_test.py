#!/usr/bin/env python3
"""Malformed requests over a raw socket get error replies, and the node keeps serving."""

import json
import socket

from chatlog_cluster import Cluster, Connection, fail, main

# Each line and the error its reply must carry. After each, the same
# connection must still answer a valid request.
MALFORMED = [
    (b"hello", "bad_request"),
    (b"{", "bad_request"),
    (b"[1, 2, 3]", "bad_request"),
    (b'"post"', "bad_request"),
    (b"{}", "bad_request"),
    (b'{"op": 7}', "bad_request"),
    (b'{"op": "launch"}', "bad_request"),
    (b'{"op": "post"}', "bad_request"),
    (b'{"op": "post", "room": "r", "user": "u"}', "bad_request"),
    (b'{"op": "post", "room": "no spaces", "user": "u", "text": "t"}', "bad_request"),
    (b'{"op": "post", "room": "r", "user": "", "text": "t"}', "bad_request"),
    (b'{"op": "post", "room": "r", "user": "u", "text": "bell\\u0007"}', "bad_request"),
    (b'{"op": "post", "room": "r", "user": "u", "text": "' + b"x" * 5000 + b'"}', "bad_request"),
    (b'{"op": "post", "room": "r", "user": "u", "text": "t", "client": 5}', "bad_request"),
    (b'{"op": "post", "room": "r", "user": "u", "text": "t", "client": -1, "seq": 1}', "bad_request"),
    (b'{"op": "post", "room": "r", "user": "u", "text": "t", "client": 1.5, "seq": 1}', "bad_request"),
    (b'{"op": "post", "room": "r", "user": "u", "text": "t", "client": 1e400, "seq": 1}', "bad_request"),
    (b'{"op": "post", "room": ["r"], "user": "u", "text": "t"}', "bad_request"),
    (b'{"op": "tail"}', "bad_request"),
    (b'{"op": "tail", "room": "r", "from": "one"}', "bad_request"),
    (b'{"op": "tail", "room": "r", "read": "eventually"}', "bad_request"),
    (b'{"op": "rooms", "read": 3}', "bad_request"),
    (b'{"op": "members", "action": "add"}', "bad_request"),
    (b'{"op": "members", "action": "fire", "id": 2}', "bad_request"),
    (b'{"op": "members", "action": "remove", "id": 0}', "bad_request"),
    (b'{"op": "transfer"}', "bad_request"),
    (b'{"op": "transfer", "to": "leader"}', "bad_request"),
    (b'{"op": "follow"}', "bad_request"),
    (b'{"op": "follow", "room": "a/b"}', "bad_request"),
    (b'\xff\xfe{"op": "status"}', "bad_request"),
    (b'{"op": "post", "room": "r", "user": "u", "text": "\xc3\x28"}', "bad_request"),
    (b'\x00\x01\x02\x03', "bad_request"),
    (b'{"op": "status", "op": "post"}', "bad_request"),
    (b"[" * 100000 + b"]" * 100000, "bad_request"),
]


def check_still_serving(connection):
    reply = connection.call({"op": "status"})
    if not reply or not reply.get("ok"):
        fail(f"after a malformed request, status answered {reply}")


def test(chatlog):
    with Cluster(chatlog) as cluster:
        cluster.start_all()
        leader = cluster.wait_for_leader()
        address = cluster.client_address(leader)

        connection = Connection(address)
        for line, expected in MALFORMED:
            connection.send_raw(line + b"\n")
            reply = connection.receive()
            if reply is None:
                fail(f"the node closed the connection after {line[:60]!r}")
            if reply.get("ok") is not False or reply.get("error") != expected or not reply.get("message"):
                fail(f"{line[:60]!r} answered {reply}, expected error {expected} with a message")
            check_still_serving(connection)

        # The request id comes back with the error, and blank lines are ignored.
        connection.send_raw(b'\n   \n{"op": "launch", "id": "abc"}\n')
        reply = connection.receive()
        if reply.get("id") != "abc" or reply.get("error") != "bad_request":
            fail(f"an error reply lost the request id: {reply}")

        # Nothing malformed was stored.
        rooms = connection.call({"op": "rooms"})
        if rooms.get("rooms") != []:
            fail(f"malformed posts left rooms behind: {rooms}")
        connection.close()

        # A line over the limit is refused and ends the connection; the node goes on.
        oversized = Connection(address)
        oversized.send_raw(b'{"op": "post", "text": "' + b"x" * (2 << 20))
        reply = oversized.receive()
        if not reply or reply.get("error") != "line_too_long":
            fail(f"an oversized line answered {reply}")
        oversized.close()

        # A client that vanishes mid-request or mid-stream does not bother the node.
        for fragment in (b'{"op": "po', b'{"op": "follow", "room": "r"}\n'):
            rude = socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])))
            rude.sendall(fragment)
            rude.close()

        # Every member still serves posts and reads, and no process died.
        fine = Connection(address)
        posted = fine.call({"op": "post", "room": "r", "user": "u", "text": "still serving", "client": 9, "seq": 1})
        if not posted.get("ok") or posted.get("seq") != 1:
            fail(f"a valid post after the abuse answered {posted}")
        fine.close()
        for node in cluster.members:
            if cluster.processes[node].poll() is not None:
                fail(f"node {node} exited")
            tail = Connection(cluster.client_address(node)).call({"op": "tail", "room": "r", "read": "follower"})
            if [m["text"] for m in tail.get("messages", [])] != ["still serving"]:
                fail(f"node {node} answered {tail}")
        print(f"{len(MALFORMED)} malformed requests answered with errors; every member kept serving")


if __name__ == "__main__":
    main(test)
