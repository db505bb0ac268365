#!/usr/bin/env bash
# CGI side by side, in one run, on loopback:
#   cgihost           -> a tiny compiled CGI program (6-byte body), then a Perl hello
#   nginx + fcgiwrap  -> the same two (the usual way to run CGI behind nginx)
#   a raw spawn loop  -> posix_spawn + read + waitpid of the same program (the floor)
# Prints requests/s, p50, p99 and the CPU µs and context switches per request of
# each process group (tests/bench/lib.sh) for each, the ratios, and cgihost's RSS: idle, and
# its growth during a 1 GiB upload and a 1 GiB download through a CGI.
# Usage: [CGI_MAX_CHILDREN=N] [BENCH_PORT=N] [CGIHOST_BIN=PATH] tests/bench/cgi_bench.sh [SECONDS] [CONNECTIONS] [ROUNDS]
# (CGI_MAX_CHILDREN: cgihost's [cgi] max_children; default 0, no limit)
# (BENCH_PORT: the first of the ports it listens on; default 18580: two scripts can run at once)
# (CGIHOST_BIN: the cgihost binary to measure, absolute or relative to the repository;
# default build/cgihost: two builds compared side by side)
# Needs a build in build/ and scripts/setup.sh --bench (wrk, nginx, fcgiwrap).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-16}
rounds=${3:-3}
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
cgihost_toml cgi "$cg_port" >"$work/cgihost.toml"

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
fw_pid=$!
pids+=($fw_pid)
groups+=($fw_pid)
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
ng_pid=$!
pids+=($ng_pid)

wait_ok "http://127.0.0.1:$cg_port/cgi-bin/tiny"
wait_ok "http://127.0.0.1:$ng_port/cgi-bin/tiny"

# The process groups counted per request (lib.sh's measure_groups): cgihost's
# network process and spawner; nginx's master and workers, fcgiwrap's
# processes; the CGI children, counted once reaped (through their parent's
# cutime+cstime: the spawner, or an fcgiwrap process that waits for them).
cg_groups() { cgihost_members cgi-children; }
fw_groups() {
  nginx_members
  fcgiwrap_members
}
warm "http://127.0.0.1:$cg_port/cgi-bin/tiny"
warm "http://127.0.0.1:$ng_port/cgi-bin/tiny"
loop_out=()
for ((i = 0; i < rounds; i++)); do
  measure_groups cg_c "http://127.0.0.1:$cg_port/cgi-bin/tiny" cg_groups
  measure_groups fw_c "http://127.0.0.1:$ng_port/cgi-bin/tiny" fw_groups
  loop_out+=("$("$loop" "$work/site/cgi-bin/tiny" 2 "$secs")")
  measure_groups cg_pl "http://127.0.0.1:$cg_port/cgi-bin/hello.pl" cg_groups
  measure_groups fw_pl "http://127.0.0.1:$ng_port/cgi-bin/hello.pl" fw_groups
done
report cg_c "cgihost C"
report fw_c "nginx+fcgiwrap C"
if ! grep -q '^fw_c cpu:cgi-children ' "$work/results"; then
  echo "    (nginx+fcgiwrap's CGI children not counted: fcgiwrap ignores SIGCHLD, so their CPU reaches no parent)"
fi
l_rps=$(median $(printf '%s\n' "${loop_out[@]}" | awk '{print $2}'))
l_self=$(median $(printf '%s\n' "${loop_out[@]}" | awk '{print $6}'))
l_child=$(median $(printf '%s\n' "${loop_out[@]}" | awk '{print $8}'))
printf '%-26s req/s %10s   (posix_spawn + read + waitpid; CPU %s us/spawn itself, %s us/spawn its children)\n' \
  "raw spawn loop (2 threads)" "$l_rps" "$l_self" "$l_child"
report cg_pl "cgihost Perl"
report fw_pl "nginx+fcgiwrap Perl"
c_rps=$(med cg_c rps); f_rps=$(med fw_c rps)
c_cpu=$(med_sum cg_c cgihost-net cgihost-spawner); f_cpu=$(med_sum fw_c nginx fcgiwrap)
echo
echo "C:    cgihost / nginx+fcgiwrap = $(ratio "$c_rps" "$f_rps"), cgihost / raw spawn loop = $(ratio "$c_rps" "$l_rps")   (target >= 0.90 of the loop)"
echo "C:    p99 cgihost / nginx+fcgiwrap = $(ratio "$(med cg_c p99)" "$(med fw_c p99)")   (target <= 1.00)"
echo "C:    CPU per request, cgihost network process + spawner ${c_cpu} us, nginx + fcgiwrap ${f_cpu} us: ratio $(ratio "$c_cpu" "$f_cpu")"
echo "Perl: cgihost / nginx+fcgiwrap = $(ratio "$(med cg_pl rps)" "$(med fw_pl rps)")"

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
echo "(wrk -t2 -c$conns -d${secs}s, median of $rounds alternating rounds after a 1 s warm-up, on $(nproc) cores; fcgiwrap -c 2; access logs off)"
