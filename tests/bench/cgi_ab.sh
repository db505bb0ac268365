#!/usr/bin/env bash
# Two cgihost builds side by side on the tiny compiled CGI, both running at
# once, measured in alternating rounds, each round followed by the raw spawn
# loop (the floor). Per round and build: requests/s, p50 and p99, and per
# request the CPU of the network process and of its spawner (the scheduler's
# own count, /proc/PID/task/*/schedstat: /proc/PID/stat under-counts a spawner
# whose threads start vfork children), the CPU of the CGI children (the
# spawner's cutime + cstime) and the context switches of each process.
# Usage: tests/bench/cgi_ab.sh BIN_A BIN_B [ROUNDS] [SECONDS] [CONNECTIONS]
# Needs a build in build/ (cgi_probe, spawn_loop), wrk and curl; run as root.
set -euo pipefail
cd "$(dirname "$0")/../.."
[[ $# -ge 2 ]] || { sed -n 2,10p "$0" >&2; exit 2; }
declare -A bins=([A]="$1" [B]="$2")
rounds=${3:-5}
secs=${4:-6}
conns=${5:-16}
probe=build/tests/cgi_probe
loop=build/tests/bench/spawn_loop
source tests/bench/lib.sh
need wrk curl
work=$(mktemp -d /tmp/cgihost-cgiab-XXXXXX)
chmod 755 "$work"
declare -A port=([A]=18584 [B]=18585) pid=()
for k in A B; do
  mkdir -p "$work/$k/site/cgi-bin"
  cp "$probe" "$work/$k/site/cgi-bin/tiny"
  chmod 755 "$work/$k" "$work/$k/site" "$work/$k/site/cgi-bin" "$work/$k/site/cgi-bin/tiny"
  cat > "$work/$k/cgihost.toml" <<TOML
listen = ["127.0.0.1:${port[$k]}"]
document_root = "site"
[identity]
process = "www-data"
[[handlers]]
match = "/cgi-bin/*"
module = "cgi"
[log]
level = "warn"
access_log = "off"
TOML
  "${bins[$k]}" serve --config "$work/$k/cgihost.toml" 2>"$work/$k/err" &
  pid[$k]=$!
  pids+=($!)
done
for k in A B; do wait_ok "http://127.0.0.1:${port[$k]}/cgi-bin/tiny"; done

# run_us PID...: microseconds on a CPU, every thread of the processes.
run_us() {
  local t=0 p s
  for p in "$@"; do
    for s in /proc/"$p"/task/*/schedstat; do t=$((t + $(awk '{print int($1 / 1000)}' "$s"))); done
  done
  echo "$t"
}
switches() {
  local t=0 s
  for s in /proc/"$1"/task/*/status; do t=$((t + $(awk '/ctxt_switches/ {n += $2} END {print n}' "$s"))); done
  echo "$t"
}
child_ticks() { awk '{print $16 + $17}' "/proc/$1/stat"; }

hz=$(getconf CLK_TCK)
echo "A = ${bins[A]}; B = ${bins[B]}; wrk -t2 -c$conns -d${secs}s; per request: CPU us, context switches"
for r in $(seq 1 "$rounds"); do
  for k in A B; do
    n=${pid[$k]}
    s=$(ps -o pid= --ppid "$n" | tr -d ' ' | head -1)
    n0=$(run_us "$n") s0=$(run_us "$s") c0=$(child_ticks "$s") x0=$(switches "$n") y0=$(switches "$s")
    out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "http://127.0.0.1:${port[$k]}/cgi-bin/tiny")
    n1=$(run_us "$n") s1=$(run_us "$s") c1=$(child_ticks "$s") x1=$(switches "$n") y1=$(switches "$s")
    awk -v r="$r" -v k="$k" -v nu=$((n1 - n0)) -v su=$((s1 - s0)) -v ct=$((c1 - c0)) -v hz="$hz" \
      -v nx=$((x1 - x0)) -v sx=$((y1 - y0)) '
      function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
      /requests in/ {n = $1} /Requests\/sec/ {rps = $2} / 50%/ {p50 = ms($2)} / 99%/ {p99 = ms($2)}
      END {
        printf "round %d %s  req/s %7.1f  p50 %6.2f ms  p99 %7.2f ms  cpu %6.1f (network %6.1f spawner %6.1f) children %6.1f  switches network %.2f spawner %.2f\n",
          r, k, rps, p50, p99, (nu + su) / n, nu / n, su / n, ct / hz * 1e6 / n, nx / n, sx / n
      }' <<<"$out"
  done
  echo "round $r floor: $("$loop" "$work/A/site/cgi-bin/tiny" 2 "$secs")"
done
