#!/usr/bin/env bash
# cgihost as a FastCGI server behind nginx, side by side in one run, on loopback:
#   nginx -> cgihost ([fastcgi], Unix socket) -> a compiled C CGI (tiny_cgi: libc only, 6-byte body)
#   nginx -> fcgiwrap (Unix socket)           -> the same program
#   nginx -> cgihost ([fastcgi], Unix socket) -> php-cgi pool of WORKERS instances
#   nginx -> php-fpm (pm = static, WORKERS)   -> the same PHP script
# Alternating rounds; prints the median requests/s, p50 and p99 (ms) of each and the ratios.
# Usage: [BENCH_PORT=N] [WORKERS=N] [CGI_MAX_CHILDREN=N] [CGIHOST_BIN=PATH] tests/bench/fcgi_front_bench.sh [SECONDS] [CONNECTIONS] [ROUNDS]
# (BENCH_PORT: the first of the 4 ports it listens on; default 18680)
# Needs a build in build/, root (the workers run as www-data), and scripts/setup.sh --bench
# (wrk, nginx, fcgiwrap, php-fpm8.2).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-16}
rounds=${3:-3}
workers=${WORKERS:-4}
# cgihost's [cgi] max_children, fcgiwrap's -c: CGI children at once. Two per
# core by default (fcgiwrap -c 2 runs one per core); CGI_MAX_CHILDREN=0 for
# no limit (more children at once than cores widens the tail: p99).
export CGI_MAX_CHILDREN=${CGI_MAX_CHILDREN:-$((2 * $(nproc)))}
bin=${CGIHOST_BIN:-build/cgihost}
probe=build/tests/bench/tiny_cgi
for f in "$bin" "$probe"; do
  [[ -x $f ]] || { echo "build first: cmake --preset default && cmake --build --preset default ($f missing)" >&2; exit 2; }
done
source tests/bench/lib.sh
need wrk nginx fcgiwrap php-fpm8.2 php-cgi curl bc setpriv setsid
work=$(mktemp -d /tmp/cgihost-fcgibench-XXXXXX)
chmod 755 "$work"
mkdir -p "$work/site/cgi-bin" "$work/nginx/tmp"
cp "$probe" "$work/site/cgi-bin/tiny"
echo '<?php echo "hello\n";' > "$work/site/hello.php"
chmod 755 "$work/site" "$work/site/cgi-bin" "$work/site/cgi-bin/tiny"
chmod 644 "$work/site/hello.php"
site=$(realpath "$work/site")

base=${BENCH_PORT:-18680}
cg_port=$base          # cgihost's own HTTP listener (start-up check only)
ngc_port=$((base + 1)) # nginx -> cgihost
ngw_port=$((base + 2)) # nginx -> fcgiwrap
ngf_port=$((base + 3)) # nginx -> php-fpm
{
  cgihost_toml cgi "$cg_port"
  printf '[[handlers]]\nmatch = "*.php"\nmodule = "fastcgi"\npool = "php"\n'
  printf '[pools.php]\ncommand = ["/usr/bin/php-cgi"]\nmax_instances = %s\nmax_requests = 0\n' "$workers"
  printf '[fastcgi]\nlisten = ["unix:%s/cgihost.sock"]\nsocket_group = "www-data"\n' "$work"
} >"$work/cgihost.toml"

cat >"$work/fpm.conf" <<CONF
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

# One server block per upstream, the same FastCGI settings for each; kept
# connections (fastcgi_keep_conn, upstream keepalive) only to cgihost, which
# serves any number of requests per connection at once: a php-fpm worker
# bound to an idle kept connection serves nobody else (and fcgiwrap does not
# keep connections).
server_block() { # PORT UPSTREAM KEEP_CONN
  cat <<CONF
  server {
    listen 127.0.0.1:$1;
    root $site;
    location / {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_keep_conn $3;
      fastcgi_pass $2;
    }
  }
CONF
}
cat >"$work/nginx/nginx.conf" <<CONF
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
  upstream cgihost { server unix:$work/cgihost.sock; keepalive 32; }
  upstream fcgiwrap { server unix:$work/fcgiwrap.sock; }
  upstream fpm { server unix:$work/fpm.sock; }
