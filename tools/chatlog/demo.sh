#!/usr/bin/env bash
# The demo behind `tools/dev demo`. Usage: demo.sh BUILD_DIR
# chatlog does not exist yet: until it does, the demo builds and runs the
# smallest program that uses coraft end to end (tests/consumer).
set -euo pipefail
build_dir=$1
echo "chatlog is not built yet; running the consumer program instead" >&2
meson test -C "$build_dir" --suite consumer --verbose
