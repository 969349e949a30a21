#!/usr/bin/env python3
"""Relays the peer connections into one member, delaying and reordering frames on demand.

Runs in the member's network namespace; an iptables REDIRECT sends the peers'
connections to the member's peer port here, and each is relayed to the member.
The peers' packets keep their source address on the way in, so the nemesis's
partition and loss rules still apply to them.

Frames are coraft's: a 4-byte big-endian length, then a wire.Frame. Faults,
set over a Unix socket (one JSON object per line, answered with the status):
  {"delay_ms": [low, high]}  every frame waits a random time in that range;
  {"reorder": true}          requests and responses may overtake one another
                             (never a handshake frame or a snapshot stream's
                             frames, whose order the protocol relies on);
  {"snapshot_rate": B}       snapshot streams pass at most B bytes a second.
The status counts the snapshot streams under way (a byte relayed, their end
not yet), those relayed in full and those whose connection closed first.

    proxy.py --listen PORT --target HOST:PORT --control PATH
"""

import argparse
import asyncio
import contextlib
import heapq
import itertools
import json
import os
import random
import time

# wire.Frame's fields, as the first byte of a frame (field number << 3 | 2).
REQUEST, RESPONSE, SNAPSHOT_END = 0x1A, 0x22, 0x32
REORDERABLE = {REQUEST, RESPONSE}
SNAPSHOT_REQUEST_BODY = 7  # Request.snapshot
PREFIX = 4
# Throttled snapshot streams are written this many bytes at a time.
PIECE = 1024
# A direction stops reading while this many bytes wait in it, so that the
# sender feels a slow link as TCP's back-pressure, as it would a real one.
MAX_PENDING_BYTES = 256 << 10


class Faults:
    def __init__(self):
        self.delay_ms = (0, 0)
        self.reorder = False
        self.snapshot_rate = None
        self.random = random.Random(int.from_bytes(os.urandom(8), "little"))
        self.streams_open = 0
        self.streams_done = 0
        self.streams_cut = 0
        self.frames = 0
        self.frames_overtaken = 0  # relayed after a frame read later than them

    def update(self, settings):
        if "delay_ms" in settings:
            self.delay_ms = tuple(settings["delay_ms"])
        if "reorder" in settings:
            self.reorder = bool(settings["reorder"])
        if "snapshot_rate" in settings:
            self.snapshot_rate = settings["snapshot_rate"]

    def delay(self):
        return self.random.uniform(*self.delay_ms) / 1000

    def status(self):
        return {"snapshot_streams_open": self.streams_open, "snapshot_streams_done": self.streams_done,
                "snapshot_streams_cut": self.streams_cut, "frames": self.frames,
                "frames_overtaken": self.frames_overtaken}

    def stream_started(self, stream):
        stream["state"] = "open"
        self.streams_open += 1

    def stream_ended(self, stream, complete):
        """Counts the end of a snapshot stream: its SnapshotEnd relayed, or its connection closed first."""
        if stream["state"] != "open":
            return
        stream["state"] = "ended"
        self.streams_open -= 1
        if complete:
            self.streams_done += 1
        else:
            self.streams_cut += 1


def varint(data, at):
    value, shift = 0, 0
    while at < len(data):
        byte = data[at]
        value |= (byte & 0x7F) << shift
        at += 1
        if byte < 0x80:
            return value, at
        shift += 7
    raise ValueError("truncated varint")


def kind(frame):
    """The Frame field a frame carries, as its first byte, or None for an empty frame."""
    return frame[PREFIX] if len(frame) > PREFIX else None


def request_body(frame):
    """The field number of a Request frame's body (after the call id), or None."""
    with contextlib.suppress(ValueError, IndexError):
        length, at = varint(frame, PREFIX + 1)
        end = min(at + length, len(frame))
        while at < end:
            key, at = varint(frame, at)
            if key >> 3 != 1:
                return key >> 3
            _, at = varint(frame, at)  # the call id, a varint
    return None


