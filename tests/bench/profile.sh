#!/usr/bin/env bash
# Where cgihost's µs go, per request, for one URL (issue 14's profile): with the
# configuration of the matching benchmark (lib.sh's cgihost_toml), under
# wrk -t2 -c$CONNECTIONS, it prints for cgihost's processes
#   - CPU µs and context switches per request (a plain run, nothing attached);
#   - system calls per request by name (strace -c on every thread of the network
#     process, then of the spawner; their children are not followed), and the
#     total without a tracer (perf stat raw_syscalls:sys_enter, when perf works);
#   - allocations per request (tests/bench/alloc_count.cpp under LD_PRELOAD).
# Usage: [BENCH_PORT=N] [CGIHOST_BIN=PATH] tests/bench/profile.sh php|static|cgi [SECONDS] [CONNECTIONS]
#   php: GET /hello.php (4 php-cgi instances); static: GET /index.html; cgi: GET /cgi-bin/tiny
#   (defaults 5 s per part, 32 connections; BENCH_PORT default 18780)
# Needs a build in build/ (cgihost, alloc_count, cgi_probe) and scripts/setup.sh --bench
# (wrk, strace; perf from linux-perf is optional).
set -euo pipefail
cd "$(dirname "$0")/../.."
mode=${1:-}
secs=${2:-5}
conns=${3:-32}
case $mode in
  php) path=/hello.php children=php-cgi ;;
  static) path=/index.html children="" ;;
  cgi) path=/cgi-bin/tiny children=cgi-children ;;
  *) echo "usage: tests/bench/profile.sh php|static|cgi [SECONDS] [CONNECTIONS]" >&2; exit 2 ;;
esac
bin=${CGIHOST_BIN:-build/cgihost}
preload=$PWD/build/tests/bench/alloc_count.so
for f in "$bin" "$preload" build/tests/cgi_probe; do
  [[ -e $f ]] || { echo "build first: cmake --build --preset default --target cgihost alloc_count cgi_probe ($f missing)" >&2; exit 2; }
done
source tests/bench/lib.sh
need wrk strace curl bc
work=$(mktemp -d /tmp/cgihost-profile-XXXXXX)
chmod 755 "$work"
mkdir -p "$work/site/cgi-bin" "$work/alloc"
printf '<?php\necho "Hello, world\\n";\n' >"$work/site/hello.php"
cp samples/site/index.html "$work/site/index.html"
cp build/tests/cgi_probe "$work/site/cgi-bin/tiny"
chmod -R a+rX "$work/site"
port=${BENCH_PORT:-18780}
url="http://127.0.0.1:$port$path"
workers=4
cgihost_toml "$mode" "$port" >"$work/cgihost.toml"

# start_cgihost [ENV...]: starts cgihost (with the environment given), sets
# cg_pid and sp_pid (its spawner), waits for an answer and warms up.
start_cgihost() {
  env "$@" "$bin" serve --config "$work/cgihost.toml" 2>>"$work/cgihost.err" &
  cg_pid=$!
  pids+=($cg_pid)
  wait_ok "$url"
  sp_pid=$(spawner_of "$cg_pid")
  warm "$url"
}
stop_cgihost() { stop "$cg_pid"; }
cg_groups() {
  local p
  echo "network m $cg_pid"
  echo "spawner m $sp_pid"
  if [[ -n $children ]]; then
    echo "$children r $sp_pid"
    for p in $(descendants "$sp_pid"); do echo "$children m $p"; done
  fi
}
# requests_of WRK_OUTPUT: the number of requests wrk made.
requests_of() { awk '/requests in/ {print $1}' <<<"$1"; }
threads_of() { ls "/proc/$1/task"; }

