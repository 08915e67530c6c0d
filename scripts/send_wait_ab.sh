#!/usr/bin/env bash
# The send timer A/B (docs/load-generator.md): the old sleep-then-spin (BENCH_SEND_WAIT=spin)
# against the learned margin on a timerfd, arms rotated per repetition, one `bench selftest` per
# arm and repetition. Prints each open-loop point: send lag p50/p99 and client CPU.
# Usage: scripts/send_wait_ab.sh [reps] [chunks] [rates...]   (default: 4 64 700 1500)
set -euo pipefail
reps=${1:-4}; chunks=${2:-64}; shift $(( $# >= 2 ? 2 : $# )) || true
rates=("${@:-700 1500}"); rates=(${rates[@]})
args=(); for r in "${rates[@]}"; do args+=(--rate "$r"); done
for rep in $(seq 1 "$reps"); do
  for arm in spin learned; do
    if [ "$arm" = spin ]; then export BENCH_SEND_WAIT=spin; else unset BENCH_SEND_WAIT; fi
    bench selftest --chunks "$chunks" "${args[@]}" --seconds 8 2>&1 \
      | awk -v arm="$arm" -v rep="$rep" '/rate .*\/s/ {print arm, "rep", rep, $0}'
  done
done