class Direction:
    """Frames from one socket to the other, each released at its own time."""

    def __init__(self, faults, stream):
        self.faults = faults
        self.stream = stream  # shared by both directions of a connection
        self.pending = []  # heap of (release, order, frame)
        self.order = itertools.count()
        self.latest = 0.0  # the latest release scheduled
        self.last_sent = -1  # the order of the latest frame read of those relayed
        self.barrier = 0.0  # no frame may be released before this
        self.pending_bytes = 0
        self.wake = asyncio.Event()
        self.drained = asyncio.Event()
        self.ended = False

    def schedule(self, frame):
        release = time.monotonic() + self.faults.delay()
        if kind(frame) in REORDERABLE and self.faults.reorder and not self.stream["snapshot"]:
            release = max(release, self.barrier)
        else:
            release = self.barrier = max(release, self.latest)
        self.latest = max(self.latest, release)
        heapq.heappush(self.pending, (release, next(self.order), frame))
        self.pending_bytes += len(frame)
        self.wake.set()

    async def read(self, reader):
        buffer = b""
        while data := await reader.read(1 << 16):
            buffer += data
            while len(buffer) >= PREFIX and len(buffer) >= PREFIX + int.from_bytes(buffer[:PREFIX], "big"):
                size = PREFIX + int.from_bytes(buffer[:PREFIX], "big")
                self.classify(buffer[:size])
                self.schedule(buffer[:size])
                buffer = buffer[size:]
            while self.pending_bytes > MAX_PENDING_BYTES:
                self.drained.clear()
                await self.drained.wait()
        self.ended = True
        self.wake.set()

    def classify(self, frame):
        if kind(frame) == REQUEST and not self.stream["requests"]:
            self.stream["requests"] = True
            self.stream["snapshot"] = request_body(frame) == SNAPSHOT_REQUEST_BODY

    async def write(self, writer):
        while self.pending or not self.ended:
            if not self.pending:
                self.wake.clear()
                await self.wake.wait()
                continue
            release, order, frame = self.pending[0]
            if release > time.monotonic():
                self.wake.clear()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), release - time.monotonic())
                continue
            heapq.heappop(self.pending)
            self.count(order)
            await self.send(writer, frame)
            self.pending_bytes -= len(frame)
            self.drained.set()

    def count(self, order):
        self.faults.frames += 1
        if order < self.last_sent:
            self.faults.frames_overtaken += 1
        self.last_sent = max(self.last_sent, order)

    async def send(self, writer, frame):
        throttled = self.stream["snapshot"] and self.faults.snapshot_rate
        if self.stream["snapshot"] and self.stream["state"] is None:
            self.faults.stream_started(self.stream)
        for at in range(0, len(frame), PIECE if throttled else len(frame)):
            piece = frame[at:at + PIECE] if throttled else frame
            writer.write(piece)
            await writer.drain()
            if throttled:
                await asyncio.sleep(len(piece) / self.faults.snapshot_rate)
        if kind(frame) == SNAPSHOT_END:
            self.faults.stream_ended(self.stream, complete=True)


async def relay(faults, target, downstream_reader, downstream_writer):
    host, port = target.rsplit(":", 1)
    stream = {"requests": False, "snapshot": False, "state": None}
    try:
        upstream_reader, upstream_writer = await asyncio.open_connection(host, int(port))
    except OSError:
        downstream_writer.close()
        return
    inbound, outbound = Direction(faults, stream), Direction(faults, stream)
    tasks = [asyncio.create_task(coroutine) for coroutine in (
        inbound.read(downstream_reader), inbound.write(upstream_writer),
        outbound.read(upstream_reader), outbound.write(downstream_writer))]
    try:
        # The first to end (a close or an error on either side) ends the connection.
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        with contextlib.suppress(OSError, asyncio.TimeoutError):
            await asyncio.wait_for(tasks[1], 1)  # frames already read still reach the member
    finally:
        for task in tasks:
            task.cancel()
        for writer in (upstream_writer, downstream_writer):
            writer.close()
        faults.stream_ended(stream, complete=False)


async def control(faults, reader, writer):
    while line := await reader.readline():
        faults.update(json.loads(line))
        writer.write((json.dumps(faults.status()) + "\n").encode())
        await writer.drain()
    writer.close()


async def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--listen", type=int, required=True)
    parser.add_argument("--target", required=True)
    parser.add_argument("--control", required=True)
    arguments = parser.parse_args()
    faults = Faults()
    peers = await asyncio.start_server(
        lambda reader, writer: relay(faults, arguments.target, reader, writer), "0.0.0.0", arguments.listen)
    controller = await asyncio.start_unix_server(lambda reader, writer: control(faults, reader, writer),
                                                 arguments.control)
    async with peers, controller:
        await asyncio.gather(peers.serve_forever(), controller.serve_forever())


if __name__ == "__main__":
    asyncio.run(main())
