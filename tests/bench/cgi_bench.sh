#!/usr/bin/env bash
# CGI side by side, in one run, on loopback:
#   cgihost           -> a tiny compiled CGI program (6-byte body), then a Perl hello
#   nginx + fcgiwrap  -> the same two (the usual way to run CGI behind nginx)
#   a raw spawn loop  -> posix_spawn + read + waitpid of the same program (the floor)
# Prints requests/s and p99 for each, the ratios, and cgihost's RSS: idle, and
# its growth during a 1 GiB upload and a 1 GiB download through a CGI.
# Usage: [CGI_MAX_CHILDREN=N] [BENCH_PORT=N] [CGIHOST_BIN=PATH] tests/bench/cgi_bench.sh [SECONDS] [CONNECTIONS]
# (CGI_MAX_CHILDREN: cgihost's [cgi] max_children; default 0, no limit)
# (BENCH_PORT: the first of the ports it listens on; default 18580: two scripts can run at once)
# (CGIHOST_BIN: the cgihost binary to measure, absolute or relative to the repository;
# default build/cgihost: two builds compared side by side)
# Needs a build in build/ and scripts/setup.sh --bench (wrk, nginx, fcgiwrap).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-16}
bin=${CGIHOST_BIN:-build/cgihost}
probe=build/tests/cgi_probe
loop=build/tests/bench/spawn_loop
for f in "$bin" "$probe" "$loop"; do
  [[ -x $f ]] || { echo "build first: cmake --preset default && cmake --build --preset default ($f missing)" >&2; exit 2; }
done
source tests/bench/lib.sh
need wrk nginx fcgiwrap curl bc setpriv setsid
work=$(mktemp -d /tmp/cgihost-cgibench-XXXXXX)
chmod 755 "$work"
mkdir -p "$work/site/cgi-bin" "$work/nginx/tmp"
cp "$probe" "$work/site/cgi-bin/tiny"
cp samples/site/hello.pl "$work/site/cgi-bin/hello.pl"
chmod 755 "$work/site" "$work/site/cgi-bin" "$work/site/cgi-bin/tiny" "$work/site/cgi-bin/hello.pl"

base=${BENCH_PORT:-18580}
cg_port=$base
ng_port=$((base + 1))
cat > "$work/cgihost.toml" <<TOML
listen = ["127.0.0.1:$cg_port"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "/cgi-bin/*"
module = "cgi"
[cgi]
max_children = ${CGI_MAX_CHILDREN:-0}
[http]
max_body_size = "2g"
[log]
level = "warn"
access_log = "off"
TOML

# nginx's workers and fcgiwrap run as www-data, so nginx can use the socket.
cat > "$work/nginx/nginx.conf" <<CONF
user www-data;
worker_processes 2;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
daemon off;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $work/nginx/tmp;
  fastcgi_temp_path $work/nginx/tmp;
  server {
    listen 127.0.0.1:$ng_port;
    root $work/site;
    location /cgi-bin/ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass unix:$work/fcgiwrap.sock;
    }
  }
}
CONF

"$bin" serve --config "$work/cgihost.toml" 2>"$work/cgihost.err" &
cg_pid=$!
pids+=($cg_pid)
chown www-data "$work"
setsid setpriv --reuid=www-data --regid=www-data --init-groups fcgiwrap -c 2 -s "unix:$work/fcgiwrap.sock" &
pids+=($!)
groups+=($!)
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
pids+=($!)

wait_ok "http://127.0.0.1:$cg_port/cgi-bin/tiny"
wait_ok "http://127.0.0.1:$ng_port/cgi-bin/tiny"

printf '%-28s %12s %10s\n' case req/s p99
# cgihost's CPU per request: the network process and the spawner it forked
# (the CGI children are not counted: their time is their own).
read -r c_rps _ c_p99 c_cpu < <(measure_cpu "http://127.0.0.1:$cg_port/cgi-bin/tiny" "$cg_pid" $(ps -o pid= --ppid "$cg_pid"))
printf '%-28s %12s %10s\n' "cgihost C" "$c_rps" "${c_p99}ms"
read -r f_rps _ f_p99 < <(measure "http://127.0.0.1:$ng_port/cgi-bin/tiny")
printf '%-28s %12s %10s\n' "nginx+fcgiwrap C" "$f_rps" "$f_p99"
l_rps=$("$loop" "$work/site/cgi-bin/tiny" 2 "$secs" | awk '{print $2}')
printf '%-28s %12s %10s\n' "raw spawn loop (2 workers)" "$l_rps" "-"
read -r cp_rps _ cp_p99 < <(measure "http://127.0.0.1:$cg_port/cgi-bin/hello.pl")
printf '%-28s %12s %10s\n' "cgihost Perl" "$cp_rps" "$cp_p99"
read -r fp_rps _ fp_p99 < <(measure "http://127.0.0.1:$ng_port/cgi-bin/hello.pl")
printf '%-28s %12s %10s\n' "nginx+fcgiwrap Perl" "$fp_rps" "$fp_p99"
echo
echo "C:    cgihost / nginx+fcgiwrap = $(ratio "$c_rps" "$f_rps"), cgihost / raw spawn loop = $(ratio "$c_rps" "$l_rps")"
echo "C:    cgihost CPU per request (network process + spawner): ${c_cpu} us"
echo "Perl: cgihost / nginx+fcgiwrap = $(ratio "$cp_rps" "$fp_rps")"

rss() { awk -v k="$2" '$1 == k":" {print $2}' "/proc/$1/status"; }
idle=$(rss "$cg_pid" VmRSS)
head -c 1G /dev/zero > "$work/1g.bin"
up=$(curl -fsS -X POST -T "$work/1g.bin" "http://127.0.0.1:$cg_port/cgi-bin/tiny?mode=sink")
hwm_up=$(rss "$cg_pid" VmHWM)
down=$(curl -fsS "http://127.0.0.1:$cg_port/cgi-bin/tiny?mode=big&n=1024" | wc -c)
hwm_down=$(rss "$cg_pid" VmHWM)
echo
echo "cgihost RSS idle ${idle} KiB; peak after a 1 GiB upload ${hwm_up} KiB (+$((hwm_up - idle)) KiB, CGI said: ${up});"
echo "peak after a 1 GiB download ${hwm_down} KiB (+$((hwm_down - idle)) KiB, received ${down} bytes)"
echo "(wrk -t2 -c$conns -d${secs}s on $(nproc) cores; fcgiwrap -c 2; access logs off)"
