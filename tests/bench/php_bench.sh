#!/usr/bin/env bash
# PHP side by side, in one run, on loopback, with the same number of PHP workers:
#   cgihost -> php-cgi pool (max_instances = WORKERS)
#   nginx   -> php-fpm (pm = static, pm.max_children = WORKERS)
#   nginx   -> php-cgi (PHP_FCGI_CHILDREN = WORKERS): php-cgi's headroom over php-fpm
# Prints requests/s, p50 and p99 for each, the CPU µs and context switches per request
# of each process group (tests/bench/lib.sh), the ratios, and cgihost's idle RSS.
# Usage: [COMPETITOR=1] [BENCH_PORT=N] [CGIHOST_BIN=PATH] tests/bench/php_bench.sh [SECONDS] [CONNECTIONS] [WORKERS] [ROUNDS] [competitor]
# COMPETITOR=1 (or the word competitor): one CPU-bound busy loop runs beside both sides
# during the measured rounds (started after the warm-up, stopped by its pid after them).
# Needs a build in build/ and scripts/setup.sh --bench (wrk, nginx, php8.2-fpm).
# BENCH_PORT: the first of the ports it listens on (default 18680; two scripts can run at once).
# CGIHOST_BIN: the cgihost binary to measure (absolute, or relative to the repository)
# (default build/cgihost): two builds compared side by side.
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-32}
workers=${3:-4}
rounds=${4:-3}
competitor=${COMPETITOR:-0}
[[ ${5:-} == competitor ]] && competitor=1
bin=${CGIHOST_BIN:-build/cgihost}
[[ -x $bin ]] || { echo "build first: cmake --preset default && cmake --build --preset default ($bin missing)" >&2; exit 2; }
source tests/bench/lib.sh
need wrk nginx php-fpm8.2 php-cgi curl bc setpriv setsid
work=$(mktemp -d /tmp/cgihost-phpbench-XXXXXX)
chmod 755 "$work"
mkdir -p "$work/site" "$work/nginx/tmp"
printf '<?php\necho "Hello, world\\n";\n' > "$work/site/hello.php"
chmod 755 "$work/site"; chmod 644 "$work/site/hello.php"

base=${BENCH_PORT:-18680}
cg_port=$base
ng_port=$((base + 1))
nc_port=$((base + 2))  # nginx -> php-cgi: the headroom php-cgi itself has over php-fpm
cgihost_toml php "$cg_port" >"$work/cgihost.toml"

cat > "$work/fpm.conf" <<CONF
[global]
pid = $work/fpm.pid
error_log = $work/fpm.log
daemonize = no
[www]
user = www-data
group = www-data
listen = $work/fpm.sock
listen.owner = www-data
listen.group = www-data
pm = static
pm.max_children = $workers
pm.max_requests = 0
CONF

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
    location ~ \\.php\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass unix:$work/fpm.sock;
    }
  }
  server {
    listen 127.0.0.1:$nc_port;
    root $work/site;
    location ~ \\.php\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass unix:$work/php-cgi/php-cgi.sock;
    }
  }
}
CONF

"$bin" serve --config "$work/cgihost.toml" 2>"$work/cgihost.err" &
cg_pid=$!
pids+=($cg_pid)
php-fpm8.2 --fpm-config "$work/fpm.conf" --nodaemonize &
fpm_pid=$!
pids+=($fpm_pid)
# php-cgi's own process manager: WORKERS children on one socket, as www-data.
mkdir -p "$work/php-cgi" && chown www-data: "$work/php-cgi"
PHP_FCGI_CHILDREN=$workers PHP_FCGI_MAX_REQUESTS=0 setsid setpriv --reuid=www-data --regid=www-data --init-groups \
  php-cgi -b "$work/php-cgi/php-cgi.sock" &
pc_pid=$!
groups+=($pc_pid)
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
ng_pid=$!
pids+=($ng_pid)

wait_ok "http://127.0.0.1:$cg_port/hello.php"
wait_ok "http://127.0.0.1:$ng_port/hello.php"
wait_ok "http://127.0.0.1:$nc_port/hello.php"
idle=$(awk '$1 == "VmRSS:" {print $2}' "/proc/$cg_pid/status")

