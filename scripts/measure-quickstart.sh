#!/usr/bin/env bash
# Clone -> first JSON rows, as a newcomer does it (README: Quick start).
#   bash scripts/measure-quickstart.sh [REPO] [DIR]    # fresh clone, fresh venv
#   REUSE=1 bash scripts/measure-quickstart.sh [REPO] [DIR]   # again in DIR: the venv exists
# Prints the time of each step. Needs curl; stops the server it started.
set -euo pipefail
REPO=${1:-$(git rev-parse --show-toplevel)}
DIR=${2:-/tmp/mini-pipeline-quickstart}
PORT=${MINI_PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
now() { date +%s.%N; }
secs() { python3 -c "print(f'{$2 - $1:.1f} s')"; }

start=$(now)
if [[ -z "${REUSE:-}" ]]; then
  rm -rf "$DIR"
  git clone -q "$REPO" "$DIR"
fi
cloned=$(now)
cd "$DIR"
rm -rf .mini-data
MINI_PORT=$PORT setsid make run >"$DIR.run.log" 2>&1 &
server=$!
trap 'kill -- -$server 2>/dev/null || true' EXIT
until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do
  kill -0 "$server" 2>/dev/null || { tail -20 "$DIR.run.log"; exit 1; }
  sleep 0.1
done
up=$(now)
curl -s -F file=@examples/sales.csv "http://127.0.0.1:$PORT/upload?name=sales" >/dev/null
until curl -s "http://127.0.0.1:$PORT/datasets/sales/status" | grep -q '"status":"ready"'; do sleep 0.1; done
curl -s "http://127.0.0.1:$PORT/datasets/sales?limit=2&columns=order_id,total"; echo
end=$(now)
echo "clone $(secs "$start" "$cloned"); make run until /healthz $(secs "$cloned" "$up");" \
  "upload to rows $(secs "$up" "$end"); total $(secs "$start" "$end")"
