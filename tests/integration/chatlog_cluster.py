"""A chatlog cluster of separate processes on 127.0.0.1, for the integration tests.

Every process a test starts is killed when the test ends, however it ends
(an exception, a failed check, SIGTERM from the test runner): use Cluster as a
context manager. Ports are free ports of 127.0.0.1, data lives in a fresh
temporary directory that is removed afterwards (kept, and named, on failure).
"""

import collections
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

# Only against hangs: a healthy cluster answers in milliseconds.
HANG_LIMIT = 60.0

# How AddressSanitizer, ThreadSanitizer and UndefinedBehaviorSanitizer start a report.
SANITIZER_MARKS = ("ERROR: AddressSanitizer", "WARNING: ThreadSanitizer", "runtime error:")


def fail(message):
    raise AssertionError(message)


def free_ports(count):
    """Ports of 127.0.0.1 that nothing listens on (held open together, so distinct)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def poll(condition, timeout, interval=0.05):
    """What `condition` returned once it was true, or None after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        time.sleep(interval)


def wait_until(what, condition, limit=HANG_LIMIT):
    """Polls `condition` until it returns something true; fails after `limit` seconds."""
    value = poll(condition, limit)
    if not value:
        fail(f"gave up waiting for {what} after {limit:.0f} s")
    return value


class Connection:
    """One client connection speaking the JSON-lines protocol."""

    def __init__(self, address, timeout=HANG_LIMIT):
        host, port = address.rsplit(":", 1)
        self.socket = socket.create_connection((host, int(port)), timeout=timeout)
        self.reader = self.socket.makefile("rb")

    def send_raw(self, data):
        self.socket.sendall(data)

    def receive(self):
        """The next line as JSON, or None when the server closed the connection."""
        line = self.reader.readline()
        return json.loads(line) if line else None

    def call(self, request):
        self.send_raw((json.dumps(request) + "\n").encode())
        return self.receive()

    def close(self):
        self.reader.close()
        self.socket.close()


def call(address, request, timeout=HANG_LIMIT):
    """One request to one member; None when it cannot be reached."""
    try:
        connection = Connection(address, timeout)
    except OSError:
        return None
    try:
        return connection.call(request)
    except OSError:
        return None
    finally:
        connection.close()


class Cluster:
    def __init__(self, chatlog, size=3, timing=None):
        self.chatlog = chatlog
        self.size = size
        self.directory = tempfile.mkdtemp(prefix="chatlog-test-")
        self.processes = {}
        self.children = []  # every process started, nodes and clients
        ports = free_ports(2 * size)
        self.members = {
            node: {"id": node, "peer_address": f"127.0.0.1:{ports[2 * node - 2]}",
                   "client_address": f"127.0.0.1:{ports[2 * node - 1]}"}
            for node in range(1, size + 1)
        }
        self.config_path = os.path.join(self.directory, "cluster.json")
        config = {"cluster_id": "integration", "data_dir": os.path.join(self.directory, "data"),
                  "members": list(self.members.values()),
                  "timing": timing or {"tick_ms": 10, "election_timeout_min_ticks": 20,
                                       "election_timeout_max_ticks": 40}}
        with open(self.config_path, "w") as out:
            json.dump(config, out, indent=2)

    # ------------------------------------------------------------ lifetime

    def __enter__(self):
        self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        return self

    def __exit__(self, kind, value, traceback):
        self.kill_everything()
        signal.signal(signal.SIGTERM, self._previous_sigterm)
        reports = self.sanitizer_reports()
        if kind is None and not reports:
            shutil.rmtree(self.directory, ignore_errors=True)
            return False
        print(f"test failed; logs and data kept in {self.directory}", file=sys.stderr)
        if kind is None:
            fail("sanitizer reports in the node logs:\n" + "\n".join(reports))
        return False

    def sanitizer_reports(self):
        """Lines of the node logs where a sanitizer (in a sanitized build) reported a bug."""
        reports = []
        for name in sorted(os.listdir(self.directory)):
            if name.startswith("node-") and name.endswith(".log"):
                with open(os.path.join(self.directory, name), errors="replace") as log:
                    reports += [f"{name}: {line.rstrip()}" for line in log if any(m in line for m in SANITIZER_MARKS)]
        return reports

    def kill_everything(self):
        for process in self.children:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        for process in self.children:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=HANG_LIMIT)

    def spawn(self, arguments, **options):
        """Starts a chatlog process in a process group of its own (so that killing it kills all of it)."""
        process = subprocess.Popen([self.chatlog] + arguments, start_new_session=True, **options)
        self.children.append(process)
        return process

    # ------------------------------------------------------------ members

    def client_address(self, node):
        return self.members[node]["client_address"]

    def all_addresses(self):
        return ",".join(self.client_address(node) for node in self.members)

    def start(self, node, config_path=None):
        """Starts member `node` from the cluster file (or another one at `config_path`)."""
        log = open(os.path.join(self.directory, f"node-{node}.log"), "ab")
        self.processes[node] = self.spawn(["serve", "--config", config_path or self.config_path, "--id", str(node),
                                           "--log-level", "info"], stderr=log, stdout=log)
        log.close()

    def start_all(self):
        for node in self.members:
            self.start(node)

    def kill(self, node):
        """SIGKILL: the process gets no chance to clean up."""
        process = self.processes.pop(node)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=HANG_LIMIT)

    def stop(self, node):
        """SIGTERM: a clean shutdown, which must finish."""
        process = self.processes.pop(node)
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=HANG_LIMIT)

    def running(self):
        return sorted(self.processes)

    def status(self, node, timeout=5.0):
        reply = call(self.client_address(node), {"op": "status"}, timeout)
        return reply["metrics"] if reply and reply.get("ok") else None

    def leader(self, among=None):
        """The running member that leads (in the highest term), or None."""
        leaders = [m for m in (self.status(node) for node in (among or self.running()))
                   if m and m["role"] == "leader"]
        return max(leaders, key=lambda m: m["term"])["id"] if leaders else None

    def wait_for_leader(self, among=None):
        return wait_until("a leader", lambda: self.leader(among))

    def converged(self):
        """True when every running member answers and all have applied the same index."""
        statuses = [self.status(node) for node in self.running()]
        if not all(statuses):
            return False
        return len({m["applied"] for m in statuses}) == 1 and len({m["commit"] for m in statuses}) == 1

    def local_log(self, node, room):
        """Every message of `room` as member `node` holds it, read without coordination."""
        connection = Connection(self.client_address(node))
        messages = []
        try:
            while True:
                reply = connection.call({"op": "tail", "room": room, "from": len(messages) + 1,
                                         "limit": 1000, "read": "stale"})
                if not reply.get("ok"):
                    fail(f"node {node} refused a stale tail: {reply}")
                messages.extend(reply["messages"])
                if len(messages) >= reply["last"] or not reply["messages"]:
                    return messages
        finally:
            connection.close()


