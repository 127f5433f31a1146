#!/usr/bin/env bash
# Issue 11: a controller pass of `keyward serve` over the 10k-credential bench manifest with nothing due, and /metrics.
set -euo pipefail
n="${KW_SERVE_N:-10000}"
work="$KW_BENCH/serve"
rm -rf "$work"; mkdir -p "$work"
/usr/bin/python3 "$KW_ROOT/bench/gen/manifest.py" "$n" "$work/m"
echo "### keyward serve: controller pass and /metrics ($n credentials, issue 11)"
echo
echo "Command: \`\$KW_BENCH_BIN serve keyward.yaml WORKDIR\` (bench/Keyward.Bench/ServeBench.cs) over \`bench/gen/manifest.py $n\`"
echo "(the apply benchmark's manifest: $n credentials, $n sinks), in process on the embedded store. The first pass creates"
echo "everything; then five passes with nothing due (medians): under the state lock the rotation check, apply's plan (every"
echo "sink inspected) and an empty execute; then every check (conditions saved). /metrics: median of 21 scrapes over loopback"
echo "HTTP. Goals: a nothing-due pass ≤ 1 s, a scrape ≤ 50 ms."
echo
"$KW_BENCH_BIN" serve "$work/m/keyward.yaml" "$work/run"
