#!/usr/bin/env bash
# The Debian package (issue 17): builds it with cpack from the build folder,
# then checks what it holds (dpkg-deb -c), its Depends (dpkg-shlibdeps),
# its conffiles and lintian's verdict (no E: tag). As root it also installs
# it with dpkg, runs the installed cgihost (--version, check-config on the
# packaged config), verifies the unit and the logrotate snippet, and purges
# it again, checking that its files are gone. Not root: exit 77 (skipped)
# after the package checks.
#
# Usage: deb_test.sh BUILD_DIR VERSION
# The install part holds a machine-wide lock, so two runs (two build
# folders) never install at once, and always purges what it installed.
set -euo pipefail

build=${1:?usage: deb_test.sh BUILD_DIR VERSION}
version=${2:?usage: deb_test.sh BUILD_DIR VERSION}
arch=$(dpkg --print-architecture)
failures=0
fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}
pass() { echo "ok: $*"; }

work=$(mktemp -d "${TMPDIR:-/tmp}/cgihost-deb-test.XXXXXX")
installed=0
account_made=0
cleanup() {
  if [[ -n ${serve_pid:-} ]]; then
    kill -KILL "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  if ((installed)); then
    echo "cleanup: dpkg --purge cgihost"
    dpkg --purge cgihost >/dev/null 2>&1 || echo "cleanup: dpkg --purge cgihost failed" >&2
  fi
  if ((account_made)) && getent passwd cgihost >/dev/null; then
    userdel cgihost >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# ---- build it ----
start=$SECONDS
if ! cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work" >"$work/cpack.log" 2>&1; then
  cat "$work/cpack.log"
  echo "FAIL: cpack -G DEB"
  exit 1
fi
deb="$work/cgihost_${version}_${arch}.deb"
if [[ ! -f $deb ]]; then
  cat "$work/cpack.log"
  ls "$work"
  echo "FAIL: cpack made no $(basename "$deb")"
  exit 1
fi
pass "cpack built $(basename "$deb") in $((SECONDS - start)) s"

# ---- what it holds ----
expected=(
  /usr/sbin/cgihost
  /lib/systemd/system/cgihost.service
  /lib/systemd/system/cgihost.socket
  /etc/cgihost/cgihost.toml
  /etc/logrotate.d/cgihost
  /usr/share/man/man8/cgihost.8.gz
  /usr/share/man/man5/cgihost.toml.5.gz
  /usr/share/doc/cgihost/copyright
  /usr/share/doc/cgihost/changelog.gz
  /usr/share/cgihost/www/index.html
)
dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|' >"$work/contents"
for f in "${expected[@]}"; do
  if grep -qx -- "$f" "$work/contents"; then pass "contains $f"; else fail "no $f in the package"; fi
done

depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
libc6='(^|[ ,])libc6( |,|$)'
if [[ $depends =~ $libc6 ]]; then pass "Depends names libc6"; else fail "Depends lacks libc6"; fi
[[ $(dpkg-deb -f "$deb" Version) == "$version" ]] && pass "Version $version" ||
  fail "Version is $(dpkg-deb -f "$deb" Version), not $version"

dpkg-deb -e "$deb" "$work/control"
for f in /etc/cgihost/cgihost.toml /etc/logrotate.d/cgihost; do
  grep -qx -- "$f" "$work/control/conffiles" && pass "conffile $f" || fail "$f is no conffile"
done

# ---- lintian ----
if command -v lintian >/dev/null; then
  lintian --fail-on none --display-info "$deb" >"$work/lintian.log" 2>&1 || true
  if [[ -s $work/lintian.log ]]; then
    echo "lintian says:"
    sed 's/^/  /' "$work/lintian.log"
  fi
  if grep -q '^E: ' "$work/lintian.log"; then fail "lintian reports errors (E:)"; else pass "lintian: no E: tag"; fi
else
  echo "lintian is not installed: not run (scripts/setup.sh installs it)"
fi

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi

# ---- installed on this machine, then purged ----
if [[ $(id -u) -ne 0 ]]; then
  echo "SKIP: installing needs root (dpkg -i); the package checks above passed"
  exit 77
fi
# One run at a time on this machine, whatever the build folder.
exec 9>/run/lock/cgihost-deb-test.lock
flock 9
if dpkg-query -W -f='${Status}' cgihost 2>/dev/null | grep -q 'ok installed'; then
  echo "SKIP: a cgihost package is installed here already; not touching it"
  exit 77
fi
if [[ -e /usr/sbin/cgihost || -e /etc/cgihost ]]; then
  echo "SKIP: /usr/sbin/cgihost or /etc/cgihost exists and belongs to no package; not touching it"
  exit 77
fi

# dpkg refuses to run while another dpkg or apt holds its lock: try again
# for a minute.
dpkg_retry() {
  for _ in $(seq 60); do
    if "$@" >"$work/dpkg.log" 2>&1; then return 0; fi
    grep -q 'lock' "$work/dpkg.log" || break
    sleep 1
  done
  cat "$work/dpkg.log"
  return 1
}

# The installed cgihost serves under the unit's restrictions on its own
# privileges: no_new_privs and its capability bounding set (setpriv), with
# privilege separation as under systemd. It answers the packaged site's page
# and runs a CGI program as nobody, and stops with SIGTERM, exit 0.
serve_pid=""
serve_check() {
  local caps port
  caps=$(sed -n 's/^CapabilityBoundingSet=//p' /lib/systemd/system/cgihost.service |
    tr '[:upper:]' '[:lower:]' | sed 's/cap_/+/g; s/ /,/g')
  chmod 0755 "$work"
  printf '%s\n' '#!/usr/bin/perl' 'print "Content-Type: text/plain\r\n\r\nuid=$<";' >"$work/id.pl"
  chmod 0755 "$work/id.pl"
  printf '%s\n' 'listen = ["127.0.0.1:0"]' 'document_root = "/usr/share/cgihost/www"' \
    '[identity]' 'process = "www-data"' 'anonymous = "nobody"' \
    '[[locations]]' 'prefix = "/t/"' "script = \"$work/id.pl\"" \
    '[log]' "error_log = \"$work/error.log\"" "access_log = \"$work/access.log\"" \
    >"$work/serve.toml"
  setpriv --no-new-privs --bounding-set "-all,$caps" \
    /usr/sbin/cgihost serve -c "$work/serve.toml" &
  serve_pid=$!
  for _ in $(seq 100); do
    grep -q 'listening on' "$work/error.log" 2>/dev/null && break
    kill -0 "$serve_pid" 2>/dev/null || break
    sleep 0.1
  done
  port=$(sed -n 's|.*listening on http://127.0.0.1:\([0-9]*\)/.*|\1|p' "$work/error.log")
  if [[ -z $port ]]; then
    cat "$work/error.log"
    fail "cgihost serve under the unit's bounding set ($caps) did not listen"
    return
  fi
  if curl -sf "http://127.0.0.1:$port/" | grep -q 'cgihost is running'; then
    pass "serve: the packaged site's page"
  else
    fail "serve: no page at /"
  fi
  if [[ $(curl -sf "http://127.0.0.1:$port/t/x") == "uid=65534" ]]; then
    pass "serve: a CGI program ran as nobody (no_new_privs, bounding set $caps)"
  else
    cat "$work/error.log"
    fail "serve: the CGI program did not run as nobody"
  fi
  kill -TERM "$serve_pid"
  if wait "$serve_pid"; then pass "serve: SIGTERM, exit 0"; else fail "serve: exit $? after SIGTERM"; fi
  serve_pid=""
}

getent passwd cgihost >/dev/null || account_made=1
installed=1
if ! dpkg_retry dpkg -i "$deb"; then
  echo "FAIL: dpkg -i"
  exit 1
fi
pass "dpkg -i"
getent passwd cgihost >/dev/null && pass "the account cgihost exists" || fail "no account cgihost"
[[ -d /var/log/cgihost ]] && pass "/var/log/cgihost made" || fail "no /var/log/cgihost"

out=$(/usr/sbin/cgihost --version)
[[ $out == "cgihost $version" ]] && pass "cgihost --version: $out" ||
  fail "cgihost --version says \"$out\", not \"cgihost $version\""

if /usr/sbin/cgihost check-config -c /etc/cgihost/cgihost.toml >"$work/check.log" 2>&1; then
  pass "check-config on /etc/cgihost/cgihost.toml"
else
  cat "$work/check.log"
  fail "check-config -c /etc/cgihost/cgihost.toml"
fi

serve_check
if command -v systemd-analyze >/dev/null; then
  for unit in cgihost.service cgihost.socket; do
    if SYSTEMD_LOG_LEVEL=warning systemd-analyze verify "/lib/systemd/system/$unit" \
      >"$work/verify.log" 2>&1; then
      pass "systemd-analyze verify $unit"
    else
      cat "$work/verify.log"
      fail "systemd-analyze verify $unit"
    fi
  done
fi
if command -v logrotate >/dev/null; then
  # --debug: parse and show, rotate nothing.
  if logrotate --debug --state "$work/logrotate.state" /etc/logrotate.d/cgihost \
    >"$work/logrotate.log" 2>&1 && ! grep -q '^error' "$work/logrotate.log"; then
    pass "logrotate --debug /etc/logrotate.d/cgihost"
  else
    cat "$work/logrotate.log"
    fail "logrotate rejects /etc/logrotate.d/cgihost"
  fi
fi

if ! dpkg_retry dpkg --purge cgihost; then
  echo "FAIL: dpkg --purge cgihost"
  exit 1
fi
installed=0
pass "dpkg --purge cgihost"
for f in "${expected[@]}" /etc/cgihost /var/log/cgihost; do
  [[ -e $f ]] && fail "$f is left after the purge"
done
getent passwd cgihost >/dev/null && pass "the account cgihost is kept" || fail "the purge removed the account cgihost"

if ((failures)); then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all checks passed"
