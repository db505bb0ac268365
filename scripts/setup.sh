#!/usr/bin/env bash
# Installs exactly the Debian packages cgihost needs that are missing, and
# creates the system account cgihost when it does not exist.
# Idempotent: when everything is present it changes nothing and runs no apt.
# Usage: scripts/setup.sh            (build and test dependencies)
#        scripts/setup.sh --bench    (also the peers, load and profiling tools of tests/bench)
# The services the packages bring (mariadb, nginx) are not started here: the
# tests start their own, in their temp folders.
set -euo pipefail

packages=(
  g++ cmake make pkg-config ccache
  libboost1.81-dev
  libtomlplusplus-dev
  libspdlog-dev libfmt-dev
  libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  libcrypt-dev
  libpcre2-dev
  clang libclang-rt-14-dev clang-format
  curl
  perl php8.2-cgi libfcgi-perl
  # The real applications of tests/apps (issue 13), each also behind nginx.
  # Listed before the applications so that their alternatives (wordpress:
  # apache2 | httpd, a mysql client, php-mysql) are met by these, not apache2.
  python3 nginx-light git mariadb-server php8.2-mysql libcgi-pm-perl
  dokuwiki wordpress gitweb cgit
  # Apache's httpd and its loadable modules (mod_proxy_fcgi) for the Apache
  # sample's test (issue 16); apache2-bin alone starts no service.
  apache2-bin
  # The Windows build (issue 15): cross-built with mingw-w64's posix thread
  # model (std::thread and std::mutex), its tests run under Wine.
  g++-mingw-w64-x86-64-posix wine64
  # The Debian package (issue 17): dpkg-shlibdeps (dpkg-dev) computes its
  # Depends, CPack finds the binaries to look at with file, lintian checks
  # the .deb, and the package test parses the logrotate snippet with logrotate.
  dpkg-dev file lintian logrotate
  # systemd-socket-activate (socket activation tests) and systemd-analyze
  # (the package test's unit checks); nothing of it needs to run.
  systemd
)

for arg in "$@"; do
  case "$arg" in
    --bench) packages+=(wrk php8.2-fpm fcgiwrap strace linux-perf) ;;
    *) echo "setup: unknown option $arg (use --bench)" >&2; exit 2 ;;
  esac
done

# The account cgihost's network process runs as (privilege separation: no
# child ever runs as it). Created once, as the package does; without it,
# cgihost picks a uid that no account has.
if ! getent passwd cgihost >/dev/null; then
  sudo_account=""
  if [[ $(id -u) -ne 0 ]]; then sudo_account="sudo"; fi
  echo "setup: creating the system account cgihost" >&2
  $sudo_account useradd --system --user-group --no-create-home --home-dir /nonexistent \
    --shell /usr/sbin/nologin --comment "cgihost network process" cgihost
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "setup: installing ${missing[*]}" >&2
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi

# libboost1.81-dev conflicts with the default 1.74 -dev packages.
conflicting=$(dpkg-query -W -f='${Package} ${Status}\n' 'libboost*1.74-dev' 'libboost-dev' 2>/dev/null \
  | awk '/install ok installed/ {print $1}' || true)
if [[ -n "$conflicting" && " ${missing[*]} " == *" libboost1.81-dev "* ]]; then
  echo "setup: removing conflicting $conflicting" >&2
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get remove -y $conflicting >&2
fi

# Refresh the package lists once, only when an install is needed and the
# lists are missing or older than a day.
lists=/var/lib/apt/lists
if [[ -z $(find "$lists" -maxdepth 1 -name '*_Packages' -mmin -1440 2>/dev/null | head -n1) ]]; then
  $sudo apt-get update >&2
fi
install() { DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends "${missing[@]}" >&2; }
if ! install; then
  # The lists may be recent yet lack a package: refresh them once and retry.
  $sudo apt-get update >&2
  install
fi
