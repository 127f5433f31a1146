#!/usr/bin/env bash
# Issue 11: a controller pass of `keyward serve` over the 10k-credential bench manifest with nothing due, and /metrics,
# on the embedded SQLite store and on PostgreSQL (a throwaway cluster as in 35-store-pg.sh: fsync on, 127.0.0.1 TCP).
set -euo pipefail
n="${KW_SERVE_N:-10000}"
work="$KW_BENCH/serve"
rm -rf "$work"; mkdir -p "$work"
/usr/bin/python3 "$KW_ROOT/bench/gen/manifest.py" "$n" "$work/m"
pg_dir="$(mktemp -d /tmp/keyward-bench-pg.XXXXXX)"
trap '"$KW_ROOT/tests/postgres-cluster.sh" stop "$pg_dir"' EXIT
admin="$(KW_PG_FSYNC=on "$KW_ROOT/tests/postgres-cluster.sh" start "$pg_dir")"
port="$(sed -n 's/.*Port=\([0-9]*\).*/\1/p' <<<"$admin")"
psql -h 127.0.0.1 -p "$port" -U keyward_test -d postgres -qAt -v ON_ERROR_STOP=1 -c "CREATE DATABASE kw_serve;" </dev/null >/dev/null
echo "### keyward serve: controller pass and /metrics ($n credentials, issue 11)"
echo
echo "Command: \`\$KW_BENCH_BIN serve keyward.yaml WORKDIR [--store CONN]\` (bench/Keyward.Bench/ServeBench.cs) over \`bench/gen/manifest.py $n\`"
echo "(the apply benchmark's manifest: $n credentials, $n sinks), in process, on the embedded SQLite store and on PostgreSQL"
echo "$(ls /usr/lib/postgresql | sort -V | tail -1) (a local cluster with fsync on, over 127.0.0.1 TCP). The first pass creates"
echo "everything; then five passes with nothing due (medians): under the state lock the rotation check, apply's plan (every"
echo "sink inspected) and an empty execute; then every check (conditions saved). The JIT runs with tiering off
(DOTNET_TieredCompilation=0), so the measured passes run optimised code as the native server does. /metrics: median of 21 scrapes over loopback"
echo "HTTP. Goals: a nothing-due pass ≤ 1 s, a scrape ≤ 50 ms. Load average before the run: $(cut -d' ' -f1-3 /proc/loadavg)."
echo
# The server ships as the NativeAOT binary: every method optimised before the first pass. Under the JIT's default tiering
# the first nothing-due passes would run partly in unoptimised code and pay for its recompilation in whichever phase
# happens to run (~12 % of a pass's samples in one perf run); with tiering off the JIT compiles once, optimised, as the
# CLI's own JIT build does (src/Keyward.Cli/Keyward.Cli.csproj), and that cost stays in the first pass.
export DOTNET_TieredCompilation=0
"$KW_BENCH_BIN" serve "$work/m/keyward.yaml" "$work/sqlite"
"$KW_BENCH_BIN" serve "$work/m/keyward.yaml" "$work/pg" --store "${admin/Database=postgres/Database=kw_serve}" | tail -n 1
echo
echo "Load average after the run: $(cut -d' ' -f1-3 /proc/loadavg)."
