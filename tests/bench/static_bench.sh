#!/usr/bin/env bash
# Static files: cgihost and nginx side by side, in one run, on loopback, access
# logs off on both sides (issue 14's profile):
#   a small file (index.html): cgihost, nginx serving the same file, and nginx
#   answering `location = /r { return 200 "..." }` (a body of the same size);
#   a 1 MiB file: cgihost, nginx (sendfile on).
# Prints requests/s, p50, p99 and the CPU µs and context switches per request of
# each side's processes (tests/bench/lib.sh), then the issue's three ratios.
# Usage: [BENCH_PORT=N] [CGIHOST_BIN=PATH] tests/bench/static_bench.sh [SECONDS] [CONNECTIONS] [ROUNDS]
# (defaults 10 s, 32 connections, 3 alternating rounds; wrk -t2)
# Needs: scripts/setup.sh --bench, and a build in build/.
# BENCH_PORT: the first of the ports it listens on (default 18480, and the next two;
# two scripts can run at once).
# CGIHOST_BIN: the cgihost binary to measure (absolute, or relative to the repository)
# (default build/cgihost): two builds compared side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-32}
rounds=${3:-3}
bin=${CGIHOST_BIN:-build/cgihost}
[[ -x $bin ]] || { echo "build first: cmake --preset default && cmake --build --preset default ($bin missing)" >&2; exit 2; }
source tests/bench/lib.sh
need wrk nginx curl bc

work=$(mktemp -d /tmp/cgihost-bench-XXXXXX)

chmod 755 "$work"
mkdir -p "$work/site" "$work/nginx"
head -c 1048576 /dev/urandom > "$work/site/1m.bin"
cp samples/site/index.html "$work/site/index.html"
chmod 644 "$work/site/1m.bin" "$work/site/index.html"
small_body=$(head -c "$(stat -c %s "$work/site/index.html")" /dev/zero | tr '\0' x)

base=${BENCH_PORT:-18480}
cg_port=$base
ng_port=$((base + 1))
nr_port=$((base + 2))  # nginx's `return 200`
cores=$(nproc)

cgihost_toml static "$cg_port" >"$work/cgihost.toml"

cat > "$work/nginx/nginx.conf" <<CONF
worker_processes $cores;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 100000;
  types { text/html html; application/octet-stream bin; }
  client_body_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$ng_port;
    root $work/site;
  }
  server {
    listen 127.0.0.1:$nr_port;
    default_type text/html;
    location = /r { return 200 "$small_body"; }
  }
}
CONF

"$bin" serve --config "$work/cgihost.toml" 2>"$work/cgihost.err" &
cg_pid=$!
pids+=($cg_pid)
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
ng_pid=$!
pids+=($ng_pid)

wait_ok "http://127.0.0.1:$cg_port/index.html"
wait_ok "http://127.0.0.1:$ng_port/index.html"
wait_ok "http://127.0.0.1:$nr_port/r"

# The process groups counted per request (lib.sh's measure_groups).
cg_groups() {
  local p
  echo "cgihost-net m $cg_pid"
  for p in $(spawner_of "$cg_pid"); do echo "cgihost-spawner m $p"; done
}
ng_groups() {
  local p
  for p in "$ng_pid" $(descendants "$ng_pid"); do echo "nginx m $p"; done
}
warm "http://127.0.0.1:$cg_port/index.html"
warm "http://127.0.0.1:$ng_port/index.html"
for ((i = 0; i < rounds; i++)); do
  measure_groups cg_small "http://127.0.0.1:$cg_port/index.html" cg_groups
  measure_groups ng_small "http://127.0.0.1:$ng_port/index.html" ng_groups
  measure_groups ng_return "http://127.0.0.1:$nr_port/r" ng_groups
  measure_groups cg_1m "http://127.0.0.1:$cg_port/1m.bin" cg_groups
  measure_groups ng_1m "http://127.0.0.1:$ng_port/1m.bin" ng_groups
done
report cg_small "cgihost index.html"
report ng_small "nginx index.html"
report ng_return "nginx return 200"
report cg_1m "cgihost 1 MiB"
report ng_1m "nginx 1 MiB (sendfile)"
echo
echo "small file CPU/req, cgihost network process / nginx same file: $(ratio "$(med cg_small cpu:cgihost-net)" "$(med ng_small cpu:nginx)")   (target <= 1.20)"
echo "small file req/s,   cgihost / nginx return 200:              $(ratio "$(med cg_small rps)" "$(med ng_return rps)")   (target >= 0.80)"
echo "1 MiB file req/s,   cgihost / nginx same file:               $(ratio "$(med cg_1m rps)" "$(med ng_1m rps)")   (target >= 1.00)"
echo "small file req/s,   cgihost / nginx same file:               $(ratio "$(med cg_small rps)" "$(med ng_small rps)")"
echo "p99, cgihost / nginx same file: small $(ratio "$(med cg_small p99)" "$(med ng_small p99)"), 1 MiB $(ratio "$(med cg_1m p99)" "$(med ng_1m p99)")"
echo "(wrk -t2 -c$conns -d${secs}s, median of $rounds alternating rounds after a 1 s warm-up, on $(nproc) cores; access logs off for both)"
