#!/usr/bin/env bash
# PHP side by side, in one run, on loopback, with the same number of PHP workers:
#   cgihost -> php-cgi pool (max_instances = WORKERS)
#   nginx   -> php-fpm (pm = static, pm.max_children = WORKERS)
#   nginx   -> php-cgi (PHP_FCGI_CHILDREN = WORKERS): php-cgi's headroom over php-fpm
# Prints requests/s, p50 and p99 for both and their ratio, and cgihost's idle RSS.
# Usage: [BENCH_PORT=N] [CGIHOST_BIN=PATH] tests/bench/php_bench.sh [SECONDS] [CONNECTIONS] [WORKERS] [ROUNDS]
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
cat > "$work/cgihost.toml" <<TOML
listen = ["127.0.0.1:$cg_port"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[pools.php]
command = ["/usr/bin/php-cgi"]
max_instances = $workers
max_requests = 0
[log]
level = "warn"
access_log = "off"
TOML

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
pids+=($!)
# php-cgi's own process manager: WORKERS children on one socket, as www-data.
mkdir -p "$work/php-cgi" && chown www-data: "$work/php-cgi"
PHP_FCGI_CHILDREN=$workers PHP_FCGI_MAX_REQUESTS=0 setsid setpriv --reuid=www-data --regid=www-data --init-groups \
  php-cgi -b "$work/php-cgi/php-cgi.sock" &
groups+=($!)
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
# The front ends' CPU per request: cgihost's process; nginx's master and workers.
ng_all=("$ng_pid" $(ps -o pid= --ppid "$ng_pid"))
c_rps=(); c_p50=(); c_p99=(); c_cpu=(); f_rps=(); f_p50=(); f_p99=(); f_cpu=(); n_rps=(); n_p50=(); n_p99=()
for ((i = 0; i < rounds; i++)); do
  read -r a b c d < <(measure_cpu "http://127.0.0.1:$cg_port/hello.php" "$cg_pid")
  c_rps+=("$a"); c_p50+=("$b"); c_p99+=("$c"); c_cpu+=("$d")
  read -r a b c d < <(measure_cpu "http://127.0.0.1:$ng_port/hello.php" "${ng_all[@]}")
  f_rps+=("$a"); f_p50+=("$b"); f_p99+=("$c"); f_cpu+=("$d")
  read -r a b c < <(measure_ms "http://127.0.0.1:$nc_port/hello.php")
  n_rps+=("$a"); n_p50+=("$b"); n_p99+=("$c")
done
cr=$(median "${c_rps[@]}"); fr=$(median "${f_rps[@]}"); nr=$(median "${n_rps[@]}")
printf '%-22s %12s %10s %10s\n' case req/s p50_ms p99_ms
printf '%-22s %12s %10s %10s\n' "cgihost -> php-cgi" "$cr" "$(median "${c_p50[@]}")" "$(median "${c_p99[@]}")"
printf '%-22s %12s %10s %10s\n' "nginx -> php-fpm" "$fr" "$(median "${f_p50[@]}")" "$(median "${f_p99[@]}")"
printf '%-22s %12s %10s %10s\n' "nginx -> php-cgi" "$nr" "$(median "${n_p50[@]}")" "$(median "${n_p99[@]}")"
echo "cgihost / nginx+php-fpm = $(ratio "$cr" "$fr") ($workers PHP workers each)"
echo "cgihost / nginx+php-cgi = $(ratio "$cr" "$nr"); nginx+php-cgi / nginx+php-fpm = $(ratio "$nr" "$fr") (php-cgi's own headroom)"
echo "per round, cgihost: ${c_rps[*]} req/s; nginx+php-fpm: ${f_rps[*]} req/s"
echo "front end CPU per request (utime+stime / requests): cgihost $(median "${c_cpu[@]}") us, nginx (with php-fpm) $(median "${f_cpu[@]}") us"
echo "cgihost RSS with its pool running (PHP not counted): ${idle} KiB"
echo "(wrk -t2 -c$conns -d${secs}s, median of $rounds alternating rounds after a 1 s warm-up, on $(nproc) cores; access logs off)"
