#!/usr/bin/env bash
# A throwaway Postgres cluster for the tests (Debian's postgresql, .ci/install-deps.sh),
# listening on a Unix socket only, in a temporary directory.
#   postgres.sh start DIR          start a cluster in DIR (made empty first)
#   postgres.sh stop DIR           stop it and delete DIR
#   postgres.sh run CMD [ARGS...]  start one, run CMD with DATALITH_PG set to its
#                                  conninfo, stop it, exit with CMD's status
# Postgres refuses to run as root: as root, the cluster belongs to the `postgres` user.
set -euo pipefail

BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n "$BIN" ]] || { echo "postgres.sh: no /usr/lib/postgresql/*/bin (apt-get install postgresql)" >&2; exit 2; }
as_owner() { if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi; }

start() {
  local dir=$1
  rm -rf "$dir"
  mkdir -p "$dir"
  [[ $(id -u) == 0 ]] && chown postgres "$dir"
  as_owner "$BIN/initdb" -D "$dir/data" -A trust -U postgres >"$dir/initdb.log" 2>&1 ||
    { cat "$dir/initdb.log" >&2; exit 1; }
  as_owner "$BIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
    -o "-k $dir -c listen_addresses='' -c max_connections=200" start >/dev/null ||
    { cat "$dir/log" >&2; exit 1; }
}

stop() {
  local dir=$1
  [[ -d "$dir/data" ]] && as_owner "$BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}

case "${1:-}" in
  start) start "$2" ;;
  stop) stop "$2" ;;
  run)
    shift
    dir=$(mktemp -d /tmp/datalith-pg-XXXXXX)
    trap 'stop "$dir"' EXIT
    start "$dir"
    export DATALITH_PG="host=$dir dbname=postgres user=postgres"
    status=0
    "$@" || status=$?
    exit $status
    ;;
  *) echo "usage: postgres.sh start DIR | stop DIR | run CMD [ARGS...]" >&2; exit 2 ;;
esac
