#!/usr/bin/env bash
# Store contract operations on PostgreSQL vs the embedded SQLite store, side by side (issue 11): the same calls on a
# throwaway PostgreSQL 15 cluster (tests/postgres-cluster.sh, fsync on, over 127.0.0.1 TCP) and on a SQLite state.
set -euo pipefail
n=${KW_STORE_PG_N:-2000}
runs=${KW_STORE_PG_RUNS:-5}
pg_dir="$(mktemp -d /tmp/keyward-bench-pg.XXXXXX)"
trap '"$KW_ROOT/tests/postgres-cluster.sh" stop "$pg_dir"' EXIT
admin="$(KW_PG_FSYNC=on "$KW_ROOT/tests/postgres-cluster.sh" start "$pg_dir")"
echo "### Store: PostgreSQL vs SQLite ($n credentials)"
echo
echo "\`$KW_BENCH_BIN store-pg CONN $n $runs\` (in process, fresh store per run, median of $runs): the store contract through"
echo "\`ICredentialStore\` on each backend. SQLite: WAL, synchronous=FULL, one file. PostgreSQL $(ls /usr/lib/postgresql | sort -V | tail -1):"
echo "a local cluster with fsync on, over 127.0.0.1 TCP, one unpooled connection; every write transaction first takes the"
echo "store's transaction-level advisory lock. Each call is at least one round trip on PostgreSQL, none on SQLite."
echo
"$KW_BENCH_BIN" store-pg "$admin" "$n" "$runs"
