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

# stop PID [SIGNAL]: signals a process this script started (TERM by default),
# waits for it and takes it off the list cleanup stops.
stop() {
  local p kept=()
  kill -"${2:-TERM}" "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
  for p in "${pids[@]}"; do [[ $p == "$1" ]] || kept+=("$p"); done
  pids=("${kept[@]}")
}

# cgihost_toml MODE PORT: the cgihost configuration the benchmarks (and
# profile.sh) run, serving site/ under the configuration's folder, access log off:
#   static: files only; php: *.php through a php-cgi pool of $workers instances
#   (default 4), never recycled; cgi: /cgi-bin/* as CGI, [cgi] max_children =
#   $CGI_MAX_CHILDREN (default 0, no limit), bodies up to 2 GiB.
cgihost_toml() {
  cat <<TOML
listen = ["127.0.0.1:$2"]
document_root = "site"
[identity]
process = "www-data"
TOML
  case $1 in
    php) printf '[[handlers]]\nmatch = "*.php"\nmodule = "fastcgi"\npool = "php"\n[pools.php]\ncommand = ["/usr/bin/php-cgi"]\nmax_instances = %s\nmax_requests = 0\n' "${workers:-4}" ;;
    cgi) printf '[[handlers]]\nmatch = "/cgi-bin/*"\nmodule = "cgi"\n[cgi]\nmax_children = %s\n[http]\nmax_body_size = "2g"\n' "${CGI_MAX_CHILDREN:-0}" ;;
    static) ;;
    *) echo "cgihost_toml: unknown mode $1" >&2; return 2 ;;
  esac
  printf '[log]\nlevel = "warn"\naccess_log = "off"\n'
}

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
  printf '%s\n' "$@" | sort -g | awk -v OFMT=%.2f '{a[NR] = $1} END {if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2}'
}

