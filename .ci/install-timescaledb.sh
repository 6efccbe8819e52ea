#!/usr/bin/env bash
# Builds the Apache-only TimescaleDB (Debian trixie's source, which is the
# Apache part only) for the local PostgreSQL 15 and preloads it. Facts behind
# each step: ../shared/spec/databases.md. Idempotent: a second run only checks.
set -euo pipefail

PG_MAJOR=15
CLUSTER_CONF=/etc/postgresql/$PG_MAJOR/main
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi

log() { echo "[install-timescaledb] $*" >&2; }

# Quiet on success, everything on failure: runs "$@" with its output in a log
# file and prints the file's tail when the command fails.
quietly() {
  local what="$1"; shift
  local out
  out="$(mktemp /tmp/install-timescaledb.XXXXXX.log)"
  log "$what"
  if ! "$@" >"$out" 2>&1; then
    log "FAILED: $what ($*); last 60 lines of its output ($out):"
    tail -n 60 "$out" >&2
    return 1
  fi
  rm -f "$out"
}

restart_cluster() {
  $SUDO pg_ctlcluster --skip-systemctl-redirect $PG_MAJOR main restart
  for _ in $(seq 1 60); do
    if pg_isready -q -h 127.0.0.1 -p 5432; then return 0; fi
    sleep 1
  done
  log "PostgreSQL did not come back after the restart"; return 1
}

configure_server() {
  # The test suite runs many databases at once (one per test file and mode).
  local conf="$CLUSTER_CONF/conf.d/meshmon-ci.conf"
  local want
  want=$'shared_preload_libraries = \'timescaledb\'\nmax_connections = 300\ntimescaledb.telemetry_level = off\n'
  if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "${want%$'\n'}" ]; then
    printf '%s' "$want" | $SUDO tee "$conf" >/dev/null
    restart_cluster
  fi
}

installed() {
  [ -f "$($PG_CONFIG --sharedir)/extension/timescaledb.control" ]
}

if installed; then
  log "TimescaleDB already installed for PostgreSQL $PG_MAJOR"
  configure_server
  exit 0
fi

export DEBIAN_FRONTEND=noninteractive
server_version="$(dpkg-query -W -f='${Version}' postgresql-$PG_MAJOR)"
log "PostgreSQL server package $server_version"
$SUDO apt-get update -qq || log "apt-get update failed; trying with the lists already here"

# The dev headers must match the running server: unpinned, apt would upgrade
# the server itself. If that exact version has left the archive, upgrade the
# server with it and restart (the documented fallback).
if ! $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=180 --no-install-recommends \
    cmake gcc make libssl-dev dpkg-dev xz-utils \
    "postgresql-server-dev-$PG_MAJOR=$server_version"; then
  log "postgresql-server-dev-$PG_MAJOR=$server_version is not installable; upgrading the server with it"
  $SUDO apt-get install -y -qq -o DPkg::Lock::Timeout=180 --no-install-recommends \
    cmake gcc make libssl-dev dpkg-dev xz-utils \
    "postgresql-$PG_MAJOR" "postgresql-client-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
  restart_cluster
fi

work="$(mktemp -d /tmp/timescaledb-build.XXXXXX)"
apt_dir="$work/apt"
mkdir -p "$apt_dir/lists/partial" "$apt_dir/parts" "$work/src"
echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" > "$apt_dir/sources.list"
apt_opts=(
  -o "Dir::Etc::SourceList=$apt_dir/sources.list"
  -o "Dir::Etc::SourceParts=$apt_dir/parts"
  -o "Dir::State::Lists=$apt_dir/lists"
  -o "APT::Sandbox::User=root"
)
$SUDO apt-get "${apt_opts[@]}" update -qq
(cd "$work/src" && $SUDO apt-get "${apt_opts[@]}" source -qq --download-only timescaledb)
dsc="$(ls "$work"/src/timescaledb_*.dsc | head -n1)"
log "unpacking $(basename "$dsc")"
(cd "$work/src" && quietly "dpkg-source -x" dpkg-source --no-check -x "$dsc" tree)

mkdir -p "$work/src/tree/build"
cd "$work/src/tree/build"
quietly "configuring (cmake)" cmake .. -DPG_CONFIG="$PG_CONFIG" -DAPACHE_ONLY=ON -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF \
  -DWARNINGS_AS_ERRORS=OFF -DUSE_TELEMETRY=OFF -DCMAKE_BUILD_TYPE=Release
quietly "compiling (make -j$(nproc))" make -j"$(nproc)"
quietly "installing (make install)" $SUDO make install
cd /
rm -rf "$work"
installed || { log "build finished but timescaledb.control is missing"; exit 1; }
log "installed TimescaleDB (Apache-only) into $($PG_CONFIG --pkglibdir)"
configure_server
