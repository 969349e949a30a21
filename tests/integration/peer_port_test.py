#!/usr/bin/env python3
"""Hostile bytes on the members' peer ports while the cluster commits.

Garbage, a frame cut off mid-way, a 2 GiB length prefix and a handshake from
another cluster each reach the leader's and a follower's peer port. Each
connection must be closed (the handshake refused with its reason first), no
member may stop, and posts keep being acknowledged throughout and after.
"""

import socket
import struct

from chatlog_cluster import Cluster, Poster, fail, main, wait_until

CLUSTER_MISMATCH = 1  # wire.proto's Refusal


def varint(value):
    out = bytearray()
    while True:
        low = value & 0x7F
        value >>= 7
        out.append(low | (0x80 if value else 0))
        if not value:
            return bytes(out)


def length_delimited(field, data):
    return varint(field << 3 | 2) + varint(len(data)) + data


def integer(field, value):
    return varint(field << 3) + varint(value)


def foreign_hello(receiver):
    """A Frame holding a Hello (wire.proto) from a node of another cluster."""
    hello = length_delimited(1, b"another-cluster") + integer(2, 99) + integer(3, receiver) + integer(4, 1)
    frame = length_delimited(1, hello)
    return struct.pack(">I", len(frame)) + frame


def receive_all(connection):
    """Everything the member sends until it closes the connection."""
    received = b""
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            return received
        received += chunk


def attack(address, payload, close_our_side):
    """Sends `payload`; returns what came back before the member closed."""
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=60) as connection:
        connection.sendall(payload)
        if close_our_side:
            connection.shutdown(socket.SHUT_WR)
        try:
            return receive_all(connection)
        except socket.timeout:
            fail(f"{address} kept a connection open after {payload[:16]!r}...")


def check_refusal(reply):
    """The reply must be one HelloReply frame refusing CLUSTER_MISMATCH."""
    if len(reply) < 4:
        fail(f"a foreign handshake got no reply before the close: {reply!r}")
    (length,) = struct.unpack(">I", reply[:4])
    frame = reply[4:4 + length]
    # Frame.hello_reply is field 2; inside, HelloReply.refusal is field 1.
    if frame[:1] != b"\x12" or frame[2:4] != bytes([0x08, CLUSTER_MISMATCH]):
        fail(f"a foreign handshake was not refused as another cluster's: {reply!r}")


def test(chatlog):
    with Cluster(chatlog) as cluster:
        cluster.start_all()
        leader = cluster.wait_for_leader()
        follower = next(node for node in (1, 2, 3) if node != leader)
        poster = Poster(cluster)
        poster.wait_for_more(50)
        for target in (leader, follower):
            address = cluster.members[target]["peer_address"]
            attack(address, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 64, close_our_side=False)
            attack(address, struct.pack(">I", 1000) + b"\x0a" * 10, close_our_side=True)
            attack(address, struct.pack(">I", 2 ** 31) + b"\x00" * 64, close_our_side=False)
            attack(address, bytes(range(256)) * 16, close_our_side=False)
            attack(address, struct.pack(">I", 8) + b"\xff" * 8, close_our_side=False)
            check_refusal(attack(address, foreign_hello(target), close_our_side=False))
            poster.wait_for_more(50)
        stopped = [node for node in (1, 2, 3) if cluster.processes[node].poll() is not None]
        if stopped:
            fail(f"members {stopped} stopped under hostile peer input")
        poster.stop()
        wait_until("the members to converge", cluster.converged)
        for node in (1, 2, 3):
            poster.check_stored_once(cluster, node)
        print(f"every hostile input refused on the leader's and a follower's peer port; "
              f"{poster.acknowledged} posts acknowledged meanwhile, each stored once")


if __name__ == "__main__":
    main(test)
