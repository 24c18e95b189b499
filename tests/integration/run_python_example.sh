#!/usr/bin/env bash
# Runs the Python example of docs/protocol.md against a real one-node Shoal:
#   1. the ```python block of PROTOCOL_MD must be byte-identical to EXAMPLE_PY
#      (the documentation shows exactly the program that is tested);
#   2. starts shoald on free loopback ports with a fresh data directory and
#      waits until `shoal ping` answers;
#   3. runs EXAMPLE_PY against the node's client port.
# The node is always stopped (by its PID) and the data directory removed.
# Exits with the example's status.
#
# Usage: run_python_example.sh BIN_DIR EXAMPLE_PY PROTOCOL_MD
set -euo pipefail

if [[ $# -ne 3 ]]; then
  echo "usage: $0 BIN_DIR EXAMPLE_PY PROTOCOL_MD" >&2
  exit 2
fi
bin_dir=$1
example=$2
protocol_md=$3
python=/usr/bin/python3

tmp=$(mktemp -d "${TMPDIR:-/tmp}/shoal-python-example.XXXXXX")
node_pid=""
# shellcheck disable=SC2317  # called by the EXIT trap
cleanup() {
  if [[ -n "$node_pid" ]] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$node_pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$node_pid" 2>/dev/null; then
      kill -KILL "$node_pid" 2>/dev/null || true
    fi
    wait "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

show_node_log() {
  echo "---- shoald log ----" >&2
  tail -n 40 "$tmp/shoald.log" >&2 || true
}

# 1. The documented program is the tested program.
awk '
  in_block && /^```[[:space:]]*$/ { exit }
  in_block { print }
  /^```python[[:space:]]*$/ { in_block = 1; found = 1 }
' "$protocol_md" >"$tmp/documented.py"
if [[ ! -s "$tmp/documented.py" ]]; then
  echo "FAIL: $protocol_md has no \`\`\`python fenced block" >&2
  exit 1
fi
if ! cmp -s "$tmp/documented.py" "$example"; then
  echo "FAIL: the \`\`\`python block of $protocol_md differs from $example; copy the program verbatim:" >&2
  diff -u "$example" "$tmp/documented.py" >&2 || true
  exit 1
fi

# 2. One node on two ports that are free now (bound to port 0 by the kernel).
read -r peer_port client_port < <("$python" - <<'EOF'
import socket
sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
for s in sockets:
    s.close()
EOF
)
client="127.0.0.1:$client_port"
"$bin_dir/shoald" --name "n1@127.0.0.1:$peer_port" --client-listen "$client" --data "$tmp/data" \
  --n-val 1 --ring-size 8 >"$tmp/shoald.log" 2>&1 &
node_pid=$!

ready=0
deadline=$((SECONDS + 15))
while ((SECONDS < deadline)); do
  if ! kill -0 "$node_pid" 2>/dev/null; then
    echo "FAIL: shoald exited before answering a ping" >&2
    show_node_log
    exit 1
  fi
  if "$bin_dir/shoal" -h "$client" ping >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.2
done
if ((!ready)); then
  echo "FAIL: shoald did not answer a ping on $client within 15 s" >&2
  show_node_log
  exit 1
fi

# 3. The example itself.
status=0
"$python" "$example" "$client" || status=$?
if ((status != 0)); then
  echo "FAIL: $example exited with status $status" >&2
  show_node_log
fi
exit "$status"
