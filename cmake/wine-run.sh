#!/bin/sh
# Runs a Windows program under Wine: the cross-compiling emulator of the
# `windows` preset (ctest puts it before every test command).
# The prefix is made once (about 15 s) and kept in TMPDIR; the wineserver and
# Wine's services are started detached from the caller's pipes (otherwise
# ctest waits for them to exit after the first test) and persist
# WINE_PERSIST seconds after the last program.
: "${WINEPREFIX:=${TMPDIR:-/tmp}/cgihost-wineprefix-$(id -u)}"
export WINEPREFIX
export WINEDEBUG="${WINEDEBUG:--all}"
export WINEDLLOVERRIDES="${WINEDLLOVERRIDES:-mscoree,mshtml=}" # never offer Mono or Gecko
WINE="${WINE:-$(command -v wine64 || command -v wine || echo /usr/lib/wine/wine64)}"
WINESERVER="${WINESERVER:-$(command -v wineserver || echo /usr/lib/wine/wineserver)}"
(
  flock 9
  if [ ! -f "$WINEPREFIX/system.reg" ]; then
    "$WINE" wineboot -i </dev/null >/dev/null 2>&1 9>&-
    "$WINESERVER" -w </dev/null >/dev/null 2>&1 9>&-
  fi
  # 9>&-: the daemons must not inherit the lock (they would hold it forever).
  # Exit status 2: a server is running already.
  if "$WINESERVER" -p"${WINE_PERSIST:-60}" </dev/null >/dev/null 2>&1 9>&-; then
    "$WINE" cmd.exe /c exit 0 </dev/null >/dev/null 2>&1 9>&-
  fi
) 9>"${WINEPREFIX%/}.lock"
exec "$WINE" "$@"