# strace_table PID: one wrk run with strace -c on every thread of PID (not its
# children); prints "total T: name n.nn, ..." per request, most frequent first.
strace_table() {
  local pid=$1 args=() t s out n
  for t in $(threads_of "$pid"); do args+=(-p "$t"); done
  timeout $((secs + 30)) strace -c -o "$work/strace.$pid" "${args[@]}" 2>/dev/null &
  s=$!
  pids+=($s)
  for _ in $(seq 1 100); do  # until every thread has its tracer (bounded: 5 s)
    [[ $(awk '$1 == "TracerPid:" && $2 == 0' /proc/"$pid"/task/*/status | wc -l) == 0 ]] && break
    sleep 0.05
  done
  out=$(wrk -t2 -c"$conns" -d"${secs}s" "$url")
  stop "$s" INT
  n=$(requests_of "$out")
  awk -v n="$n" '
    /^-+/ {rule++; next}
    rule == 1 && NF >= 5 {calls[$NF] = $4; order[++k] = $NF}
    END {
      for (i = 1; i <= k; i++) total += calls[order[i]]
      printf "total %.2f (%d requests):", total / n, n
      # most frequent first
      for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++)
        if (calls[order[j]] > calls[order[i]]) { t = order[i]; order[i] = order[j]; order[j] = t }
      for (i = 1; i <= k; i++) printf "%s %s %.2f", (i > 1 ? "," : ""), order[i], calls[order[i]] / n
      printf "\n"
    }' "$work/strace.$pid"
}

# perf_total PID...: syscalls per request of each process (its threads, not its children), no tracer.
perf_total() {
  local p out n perfs=()
  for p in "$@"; do
    timeout $((secs + 30)) perf stat --no-inherit -e raw_syscalls:sys_enter -x, -o "$work/perf.$p" -p "$p" 2>/dev/null &
    perfs+=($!)
    pids+=($!)
  done
  sleep 0.3
  out=$(wrk -t2 -c"$conns" -d"${secs}s" "$url")
  for p in "${perfs[@]}"; do stop "$p" INT; done
  n=$(requests_of "$out")
  for p in "$@"; do
    awk -F, -v n="$n" '$3 == "raw_syscalls:sys_enter" {s += $1} END {printf "%.2f ", s / n}' "$work/perf.$p"
  done
  echo
}

# alloc_counts PID: "malloc calloc realloc aligned free" so far in PID.
alloc_counts() { echo $(od -An -t u8 -N 40 -v "$work/alloc/$1"); }

echo "profile: $mode (GET $path, wrk -t2 -c$conns -d${secs}s per part, on $(nproc) cores), $bin"
start_cgihost
measure_groups plain "$url" cg_groups
report plain "plain run"
perf_line=""
if command -v perf >/dev/null && perf stat -e raw_syscalls:sys_enter -x, -o /dev/null true 2>/dev/null; then
  read -r pn ps_ < <(perf_total "$cg_pid" "$sp_pid")
  perf_line="syscalls/request without a tracer (perf stat raw_syscalls:sys_enter): network $pn, spawner $ps_"
fi
echo
echo "syscalls/request, network process (strace -c, every thread): $(strace_table "$cg_pid")"
echo "syscalls/request, spawner (strace -c, every thread, children not followed): $(strace_table "$sp_pid")"
[[ -n $perf_line ]] && echo "$perf_line"
echo "(strace stops the process at every call, which changes how many requests each wakeup"
echo " finds: epoll_wait and the wakeup calls differ from a plain run; the perf total has no tracer)"
stop_cgihost

start_cgihost LD_PRELOAD="$preload" ALLOC_COUNT_DIR="$work/alloc"
[[ -s $work/alloc/$cg_pid && -s $work/alloc/$sp_pid ]] || { echo "alloc_count: no counts for $cg_pid/$sp_pid" >&2; exit 1; }
read -r -a a0 < <(alloc_counts "$cg_pid")
read -r -a s0 < <(alloc_counts "$sp_pid")
out=$(wrk -t2 -c"$conns" -d"${secs}s" "$url")
read -r -a a1 < <(alloc_counts "$cg_pid")
read -r -a s1 < <(alloc_counts "$sp_pid")
n=$(requests_of "$out")
per() { awk -v a="$1" -v b="$2" -v n="$n" 'BEGIN {printf "%.2f", (b - a) / n}'; }
alloc_line() {
  local -n b=$1 e=$2
  local total=$(((e[0] - b[0]) + (e[1] - b[1]) + (e[2] - b[2]) + (e[3] - b[3])))
  echo "total $(per 0 "$total"): malloc $(per "${b[0]}" "${e[0]}"), calloc $(per "${b[1]}" "${e[1]}"), realloc $(per "${b[2]}" "${e[2]}"), aligned $(per "${b[3]}" "${e[3]}"); free $(per "${b[4]}" "${e[4]}")"
}
echo
echo "allocations/request, network process ($n requests; operator new counted as malloc): $(alloc_line a0 a1)"
echo "allocations/request, spawner: $(alloc_line s0 s1)"
stop_cgihost
