#!/usr/bin/env python3
"""A leader whose fsync fails stops acknowledging, and the others carry on.

Every fsync and fdatasync of the leader's process fails with EIO from some
moment on (strace's fault injection). The leader must stop serving writes (it
cannot know its log is durable), the other two must elect a leader and keep
acknowledging posts, and every acknowledged post must be on both of them,
exactly once.
"""

import os
import shutil
import signal
import subprocess
import time

from chatlog_cluster import Cluster, Poster, fail, main, wait_until


def fail_every_fsync(pid):
    """Attaches strace to every thread of `pid`; from now on fsync and fdatasync fail with EIO."""
    if not shutil.which("strace"):
        fail("strace is missing: run tools/dev setup")
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-o", os.devnull, "-e", "trace=fsync,fdatasync",
                               "-e", "inject=fsync,fdatasync:error=EIO", "-p", str(pid)])
    time.sleep(1)  # strace attaches to every thread before the first injection counts
    if tracer.poll() is not None:
        fail(f"strace could not attach to {pid} (exit status {tracer.returncode})")
    return tracer


def serves_writes(cluster, node):
    status = cluster.status(node)
    return status is not None and status["role"] == "leader"


def test(chatlog):
    with Cluster(chatlog) as cluster:
        cluster.start_all()
        failing = cluster.wait_for_leader()
        others = [node for node in (1, 2, 3) if node != failing]
        poster = Poster(cluster)
        poster.wait_for_more(50)
        tracer = fail_every_fsync(cluster.processes[failing].pid)
        try:
            wait_until("the leader with the failing disk to stop leading",
                       lambda: not serves_writes(cluster, failing))
            stopped_at = time.monotonic()
            new_leader = wait_until("a leader among the others", lambda: cluster.leader(others))
            poster.wait_for_more(100)
        finally:
            tracer.send_signal(signal.SIGINT)
            tracer.wait(timeout=60)
        poster.stop()

        late = [sent for member, sent, _ in poster.acknowledged_by if member == failing and sent > stopped_at]
        if late:
            fail(f"member {failing} acknowledged {len(late)} posts sent after it stopped leading")
        with open(os.path.join(cluster.directory, f"node-{failing}.log"), errors="replace") as log:
            if "stopped serving" not in log.read():
                fail(f"member {failing} stopped leading without saying that its storage failed")
        cluster.kill(failing)
        wait_until("the others to converge", cluster.converged)
        for node in others:
            poster.check_stored_once(cluster, node)
        print(f"member {failing} stopped leading when its fsync failed; member {new_leader} took over; "
              f"{poster.acknowledged} acknowledged posts on both survivors, each once")


if __name__ == "__main__":
    main(test)
