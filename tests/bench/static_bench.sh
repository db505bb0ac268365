#!/usr/bin/env bash
# Static files: cgihost and nginx side by side, in one run, on loopback.
# Prints requests/s for each and the ratio cgihost/nginx per file size.
# Usage: tests/bench/static_bench.sh [SECONDS] [CONNECTIONS]
# Needs: scripts/setup.sh --bench, and a build in build/.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-64}
bin=build/cgihost
[[ -x $bin ]] || { echo "build first: cmake --preset default && cmake --build --preset default" >&2; exit 2; }
command -v wrk >/dev/null && command -v nginx >/dev/null || { echo "run scripts/setup.sh --bench" >&2; exit 2; }

work=$(mktemp -d /tmp/cgihost-bench-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

chmod 755 "$work"
mkdir -p "$work/site" "$work/nginx"
head -c 1024 /dev/urandom > "$work/site/1k.bin"
head -c 102400 /dev/urandom > "$work/site/100k.bin"
cp samples/site/index.html "$work/site/index.html"

cg_port=18480
ng_port=18481
cores=$(nproc)

cat > "$work/cgihost.toml" <<TOML
listen = ["127.0.0.1:$cg_port"]
document_root = "site"
[identity]
process = "www-data"
[log]
level = "warn"
access_log = "$work/cgihost-access.log"
TOML

cat > "$work/nginx/nginx.conf" <<CONF
worker_processes $cores;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log $work/nginx/access.log combined;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { text/html html; application/octet-stream bin; }
  client_body_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$ng_port;
    root $work/site;
  }
}
CONF

"$bin" serve --config "$work/cgihost.toml" 2>"$work/cgihost.err" &
pids+=($!)
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)

wait_port() {
  for _ in $(seq 1 100); do
    if curl -fsS -o /dev/null "http://127.0.0.1:$1/index.html"; then return 0; fi
    sleep 0.05
  done
  echo "server on port $1 did not start" >&2
  exit 1
}
wait_port $cg_port
wait_port $ng_port

rps() {  # url -> requests/s
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$1" | awk '/Requests\/sec/ {print $2}'
}

printf '%-10s %14s %14s %8s\n' file cgihost_rps nginx_rps ratio
for f in index.html 1k.bin 100k.bin; do
  a=$(rps "http://127.0.0.1:$cg_port/$f")
  b=$(rps "http://127.0.0.1:$ng_port/$f")
  printf '%-10s %14s %14s %8.2f\n' "$f" "$a" "$b" "$(echo "$a / $b" | bc -l)"
done
echo "(wrk -t2 -c$conns -d${secs}s on $(nproc) cores; access logs on for both)"
