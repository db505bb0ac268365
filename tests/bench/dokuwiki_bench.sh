#!/usr/bin/env bash
# DokuWiki's start page (Debian's package, installed by scripts/setup.sh) side by
# side, in one run, on loopback, with the same number of PHP workers and the
# pools' recycling on (issue 14's real application):
#   cgihost -> php-cgi pool (max_instances = WORKERS, max_requests = 500), one
#              cgihost per variant (VARIANTS, below)
#   nginx   -> php-fpm (pm = static, pm.max_children = WORKERS, pm.max_requests = 500)
#   nginx   -> php-cgi (PHP_FCGI_CHILDREN = WORKERS, PHP_FCGI_MAX_REQUESTS = 500):
#              one php-cgi whose children share one OPcache
# Each side serves its own copy of the code and data (as tests/apps/dokuwiki.py
# builds it), doku.php?id=start, access logs off. Prints requests/s, p50, p99,
# the CPU µs and context switches per request of each process group
# (tests/bench/lib.sh) and the PSS of all PHP processes of each side (summed
# from /proc/PID/smaps_rollup after each round; median), then the ratios.
# Usage: [VARIANTS="plain filecache ..."] [BENCH_PORT=N] [CGIHOST_BIN=PATH]
#        tests/bench/dokuwiki_bench.sh [SECONDS] [CONNECTIONS] [WORKERS] [ROUNDS]
# (defaults 10 s, 16 connections, 4 workers, 3 alternating rounds; wrk -t2)
# VARIANTS: the cgihost configurations measured, each its own cgihost (default "plain"):
#   plain      command = ["/usr/bin/php-cgi"]
#   filecache  command = ["/usr/bin/php-cgi", "-d", "opcache.file_cache=FOLDER"]
#              (a folder of its own, owned by www-data: a new instance starts warm)
#   children   [pools.php] children = WORKERS (one php-cgi, WORKERS children
#              sharing one OPcache), when the build has the key
#   NAME@BIN   the variant NAME run by another cgihost binary (two builds
#              compared side by side, e.g. plain plain@/tmp/old/cgihost)
# Needs a build in build/, scripts/setup.sh --bench (wrk, nginx, php8.2-fpm) and
# the dokuwiki package. BENCH_PORT: the first port (default 18800, then one per
# variant and two for nginx).
set -euo pipefail
cd "$(dirname "$0")/../.."
secs=${1:-10}
conns=${2:-16}
workers=${3:-4}
rounds=${4:-3}
variants=(${VARIANTS:-plain})
bin=${CGIHOST_BIN:-build/cgihost}
source tests/bench/lib.sh
need wrk nginx php-fpm8.2 php-cgi curl bc setpriv setsid
[[ -f /usr/share/dokuwiki/doku.php ]] || { echo "run scripts/setup.sh (dokuwiki missing)" >&2; exit 2; }
work=$(mktemp -d /tmp/cgihost-dokubench-XXXXXX)
chmod 755 "$work"
mkdir -p "$work/nginx/tmp"

# site DIR: a private DokuWiki as tests/apps/dokuwiki.py builds it (symlinks
# copied as files, conf/ and data/ inside, no preload.php, anonymous read).
site() {
  cp -rL /usr/share/dokuwiki "$1"
  rm -f "$1/inc/preload.php"
  mkdir -p "$1/conf"
  find /etc/dokuwiki -maxdepth 1 -type f \( -name '*.php' -o -name '*.conf' -o -name '*.css' \) -exec cp {} "$1/conf/" \;
  cat >"$1/conf/local.php" <<'PHP'
<?php
$conf['title'] = 'cgihost wiki';
$conf['savedir'] = DOKU_INC.'data';
$conf['useacl'] = 1;
$conf['authtype'] = 'authplain';
$conf['superuser'] = '@admin';
$conf['userewrite'] = 0;
$conf['updatecheck'] = 0;
$conf['dnslookups'] = 0;
PHP
  printf '*\t@ALL\t1\n' >"$1/conf/acl.auth.php"
  : >"$1/conf/users.auth.php"
  cp -rL /var/lib/dokuwiki/data "$1/data"
  printf '====== Welcome ======\nThe cgihost wiki start page, about the zebrafish.\n' >"$1/data/pages/start.txt"
  find "$1" -type d -exec chmod 755 {} + && find "$1" -type f -exec chmod 644 {} +
  chown -R www-data: "$1/data"
}

# The cgihost of each variant: its port, its binary, its site and its pool.
base=${BENCH_PORT:-18800}
declare -a cg_pids cg_ports cg_names
for i in "${!variants[@]}"; do
  v=${variants[$i]}
  name=${v%%@*}
  vbin=$bin
  [[ $v == *@* ]] && vbin=${v#*@}
  [[ -x $vbin ]] || { echo "build first: cmake --preset default && cmake --build --preset default ($vbin missing)" >&2; exit 2; }
  port=$((base + i))
  d="$work/cg$i"
  mkdir -p "$d"
  site "$d/site"
  pool_extra="max_instances = $workers"
  command='"/usr/bin/php-cgi"'
  case $name in
    plain) ;;
    filecache)
      mkdir -p "$d/opcache" && chown www-data: "$d/opcache" && chmod 700 "$d/opcache"
      command="\"/usr/bin/php-cgi\", \"-d\", \"opcache.file_cache=$d/opcache\"" ;;
    children) pool_extra="children = $workers" ;;
    *) echo "unknown variant $name" >&2; exit 2 ;;
  esac
  cat >"$d/cgihost.toml" <<TOML
