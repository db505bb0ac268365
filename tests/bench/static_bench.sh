#!/usr/bin/env bash
# Static files: cgihost and nginx side by side, in one run, on loopback.
# Prints requests/s for each and the ratio cgihost/nginx per file size.
# Usage: [BENCH_PORT=N] [CGIHOST_BIN=PATH] tests/bench/static_bench.sh [SECONDS] [CONNECTIONS]
# Needs: scripts/setup.sh --bench, and a build in build/.
# BENCH_PORT: the first of the ports it listens on (default 18480; two scripts can run at once).
# CGIHOST_BIN: the cgihost binary to measure (absolute, or relative to the repository)
# (default build/cgihost): two builds compared side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-64}
bin=${CGIHOST_BIN:-build/cgihost}
[[ -x $bin ]] || { echo "build first: cmake --preset default && cmake --build --preset default ($bin missing)" >&2; exit 2; }
source tests/bench/lib.sh
need wrk nginx curl bc

work=$(mktemp -d /tmp/cgihost-bench-XXXXXX)

chmod 755 "$work"
mkdir -p "$work/site" "$work/nginx"
head -c 1024 /dev/urandom > "$work/site/1k.bin"
head -c 102400 /dev/urandom > "$work/site/100k.bin"
cp samples/site/index.html "$work/site/index.html"

base=${BENCH_PORT:-18480}
cg_port=$base
ng_port=$((base + 1))
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

wait_ok "http://127.0.0.1:$cg_port/index.html"
wait_ok "http://127.0.0.1:$ng_port/index.html"

printf '%-10s %14s %14s %8s\n' file cgihost_rps nginx_rps ratio
for f in index.html 1k.bin 100k.bin; do
  read -r a _ < <(measure "http://127.0.0.1:$cg_port/$f")
  read -r b _ < <(measure "http://127.0.0.1:$ng_port/$f")
  printf '%-10s %14s %14s %8s\n' "$f" "$a" "$b" "$(ratio "$a" "$b")"
done
echo "(wrk -t2 -c$conns -d${secs}s on $(nproc) cores; access logs on for both)"
