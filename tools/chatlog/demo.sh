#!/usr/bin/env bash
# The demo behind `tools/dev demo`. Usage: demo.sh BUILD_DIR
#
# Starts a 3-node chatlog cluster on 127.0.0.1 (fresh data directories, free
# ports), posts a conversation, kills the leader with SIGKILL, keeps posting
# through the new leader, restarts the old leader and lets it catch up, then
# prints every member's own copy of the log side by side. Everything it
# starts is stopped when it exits, however it exits.
set -euo pipefail

build_dir=$(cd "$1" && pwd)
chatlog=$build_dir/tools/chatlog/chatlog
if [[ ! -x $chatlog ]]; then
  echo "demo: $chatlog is missing; build first (tools/dev build)" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/chatlog-demo.XXXXXX")
config=$work/cluster.json
declare -A pids=()

cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM  # so that the EXIT trap runs on Ctrl-C and kill too

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[2m$ %s\033[0m\n' "chatlog $*"; "$chatlog" "$@"; }

# Six ports nobody listens on: two per member (peers, clients).
read -r -a ports <<<"$(python3 -c '
import socket
probes = [socket.socket() for _ in range(6)]
for probe in probes:
    probe.bind(("127.0.0.1", 0))
print(" ".join(str(probe.getsockname()[1]) for probe in probes))
')"

cat >"$config" <<JSON
{
  "cluster_id": "chatlog-demo",
  "data_dir": "$work/data",
  "members": [
    {"id": 1, "peer_address": "127.0.0.1:${ports[0]}", "client_address": "127.0.0.1:${ports[1]}"},
    {"id": 2, "peer_address": "127.0.0.1:${ports[2]}", "client_address": "127.0.0.1:${ports[3]}"},
    {"id": 3, "peer_address": "127.0.0.1:${ports[4]}", "client_address": "127.0.0.1:${ports[5]}"}
  ],
  "timing": {"tick_ms": 10, "election_timeout_min_ticks": 15, "election_timeout_max_ticks": 30}
}
JSON

client_address() { echo "127.0.0.1:${ports[$((2 * $1 - 1))]}"; }

start_node() {
  "$chatlog" serve --config "$config" --id "$1" 2>>"$work/node-$1.log" &
  pids[$1]=$!
}

# The members' status replies, filtered by a Python expression over `members`
# (the replies of the members that answered).
members_where() {
  "$chatlog" status --config "$config" --json 2>/dev/null | python3 -c "
import json, sys
members = [m for m in json.load(sys.stdin) if m.get('ok')]
print($1)"
}

leader() { members_where "next((m['node'] for m in members if m['metrics']['role'] == 'leader'), '')"; }

# Waits (at most 30 s) until `condition` prints something non-empty.
wait_until() {
  local what=$1 condition=$2 answer=""
  for _ in $(seq 300); do
    answer=$($condition || true)
    [[ -n $answer ]] && { echo "$answer"; return; }
    sleep 0.1
  done
  echo "demo: gave up waiting for $what" >&2
  exit 1
}

caught_up() {
  members_where "'yes' if len(members) == 3 and len({m['metrics']['applied'] for m in members}) == 1 else ''"
}

post() { run post --config "$config" --room lobby --user "$1" "$2"; }

say "starting three chatlog nodes on 127.0.0.1 (data in $work)"
for id in 1 2 3; do start_node "$id"; done
first_leader=$(wait_until "a leader" leader)
echo "node $first_leader was elected leader"
run status --config "$config"

say "alice and bob talk (any member redirects posts to the leader)"
post alice "hi bob, is the cluster up?"
post bob "all three nodes, one of them leads"
post alice "what if the leader dies?"
post bob "let's find out"
run tail --config "$config" --room lobby

say "killing the leader, node $first_leader, with SIGKILL"
# Quiet: bash would report the killed job on stderr.
{ kill -KILL "${pids[$first_leader]}" && wait "${pids[$first_leader]}" || true; } 2>/dev/null
unset "pids[$first_leader]"
started=$(date +%s%N)
post alice "still here? (posted right after the kill: the client waits for the new leader)"
echo "stored $(( ($(date +%s%N) - started) / 1000000 )) ms after the kill"
new_leader=$(wait_until "a new leader" leader)
echo "node $new_leader leads now"
post bob "node $new_leader took over, nothing lost"
post alice "and the old leader?"
run status --config "$config"

say "restarting node $first_leader: it catches up from the new leader"
start_node "$first_leader"
wait_until "node $first_leader to catch up" caught_up >/dev/null
post bob "welcome back, node $first_leader"
wait_until "every member to apply the last post" caught_up >/dev/null
run status --config "$config"

say "each member's own copy of the log, read locally (--stale)"
for id in 1 2 3; do
  "$chatlog" tail --servers "$(client_address "$id")" --room lobby --stale >"$work/copy-$id.txt"
done
python3 - "$work"/copy-{1,2,3}.txt <<'PY'
import sys
width = 44
copies = [open(path).read().splitlines() for path in sys.argv[1:]]
print(" | ".join(f"node {i + 1}".ljust(width) for i in range(3)))
print("-+-".join("-" * width for _ in range(3)))
for row in range(max(len(c) for c in copies)):
    cells = [(c[row] if row < len(c) else "") for c in copies]
    print(" | ".join((cell[:width - 1] + "~" if len(cell) > width else cell).ljust(width) for cell in cells))
PY
if cmp -s "$work/copy-1.txt" "$work/copy-2.txt" && cmp -s "$work/copy-1.txt" "$work/copy-3.txt"; then
  echo "the three copies are identical ($(wc -l <"$work/copy-1.txt") messages)"
else
  echo "the copies differ" >&2
  exit 1
fi

say "stopping the cluster"
for id in "${!pids[@]}"; do kill -TERM "${pids[$id]}"; done
for id in "${!pids[@]}"; do wait "${pids[$id]}" || true; done
pids=()
echo "done"
