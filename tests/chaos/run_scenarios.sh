#!/usr/bin/env bash
# Runs shoal-chaos scenarios and checks each one's exit status and verdict
# line. Usage: run_scenarios.sh BIN_DIR REPORT_DIR NAME:TIME:EXIT ...
# (EXIT is what the scenario must return: 0 for a pass, 1 for the negative
# control, whose anomalies prove the checker works; a SEED fixes the fault
# schedule, so a scenario with partitions surely has one). Partitions need root:
# without it the runs are skipped (exit 77, which ctest reports as skipped).
set -uo pipefail
bin=$1 reports=$2
shift 2
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIPPED: shoal-chaos needs root for its network namespace and iptables partitions (run tools/test as root)"
  exit 77
fi
verdict_re='^verdict: (PASS|FAIL) lost=([0-9]+) unexpected=([0-9]+) resurrected=([0-9]+) partitions=([0-9]+)$'
failed=0
for spec in "$@"; do
  IFS=: read -r name time want seed <<<"$spec"
  dir="$reports/$name"
  rm -rf "$dir"
  echo "=== shoal-chaos run --scenario $name --time $time ${seed:+--seed $seed }(must exit $want)"
  "$bin/shoal-chaos" run --scenario "$name" --time "$time" ${seed:+--seed "$seed"} --report "$dir" >"$dir.out" 2>&1
  got=$?
  grep -v '^\[' "$dir.out" | tail -25
  last=$(tail -n 1 "$dir.out")
  problem=""
  if [ "$got" != "$want" ]; then problem="exit status $got, expected $want"; fi
  if ! [[ "$last" =~ $verdict_re ]]; then
    problem="${problem:+$problem; }the last line is not a verdict: $last"
  else
    lost=${BASH_REMATCH[2]} partitions=${BASH_REMATCH[5]}
    if [ "$want" = 0 ] && [ "${BASH_REMATCH[1]}" != PASS ]; then problem="${problem:+$problem; }not a PASS"; fi
    if [ "$want" = 1 ] && [ "$lost" = 0 ]; then problem="${problem:+$problem; }the negative control lost nothing"; fi
    if grep -q "partition" <<<"$("$bin/shoal-chaos" scenarios | grep -A1 "^$name " | tail -1)" && [ "$partitions" = 0 ]; then
      problem="${problem:+$problem; }no verified partition"
    fi
  fi
  for f in report.html history.jsonl; do
    [ -s "$dir/$f" ] || problem="${problem:+$problem; }$dir/$f is missing or empty"
  done
  if [ -n "$problem" ]; then
    echo "FAILED: $name: $problem (full output: $dir.out, node logs: $dir/cluster/)"
    failed=1
  else
    echo "ok: $name"
  fi
done
exit $failed