class Poster:
    """Posts to whoever leads, in a thread, counting acknowledged posts."""

    def __init__(self, cluster):
        self.cluster = cluster
        self.acknowledged = 0
        # Of each acknowledged post: the member, when the request that it
        # answered was sent (time.monotonic()), and the post's text.
        self.acknowledged_by = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        sequence = 0
        leader = self.cluster.leader()
        while not self.stopping.is_set():
            if leader is None:
                leader = self.cluster.leader()
                continue
            sequence += 1
            request = {"op": "post", "room": "r", "user": "u", "text": f"m{sequence}",
                       "client": 4242, "seq": sequence}
            sent = time.monotonic()
            reply = call(self.cluster.client_address(leader), request, timeout=30)
            while reply is not None and reply.get("ok") is False and reply.get("error") == "timeout":
                sent = time.monotonic()
                reply = call(self.cluster.client_address(leader), request, timeout=30)
            if reply and reply.get("ok"):
                self.acknowledged += 1
                self.acknowledged_by.append((leader, sent, request["text"]))
            else:
                sequence -= 1  # not stored: the number is reused
                leader = self.cluster.leader()

    def wait_for_more(self, count):
        target = self.acknowledged + count
        wait_until(f"{count} more acknowledged posts", lambda: self.acknowledged >= target)

    def stop(self):
        self.stopping.set()
        self.thread.join()

    def check_stored_once(self, cluster, node):
        """Every acknowledged post is in member `node`'s copy of the room exactly once."""
        stored = collections.Counter(message["text"] for message in cluster.local_log(node, "r"))
        wrong = [text for _, _, text in self.acknowledged_by if stored[text] != 1]
        if wrong:
            fail(f"member {node}: {len(wrong)} of {self.acknowledged} acknowledged posts are not stored "
                 f"exactly once, e.g. {wrong[0]} ({stored[wrong[0]]} times)")



def _exit_on_sigterm(signum, frame):
    raise SystemExit(f"terminated by signal {signum}")


def main(test):
    """Runs `test(chatlog)` with the chatlog path from the command line; exit status 0 on success."""
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} PATH_TO_CHATLOG")
    started = time.monotonic()
    test(sys.argv[1])
    print(f"passed in {time.monotonic() - started:.1f} s")
