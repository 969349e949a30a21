#!/usr/bin/env python3
"""tools/chatlog/demo.sh: runs to the end, shows identical copies, and leaves nothing running.

The demo should take well under a minute; the time is printed, not checked.
"""

import os
import signal
import subprocess
import sys
import time

from chatlog_cluster import HANG_LIMIT, fail


def processes_in_session(session):
    """Ids of the processes whose session is `session` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[3]) == session and fields[0] != "Z":
            found.append(int(entry))
    return found


def stop_hung_demo(demo):
    """SIGTERM first, so that the demo's own cleanup runs; SIGKILL for what is left."""
    if demo.poll() is None:
        os.killpg(demo.pid, signal.SIGTERM)
        try:
            demo.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    if processes_in_session(demo.pid):
        os.killpg(demo.pid, signal.SIGKILL)
    demo.wait()


def main():
    if len(sys.argv) != 3:
        sys.exit(f"usage: {sys.argv[0]} DEMO_SH BUILD_DIR")
    started = time.monotonic()
    demo = subprocess.Popen([sys.argv[1], sys.argv[2]], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    try:
        output, _ = demo.communicate(timeout=2 * HANG_LIMIT)
    finally:
        stop_hung_demo(demo)
    print(output)
    elapsed = time.monotonic() - started
    if demo.returncode != 0:
        fail(f"the demo exited with {demo.returncode}")
    for expected in ("with SIGKILL", "leads now", "catches up", "the three copies are identical", "done"):
        if expected not in output:
            fail(f"the demo's output lacks {expected!r}")
    leftovers = processes_in_session(demo.pid)
    if leftovers:
        os.killpg(demo.pid, signal.SIGKILL)
        fail(f"the demo left processes running: {leftovers}")
    print(f"passed in {elapsed:.1f} s")


if __name__ == "__main__":
    main()
