#!/usr/bin/env bash
# Smoke test of `cargo bench` (CI runs it after the tests): a short criterion run of the
# built-in launchers must print an estimate for each and the ratio line, and Ctrl-C in the
# middle of a benchmark must exit 130 and leave no cgroup, process, scratch dir or mount.
# Needs root and /dev/kvm, like the tests it follows.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "bench-smoke: $*" >&2; exit 1; }
leftovers() {
  echo "cgroups=$(find /sys/fs/cgroup -path '*isobench*' -type d 2>/dev/null | wc -l)" \
    "processes=$(pgrep -c -f 'isobench-(probe|vmm)' || true)" \
    "scratch=$(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'isobench-*' -type d | wc -l)" \
    "mounts=$(grep -c isobench /proc/self/mountinfo || true)"
}

before="$(leftovers)"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

ISOBENCH_BENCH_ISOLATORS=process,container,microvm \
  cargo bench -p isobench --bench startup -- --warm-up-time 0.2 --measurement-time 1 2>&1 | tee "$log"
for name in process container microvm; do
  grep -Eq "^startup/$name +time: +\[" "$log" || fail "no criterion estimate for startup/$name"
done
grep -q "isobench: container median" "$log" || fail "no ratio line for the container"
[ "$(leftovers)" = "$before" ] || fail "left behind after the bench: $(leftovers) (before: $before)"

bench="$(cargo bench -p isobench --bench startup --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*/startup-[^"]*"' | tail -n 1 | cut -d'"' -f4)"
[ -x "$bench" ] || fail "cannot find the bench executable"
for name in container microvm; do
  status=0
  # SIGINT after 3 s, in the middle of the benchmark's measurement.
  ISOBENCH_BENCH_ISOLATORS=$name timeout --preserve-status -s INT 3 "$bench" --bench >"$log" 2>&1 ||
    status=$?
  [ "$status" -eq 130 ] || fail "$name: exit status $status after SIGINT, not 130: $(tail -n 3 "$log")"
  sleep 0.5
  [ "$(leftovers)" = "$before" ] || fail "$name: left behind after SIGINT: $(leftovers) (before: $before)"
  echo "bench-smoke: $name interrupted cleanly"
done
echo "bench-smoke: ok"