# Both warmed up alike (php-fpm's static children exist before the first
# request; cgihost's instances start on demand), then measured in alternating
# rounds; the medians are reported, the machine being shared and noisy.
warm "http://127.0.0.1:$cg_port/hello.php"
warm "http://127.0.0.1:$ng_port/hello.php"
warm "http://127.0.0.1:$nc_port/hello.php"
# The process groups whose CPU and context switches are counted per request
# (lib.sh's measure_groups): cgihost's network process, its spawner and the
# php-cgi instances under it; nginx's master and workers, php-fpm's master and
# children; php-cgi's own master and children.
cg_groups() { cgihost_members php-cgi; }
fpm_groups() {
  nginx_members
  fpm_members
}
phpcgi_groups() {
  local p
  nginx_members
  echo "php-cgi m $pc_pid"
  echo "php-cgi r $pc_pid"
  for p in $(descendants "$pc_pid"); do echo "php-cgi m $p"; done
}
# The competitor: a busy loop, bounded by timeout in case this script dies.
if [[ $competitor == 1 ]]; then
  timeout $((rounds * 3 * (secs + 5) + 30)) bash -c 'while :; do :; done' &
  comp_pid=$!
  pids+=($comp_pid)
  comp_start=$(date +%s.%N)
fi
for ((i = 0; i < rounds; i++)); do
  measure_groups cg "http://127.0.0.1:$cg_port/hello.php" cg_groups
  measure_groups fpm "http://127.0.0.1:$ng_port/hello.php" fpm_groups
  measure_groups pc "http://127.0.0.1:$nc_port/hello.php" phpcgi_groups
done
if [[ $competitor == 1 ]]; then
  comp_ticks=$(cpu_ticks $(ps -o pid= --ppid "$comp_pid"))
  comp_share=$(echo "$comp_ticks / $(getconf CLK_TCK) / ($(date +%s.%N) - $comp_start) * 100" | bc -l)
  stop "$comp_pid"
  printf 'with a CPU-bound competitor (one busy loop) running beside both: it had %.0f%% of a core\n' "$comp_share"
fi
report cg "cgihost -> php-cgi"
report fpm "nginx -> php-fpm"
report pc "nginx -> php-cgi"
cr=$(med cg rps); fr=$(med fpm rps); nr=$(med pc rps)
echo
echo "cgihost / nginx+php-fpm = $(ratio "$cr" "$fr") ($workers PHP workers each)"
echo "cgihost / nginx+php-cgi = $(ratio "$cr" "$nr"); nginx+php-cgi / nginx+php-fpm = $(ratio "$nr" "$fr") (php-cgi's own headroom)"
echo "per round, cgihost: $(awk '$1 == "cg" && $2 == "rps" {printf "%s ", $3}' "$work/results")req/s; nginx+php-fpm: $(awk '$1 == "fpm" && $2 == "rps" {printf "%s ", $3}' "$work/results")req/s"
echo "ratio req/s   cgihost / nginx+php-fpm: $(ratio "$cr" "$fr")   (target >= 1.30)"
echo "ratio p99     cgihost / nginx+php-fpm: $(ratio "$(med cg p99)" "$(med fpm p99)")   (target <= 1.00)"
echo "ratio CPU/req front end, cgihost network process / nginx master+workers: $(ratio "$(med cg cpu:cgihost-net)" "$(med fpm cpu:nginx)")   (target <= 0.60)"
echo "front end CPU per request (utime+stime / requests): cgihost $(med cg cpu:cgihost-net) us (+ spawner $(med cg cpu:cgihost-spawner) us), nginx (with php-fpm) $(med fpm cpu:nginx) us"
echo "cgihost RSS with its pool running (PHP not counted): ${idle} KiB"
echo "(wrk -t2 -c$conns -d${secs}s, median of $rounds alternating rounds after a 1 s warm-up, on $(nproc) cores; access logs off$([[ $competitor == 1 ]] && echo "; one busy loop beside"))"