listen = ["127.0.0.1:$port"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "*.php"
module = "fastcgi"
pool = "php"
[pools.php]
command = [$command]
max_requests = 500
$pool_extra
[log]
level = "warn"
access_log = "off"
TOML
  "$vbin" serve --config "$d/cgihost.toml" 2>"$d/cgihost.err" &
  cg_pids[$i]=$!
  pids+=($!)
  cg_ports[$i]=$port
  cg_names[$i]="cgihost $v"
done
ng_port=$((base + ${#variants[@]}))
nc_port=$((ng_port + 1))
site "$work/fpm-site"
site "$work/pc-site"

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
pm.max_requests = 500
CONF

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
  server {
    listen 127.0.0.1:$ng_port;
    root $work/fpm-site;
    location ~ \\.php\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass unix:$work/fpm.sock;
    }
  }
  server {
    listen 127.0.0.1:$nc_port;
    root $work/pc-site;
    location ~ \\.php\$ {
      include /etc/nginx/fastcgi_params;
      fastcgi_param SCRIPT_FILENAME \$document_root\$fastcgi_script_name;
      fastcgi_pass unix:$work/php-cgi/php-cgi.sock;
    }
  }
}
CONF

php-fpm8.2 --fpm-config "$work/fpm.conf" --nodaemonize &
fpm_pid=$!
pids+=($fpm_pid)
mkdir -p "$work/php-cgi" && chown www-data: "$work/php-cgi"
PHP_FCGI_CHILDREN=$workers PHP_FCGI_MAX_REQUESTS=500 setsid setpriv --reuid=www-data --regid=www-data --init-groups \
  php-cgi -b "$work/php-cgi/php-cgi.sock" &
pc_pid=$!
groups+=($pc_pid)
nginx -c "$work/nginx/nginx.conf" -p "$work/nginx" &
ng_pid=$!
pids+=($ng_pid)

page=/doku.php?id=start
for i in "${!variants[@]}"; do
  curl -fsS -o /dev/null "http://127.0.0.1:${cg_ports[$i]}/" 2>/dev/null || sleep 0.5
  kill -0 "${cg_pids[$i]}" 2>/dev/null || { cat "$work/cg$i/cgihost.err" >&2; exit 1; }
done
for port in "${cg_ports[@]}" "$ng_port" "$nc_port"; do
  wait_ok "http://127.0.0.1:$port$page"
  [[ $(curl -fsS "http://127.0.0.1:$port$page") == *zebrafish* ]] || { echo "port $port: not the start page" >&2; exit 1; }
  warm "http://127.0.0.1:$port$page"
done

# The process groups (lib.sh's measure_groups), of the side being measured ($cur).
cg_groups() { cgihost_members php-cgi "$cur"; }
fpm_groups() {
  nginx_members
  fpm_members
}
pc_groups() {
  local p
  nginx_members
  echo "php-cgi m $pc_pid"
  echo "php-cgi r $pc_pid"
  for p in $(descendants "$pc_pid"); do echo "php-cgi m $p"; done
}
# pss CASE PID...: the PSS (KiB) of the processes, summed, appended as "CASE pss N".
pss() {
  local c=$1 t=0 p v
  shift
  for p in "$@"; do
    v=$(awk '$1 == "Pss:" {print $2}' "/proc/$p/smaps_rollup" 2>/dev/null || true)
    t=$((t + ${v:-0}))
  done
  echo "$c pss $t" >>"$work/results"
}

for ((r = 0; r < rounds; r++)); do
  for i in "${!variants[@]}"; do
    cur=${cg_pids[$i]}
    measure_groups "cg$i" "http://127.0.0.1:${cg_ports[$i]}$page" cg_groups
    pss "cg$i" $(descendants $(spawner_of "$cur"))
  done
  measure_groups fpm "http://127.0.0.1:$ng_port$page" fpm_groups
  pss fpm "$fpm_pid" $(descendants "$fpm_pid")
  measure_groups pc "http://127.0.0.1:$nc_port$page" pc_groups
  pss pc "$pc_pid" $(descendants "$pc_pid")
done

show() {
  report "$1" "$2"
  printf '    %-18s PSS %8s KiB (all PHP processes, median after the rounds)\n' "PHP memory" "$(med "$1" pss)"
}
for i in "${!variants[@]}"; do show "cg$i" "${cg_names[$i]}"; done
show fpm "nginx -> php-fpm"
show pc "nginx -> php-cgi CHILDREN"
echo
fr=$(med fpm rps)
for i in "${!variants[@]}"; do
  echo "${cg_names[$i]} / nginx+php-fpm: req/s $(ratio "$(med "cg$i" rps)" "$fr") (target >= 1.00)," \
    "p99 $(ratio "$(med "cg$i" p99)" "$(med fpm p99)") (<= 1.00), PHP PSS $(ratio "$(med "cg$i" pss)" "$(med fpm pss)") (<= 1.00)"
  echo "    per round req/s: $(awk -v c="cg$i" '$1 == c && $2 == "rps" {printf "%s ", $3}' "$work/results")"
done
echo "nginx+php-cgi CHILDREN / nginx+php-fpm: req/s $(ratio "$(med pc rps)" "$fr"), p99 $(ratio "$(med pc p99)" "$(med fpm p99)"), PHP PSS $(ratio "$(med pc pss)" "$(med fpm pss)")"
echo "    per round req/s nginx+php-fpm: $(awk '$1 == "fpm" && $2 == "rps" {printf "%s ", $3}' "$work/results")"
echo "(wrk -t2 -c$conns -d${secs}s $page, median of $rounds alternating rounds after a 1 s warm-up, $workers PHP workers each," \
  "recycling after 500 requests, on $(nproc) cores; access logs off)"
