# Shared by the benchmark scripts: sourced, not run.
# Processes started by a script are stopped by their pid (and process groups
# it created by their id) when it exits.
pids=()
groups=()
work=""
cleanup() {
  for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n $work ]] && rm -rf "$work"
}
trap cleanup EXIT

# need TOOL...: exits with a hint when one is missing.
need() {
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "run scripts/setup.sh --bench ($t missing)" >&2; exit 2; }
  done
}

# wait_ok URL: until it answers 2xx, bounded (10 s).
wait_ok() {
  for _ in $(seq 1 200); do
    if curl -fsS -o /dev/null "$1"; then return 0; fi
    sleep 0.05
  done
  echo "no answer from $1" >&2
  exit 1
}

# measure URL: "requests/s p50 p99" with wrk -t2 -c$conns -d${secs}s.
measure() {
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$1" | awk '
    /Requests\/sec/ {rps=$2}
    / 50%/ {p50=$2}
    / 99%/ {p99=$2}
    END {printf "%s %s %s\n", rps, p50, p99}'
}

# ratio A B: A / B with two decimals.
ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

# measure_ms URL: "requests/s p50 p99" (latencies in ms) with wrk -t2 -c$conns -d${secs}s.
measure_ms() {
  wrk -t2 -c"$conns" -d"${secs}s" --latency "$1" | awk '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ {rps=$2}
    / 50%/ {p50=ms($2)}
    / 99%/ {p99=ms($2)}
    END {printf "%s %.2f %.2f\n", rps, p50, p99}'
}

# warm URL: one second of the same load, not measured (instances start, caches fill).
warm() { wrk -t2 -c"$conns" -d1s "$1" >/dev/null; }

# median N...: the median of the numbers.
median() {
  printf '%s\n' "$@" | sort -g | awk '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# cpu_ticks PID...: utime + stime of the processes (every thread), in clock ticks.
cpu_ticks() {
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

# measure_cpu URL PID...: "requests/s p50 p99 cpu_us_per_request" (latencies in ms) with
# wrk -t2 -c$conns -d${secs}s; the CPU is that of PIDs over the run, per request.
measure_cpu() {
  local url=$1 t0 t1 out
  shift
  t0=$(cpu_ticks "$@")
  out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$url")
  t1=$(cpu_ticks "$@")
  awk -v ticks=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /requests in/ {n=$1}
    /Requests\/sec/ {rps=$2}
    / 50%/ {p50=ms($2)}
    / 99%/ {p99=ms($2)}
    END {printf "%s %.2f %.2f %.1f\n", rps, p50, p99, n ? ticks / hz * 1e6 / n : 0}' <<<"$out"
}
