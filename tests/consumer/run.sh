#!/usr/bin/env bash
# Builds tests/consumer against this checkout as a Meson subproject and runs it.
# Usage: run.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
source_dir=$1
build_dir=$2
rm -rf "$build_dir"
meson setup --force-fallback-for=coraft "$build_dir" "$source_dir" >"$build_dir.setup.log" 2>&1 ||
  { cat "$build_dir.setup.log"; exit 1; }
meson compile -C "$build_dir"
"$build_dir/consumer"