$(server_block "$ngc_port" cgihost on)
$(server_block "$ngw_port" fcgiwrap off)
$(server_block "$ngf_port" fpm off)
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
php-fpm8.2 --fpm-config "$work/fpm.conf" --nodaemonize &
fpm_pid=$!
pids+=($fpm_pid)
wait_ok "http://127.0.0.1:$cg_port/cgi-bin/tiny"
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
ng_pid=$!
pids+=($ng_pid)
wait_ok "http://127.0.0.1:$ngc_port/cgi-bin/tiny"
wait_ok "http://127.0.0.1:$ngw_port/cgi-bin/tiny"
wait_ok "http://127.0.0.1:$ngc_port/hello.php"
wait_ok "http://127.0.0.1:$ngf_port/hello.php"

cases="cg_c fw_c cg_php fpm_php"
url() {
  case $1 in
    cg_c) echo "http://127.0.0.1:$ngc_port/cgi-bin/tiny" ;;
    fw_c) echo "http://127.0.0.1:$ngw_port/cgi-bin/tiny" ;;
    cg_php) echo "http://127.0.0.1:$ngc_port/hello.php" ;;
    fpm_php) echo "http://127.0.0.1:$ngf_port/hello.php" ;;
  esac
}
for c in $cases; do warm "$(url "$c")"; done
: >"$work/results"
# The process groups whose CPU and context switches are counted per request
# (lib.sh's measure_groups): nginx in every case; cgihost's network process,
# its spawner and what the spawner starts (the CGI children, reaped by the
# spawner; the php-cgi instances); fcgiwrap and its CGI children; php-fpm.
cg_c_groups() {
  nginx_members
  cgihost_members cgi-children
}
fw_c_groups() {
  nginx_members
  fcgiwrap_members
}
cg_php_groups() {
  nginx_members
  cgihost_members php-cgi
}
fpm_php_groups() {
  nginx_members
  fpm_members
}
for ((i = 0; i < rounds; i++)); do
  for c in $cases; do measure_groups "$c" "$(url "$c")" "${c}_groups"; done
done
report cg_c "nginx -> cgihost -> C CGI"
report fw_c "nginx -> fcgiwrap -> C CGI"
if ! grep -q '^fw_c cpu:cgi-children ' "$work/results"; then
  echo "    (fcgiwrap's CGI children not counted: fcgiwrap ignores SIGCHLD, so their CPU reaches no parent)"
fi
report cg_php "nginx -> cgihost -> php-cgi x$workers"
report fpm_php "nginx -> php-fpm x$workers"
c_cpu=$(med_sum cg_c cgihost-net cgihost-spawner)
f_cpu=$(med_sum fw_c fcgiwrap)
p_cpu=$(med_sum cg_php cgihost-net cgihost-spawner php-cgi)
q_cpu=$(med_sum fpm_php php-fpm)
echo
echo "C:   cgihost / fcgiwrap req/s = $(ratio "$(med cg_c rps)" "$(med fw_c rps)") (target >= 1.30), p99 = $(ratio "$(med cg_c p99)" "$(med fw_c p99)") (target <= 1.00)"
echo "C:   CPU us per request of the FastCGI server (the CGI program's own aside): cgihost (network + spawner) $c_cpu, fcgiwrap $f_cpu: ratio $(ratio "$c_cpu" "$f_cpu"); nginx $(med cg_c cpu:nginx) and $(med fw_c cpu:nginx)"
echo "PHP: cgihost / php-fpm req/s = $(ratio "$(med cg_php rps)" "$(med fpm_php rps)"), p99 = $(ratio "$(med cg_php p99)" "$(med fpm_php p99)")"
echo "PHP: CPU us per request: nginx $(med cg_php cpu:nginx) + cgihost and php-cgi $p_cpu, against nginx $(med fpm_php cpu:nginx) + php-fpm $q_cpu"
echo "(wrk -t2 -c$conns -d${secs}s, median of $rounds alternating rounds after a 1 s warm-up, on $(nproc) cores; fcgiwrap -c 2, cgihost max_children $CGI_MAX_CHILDREN; access logs off)"
