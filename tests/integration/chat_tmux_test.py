#!/usr/bin/env python3
"""The interactive `chatlog chat`, driven through tmux: keys in, screen out.

Bob chats in a tmux pane while alice posts from the command line. Bob must
see the history, alice's messages as they commit and his own lines once
stored, and keep chatting after the leader is SIGKILLed.
"""

import contextlib
import os
import subprocess

from chatlog_cluster import Cluster, fail, main, wait_until

ROOM = "tmux"


class tmux_pane:
    """A detached tmux server of its own (its own socket), killed on exit."""

    def __init__(self, directory, command):
        self.socket = os.path.join(directory, "tmux.sock")
        self.tmux("new-session", "-d", "-s", "chat", "-x", "160", "-y", "40", command)

    def tmux(self, *arguments):
        return subprocess.run(["tmux", "-S", self.socket] + list(arguments), check=True,
                              capture_output=True, text=True, timeout=30).stdout

    def type(self, text):
        self.tmux("send-keys", "-t", "chat", "-l", text)
        self.tmux("send-keys", "-t", "chat", "Enter")

    def screen(self):
        return self.tmux("capture-pane", "-t", "chat", "-p", "-S", "-200")

    def wait_for(self, text):
        wait_until(f"{text!r} on the chat screen", lambda: text in self.screen())

    def alive(self):
        """Whether the chat still runs (tmux ends the session when its command exits)."""
        try:
            self.tmux("has-session", "-t", "chat")
            return True
        except subprocess.CalledProcessError:
            return False

    def close(self):
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.tmux("kill-server")


def post(cluster, user, text):
    result = subprocess.run([cluster.chatlog, "post", "--servers", cluster.all_addresses(), "--room", ROOM,
                             "--user", user, text], capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        fail(f"post {text!r} failed: {result.stderr}")


def stored_texts(cluster):
    node = cluster.leader()
    return [m["text"] for m in cluster.local_log(node, ROOM)] if node else []


def test(chatlog):
    with Cluster(chatlog) as cluster:
        cluster.start_all()
        cluster.wait_for_leader()
        post(cluster, "alice", "history from before bob came")

        # The chat follows node 1 first; the leader killed later may or may not be node 1.
        pane = tmux_pane(cluster.directory, f"{chatlog} chat --servers {cluster.all_addresses()} "
                                            f"--room {ROOM} --user bob")
        try:
            pane.wait_for("history from before bob came")
            pane.wait_for("bob>")

            post(cluster, "alice", "hello bob, are you there?")
            pane.wait_for("alice: hello bob, are you there?")

            pane.type("hi alice, typing from tmux")
            pane.wait_for("bob: hi alice, typing from tmux")
            wait_until("bob's line stored", lambda: "hi alice, typing from tmux" in stored_texts(cluster))

            cluster.kill(cluster.wait_for_leader())
            pane.type("still chatting after the leader died")
            pane.wait_for("bob: still chatting after the leader died")
            post(cluster, "alice", "and I see you through the new leader")
            pane.wait_for("alice: and I see you through the new leader")

            texts = stored_texts(cluster)
            for expected in ("hi alice, typing from tmux", "still chatting after the leader died"):
                if texts.count(expected) != 1:
                    fail(f"{expected!r} is stored {texts.count(expected)} times: {texts}")
            pane.type("/quit")
            wait_until("the chat to end after /quit", lambda: not pane.alive())
        except AssertionError:
            print("the chat screen at the failure:\n" + pane.screen())
            raise
        finally:
            pane.close()
        print("bob saw the history, alice's messages and his own, before and after the leader was killed")


if __name__ == "__main__":
    main(test)