# cpu_ticks PID...: utime + stime of the processes (every thread), in clock ticks.
cpu_ticks() {
  local t=0 p
  for p in "$@"; do
    t=$((t + $(awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

# ---- CPU and context switches per request, per process group ----
# A group function (passed by name to measure_groups) prints one line per
# process: "GROUP m PID" for a member of GROUP, "GROUP r PID" for a process
# whose reaped children count for GROUP (their time is in its cutime+cstime).
# Groups are sampled before and after the run, so processes may come and go:
#   - a member in both samples counts for its utime+stime difference;
#   - a member born during the run counts whole (everything it did is in the run);
#   - a member gone by the end counts through its reaper's cutime+cstime
#     difference, less what it had used before the run; one whose parent is
#     not a reaper of the group is not counted (reported as "uncounted");
#   - children born and reaped within the run count through the reaper.
# Context switches (voluntary + nonvoluntary, of every live thread) are counted
# for the members alive at the end: no parent collects an exited child's, so
# those of a member that exits are lost (the ones seen in the first sample are
# reported as "exited"; children born and gone within the run are not seen).

# descendants PID...: the pids below them (children, their children...), not themselves.
descendants() {
  ps -e -o pid=,ppid= | awk -v roots="$*" '
    BEGIN { n = split(roots, r, " "); for (i = 1; i <= n; i++) top[r[i]] = 1 }
    { parent[$1] = $2 }
    END {
      do {
        grew = 0
        for (p in parent)
          if (!(p in top) && !(p in below) && ((parent[p] in top) || (parent[p] in below))) { below[p] = 1; grew = 1 }
      } while (grew)
      for (p in below) print p
    }'
}

# ignores_sigchld PID: true when the process ignores SIGCHLD (its children are
# reaped by the kernel, their CPU reaches no cutime).
ignores_sigchld() {
  local mask
  mask=$(awk '$1 == "SigIgn:" {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
  [[ -n $mask ]] && (((16#$mask >> 16) & 1))
}

# spawner_of PID: cgihost's spawner, the child of its network process named "cgihost spawner".
spawner_of() { ps -o pid=,comm= --ppid "$1" | awk '$2 == "cgihost" && $3 == "spawner" {print $1}'; }

# snapshot GROUPFN: "group role pid ppid starttime ticks child_ticks ctx" per process.
snapshot() {
  local _g _role _pid _stat _k _v _ctx _f
  local -a _s
  while read -r _g _role _pid; do
    { read -r _stat <"/proc/$_pid/stat"; } 2>/dev/null || continue
    read -r -a _s <<<"${_stat##*) }"  # _s[0] is field 3 (state) of proc(5)
    _ctx=0
    for _f in /proc/"$_pid"/task/*/status; do
      while read -r _k _v; do
        [[ $_k == voluntary_ctxt_switches: || $_k == nonvoluntary_ctxt_switches: ]] && _ctx=$((_ctx + _v))
      done <"$_f" 2>/dev/null || true
    done
    echo "$_g $_role $_pid ${_s[1]} ${_s[19]} $((_s[11] + _s[12])) $((_s[13] + _s[14])) $_ctx"
  done < <("$1")
}

# group_deltas BEFORE AFTER REQUESTS: per group, in the order they first appear,
# "group cpu_us_per_request ctx_per_request procs exited uncounted".
group_deltas() {
  awk -v n="$3" -v hz="$(getconf CLK_TCK)" '
    function key() { return $1 " " $2 " " $3 " " $5 }
    FNR == NR {
      if (!($1 in known)) { known[$1] = 1; order[++groups] = $1 }
      k = key(); before[k] = 1; bt[k] = $6; bc[k] = $7; bx[k] = $8; bp[k] = $4
      if ($2 == "r") reaper[$1 " " $3] = 1
      next
    }
    {
      if (!($1 in known)) { known[$1] = 1; order[++groups] = $1 }
      k = key()
      if ($2 == "r") { if (k in before) { seen[k] = 1; cpu[$1] += $7 - bc[k] } next }
      procs[$1]++
      if (k in before) { seen[k] = 1; cpu[$1] += $6 - bt[k]; ctx[$1] += $8 - bx[k] }
      else { cpu[$1] += $6; ctx[$1] += $8 }
    }
    END {
      for (k in before) {
        if (k in seen) continue
        split(k, f, " ")
        if (f[2] != "m") continue
        exited[f[1]]++
        if ((f[1] " " bp[k]) in reaper) cpu[f[1]] -= bt[k]; else uncounted[f[1]]++
      }
      for (i = 1; i <= groups; i++) {
        g = order[i]
        printf "%s %.1f %.2f %d %d %d\n", g, n ? cpu[g] / hz * 1e6 / n : 0, n ? ctx[g] / n : 0,
          procs[g], exited[g], uncounted[g]
      }
    }' "$1" "$2"
}

# measure_groups CASE URL GROUPFN: one wrk -t2 -c$conns -d${secs}s run on URL;
# appends to $work/results "CASE metric value" lines: rps, p50, p99 (ms),
# errors (non-2xx/3xx answers and socket errors), requests, and per group
# cpu:G (µs per request), ctx:G (per request), procs:G, exited:G, uncounted:G.
measure_groups() {
  local _case=$1 _url=$2 _fn=$3 _out _n _g _c _x _p _e _u
  snapshot "$_fn" >"$work/snap.before"
  _out=$(wrk -t2 -c"$conns" -d"${secs}s" --latency "$_url")
  snapshot "$_fn" >"$work/snap.after"
  _n=$(awk '/requests in/ {print $1}' <<<"$_out")
  awk -v c="$_case" '
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    /Requests\/sec/ {rps = $2}
    / 50%/ {p50 = ms($2)}
    / 99%/ {p99 = ms($2)}
    /requests in/ {n = $1}
    /Non-2xx or 3xx/ {err += $NF}
    /Socket errors/ {gsub(/,/, ""); err += $4 + $6 + $8 + $10}
    END {printf "%s rps %s\n%s p50 %.2f\n%s p99 %.2f\n%s errors %d\n%s requests %d\n", c, rps, c, p50, c, p99, c, err, c, n}' \
    <<<"$_out" >>"$work/results"
  while read -r _g _c _x _p _e _u; do
    printf '%s cpu:%s %s\n%s ctx:%s %s\n%s procs:%s %s\n%s exited:%s %s\n%s uncounted:%s %s\n' \
      "$_case" "$_g" "$_c" "$_case" "$_g" "$_x" "$_case" "$_g" "$_p" "$_case" "$_g" "$_e" "$_case" "$_g" "$_u"
  done < <(group_deltas "$work/snap.before" "$work/snap.after" "$_n") >>"$work/results"
}

# med CASE METRIC: the median of the metric over the rounds of the case.
med() { median $(awk -v c="$1" -v m="$2" '$1 == c && $2 == m {print $3}' "$work/results"); }

# med_sum CASE GROUP...: the median over the rounds of the groups' CPU µs per request added up.
med_sum() {
  local c=$1
  shift
  median $(awk -v c="$c" -v gs="$*" '
    BEGIN { n = split(gs, g, " "); for (i = 1; i <= n; i++) want["cpu:" g[i]] = 1 }
    $1 == c && ($2 in want) { k[$2]++; s[k[$2]] += $3 }
    END { for (r = 1; r in s; r++) print s[r] }' "$work/results")
}

# total CASE METRIC: the sum over the rounds.
total() { awk -v c="$1" -v m="$2" '$1 == c && $2 == m {s += $3} END {print s + 0}' "$work/results"; }

# report CASE LABEL: req/s, p50 and p99 (medians over the rounds), then per group
# its CPU µs and context switches per request (medians) and its processes.
report() {
  local case=$1 label=$2 g e u note
  printf '%-26s req/s %10s   p50 %7s ms   p99 %7s ms' "$label" "$(med "$case" rps)" "$(med "$case" p50)" "$(med "$case" p99)"
  e=$(total "$case" errors)
  [[ $e == 0 ]] && echo || echo "   ERRORS $e"
  for g in $(awk -v c="$case" '$1 == c && $2 ~ /^cpu:/ {sub(/^cpu:/, "", $2); if (!($2 in s)) {s[$2] = 1; print $2}}' "$work/results"); do
    note=""
    e=$(total "$case" "exited:$g")
    u=$(total "$case" "uncounted:$g")
    if [[ $e != 0 ]]; then note="  ($e exited during the runs: their ctx switches not counted"; fi
    if [[ $u != 0 ]]; then note="$note; the CPU of $u not counted: no sampled parent reaped them"; fi
    if [[ -n $note ]]; then note="$note)"; fi
    printf '    %-18s CPU %8s us/req   ctx %6s /req   procs %s%s\n' "$g" "$(med "$case" "cpu:$g")" \
      "$(med "$case" "ctx:$g")" "$(med "$case" "procs:$g")" "$note"
  done
}

# ---- Group functions for measure_groups, shared by the scripts ----
# nginx_members: nginx's master ($ng_pid) and its workers, as "nginx".
nginx_members() {
  local p
  for p in "$ng_pid" $(descendants "$ng_pid"); do echo "nginx m $p"; done
}

# cgihost_members CHILDREN [PID]: cgihost's network process (PID, default
# $cg_pid) as "cgihost-net", its spawner as "cgihost-spawner", and what the
# spawner starts (CGI children, pool instances) as CHILDREN, counted once
# reaped through the spawner's cutime+cstime. A pool with `children = N`
# reaps its own children: each instance is also a reaper of CHILDREN.
cgihost_members() {
  local sp p
  sp=$(spawner_of "${2:-$cg_pid}")
  echo "cgihost-net m ${2:-$cg_pid}"
  for p in $sp; do echo "cgihost-spawner m $p"; echo "$1 r $p"; done
  for p in $(descendants $sp); do echo "$1 m $p"; echo "$1 r $p"; done
}

# fcgiwrap_members: fcgiwrap's master ($fw_pid) and workers as "fcgiwrap",
# their CGI children as "cgi-children" when a parent waits for them. Its
# workers ignore SIGCHLD: their children are reaped by the kernel and their
# CPU reaches no parent's cutime, so then there is no cgi-children group.
fcgiwrap_members() {
  local p
  for p in "$fw_pid" $(descendants "$fw_pid"); do
    if [[ $p == "$fw_pid" ]]; then
      echo "fcgiwrap m $p"
      echo "fcgiwrap r $p"  # fcgiwrap's master reaps its workers
    elif [[ $(ps -o comm= -p "$p") == fcgiwrap ]]; then
      echo "fcgiwrap m $p"
      ignores_sigchld "$p" || echo "cgi-children r $p"
    elif ! ignores_sigchld "$(ps -o ppid= -p "$p" | tr -d " ")"; then
      echo "cgi-children m $p"
    fi
  done
}

# fpm_members: php-fpm's master ($fpm_pid) and children, as "php-fpm".
fpm_members() {
  local p
  echo "php-fpm m $fpm_pid"
  echo "php-fpm r $fpm_pid"
  for p in $(descendants "$fpm_pid"); do echo "php-fpm m $p"; done
}
