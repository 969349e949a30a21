#!/usr/bin/env bash
# The core must stay deterministic and free of I/O: no Asio, threads, clocks,
# files or global randomness. Fails listing every offending include.
set -euo pipefail
core_dir=$1
forbidden='#include *<(asio[^>]*|thread|mutex|shared_mutex|condition_variable|future|atomic|chrono|ctime|fstream|iostream|cstdio|filesystem|stop_token|semaphore|latch|barrier)>'
if offending=$(grep -REn "$forbidden" "$core_dir"); then
  echo "lib/core must not use I/O, threads or clocks:" >&2
  echo "$offending" >&2
  exit 1
fi
if offending=$(grep -REn 'std::random_device|std::rand\(|\bsrand\(|\btime\(' "$core_dir"); then
  echo "lib/core takes randomness only from the seeded generator it is given:" >&2
  echo "$offending" >&2
  exit 1
fi
echo "lib/core: $(ls "$core_dir" | wc -l) files, no forbidden includes"
