#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the store tests (Debian's postgresql package; docs/store.md, "PostgreSQL").
#   tests/postgres-cluster.sh start DIR   initdb into DIR/data as the postgres user, start it on a free 127.0.0.1 port
#                                         (and a unix socket in DIR), trust auth for the role keyward_test (CREATEDB),
#                                         and print the connection string for KEYWARD_TEST_POSTGRES on stdout
#   tests/postgres-cluster.sh crash DIR   stop it at once (pg_ctl -m immediate: no shutdown checkpoint, as a crash)
#   tests/postgres-cluster.sh resume DIR  start it again with the same port and options (recovery runs)
#   tests/postgres-cluster.sh stop DIR    stop it and delete DIR
# KW_PG_FSYNC=on keeps fsync (the benchmark); tests run with fsync off (a throwaway cluster needs no durability).
# initdb refuses to run as root, so every server command runs as `postgres` (runuser); nothing reads stdin.
set -euo pipefail
cmd="${1:?start|crash|resume|stop}"; dir="${2:?directory}"
bin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
[[ -x "$bin/initdb" ]] || { echo "postgres-cluster: no /usr/lib/postgresql/*/bin/initdb (apt-get install postgresql)" >&2; exit 1; }
as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@" </dev/null
  else "$@" </dev/null; fi
}
case "$cmd" in
  start)
    mkdir -p "$dir"
    [[ $(id -u) -eq 0 ]] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    port="$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_postgres "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=${KW_PG_FSYNC:-off} -c max_connections=200" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    as_postgres "$bin/psql" -h "$dir" -p "$port" -U postgres -d postgres -qAt -v ON_ERROR_STOP=1 \
      -c "CREATE ROLE keyward_test LOGIN CREATEDB;" >/dev/null
    echo "Host=127.0.0.1;Port=$port;Username=keyward_test;Database=postgres"
    ;;
  crash)
    as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null
    ;;
  resume)
    # postmaster.opts keeps the options of the last start; pg_ctl start -o "$(…)" would need them parsed, so read the
    # port and socket directory back from it.
    opts="$(sed -n 's/^[^ ]* //p' "$dir/data/postmaster.opts" | tr -d '"' | sed 's/-D [^ ]* //')"
    as_postgres "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "$opts" start >/dev/null \
      || { cat "$dir/server.log" >&2; exit 1; }
    ;;
  stop)
    if [[ -d "$dir/data" ]]; then as_postgres "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true; fi
    rm -rf "$dir"
    ;;
  *) echo "usage: $0 start|crash|resume|stop DIR" >&2; exit 2 ;;
esac
