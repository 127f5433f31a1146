#!/usr/bin/env bash
# Sinks: Keyward's atomic writer vs the shell way (agenix-style `install -m 0600` per file; `cmp -s` to detect change).
set -euo pipefail
n=${KW_SINKS_N:-2000}   # fsync-bound: 10,000 takes minutes on a shared disk
dir="$KW_BENCH/sinks"
rm -rf "$dir"; mkdir -p "$dir"
echo "### Sinks: rendering and writing $n files"
echo
echo "Keyward: \`$KW_BENCH_BIN sinks $n $dir/kw\` (in process: render, first atomic write with fsync, no-op pass, dry run)."
echo "Shell: \`install -m 0600 SRC DST\` per file (no fsync, no temp file), then \`cmp -s\` per file (no write)."
echo
echo "| step | files | total ms | µs per file |"
echo "|---|---:|---:|---:|"
"$KW_BENCH_BIN" sinks "$n" "$dir/kw"
src="$dir/src.env"; head -c 64 /dev/urandom | base64 -w0 | sed 's/^/ATTIC_SERVER_TOKEN_HS256_SECRET_BASE64=/' > "$src"
ms() { date +%s%N; }
t0=$(ms)
for ((i = 0; i < n; i++)); do d="$dir/sh/d$((i / 100))"; [[ -d $d ]] || install -d -m 0700 "$d"; install -m 0600 "$src" "$d/f$((i % 100)).env"; done
t1=$(ms)
for ((i = 0; i < n; i++)); do cmp -s "$src" "$dir/sh/d$((i / 100))/f$((i % 100)).env"; done
t2=$(ms)
awk -v n="$n" -v a="$(( (t1 - t0) / 1000000 ))" -v b="$(( (t2 - t1) / 1000000 ))" 'BEGIN {
  printf "| shell: install -m 0600 per file | %d | %d | %.1f |\n", n, a, a * 1000 / n;
  printf "| shell: cmp -s per file | %d | %d | %.1f |\n", n, b, b * 1000 / n }'
rm -rf "$dir"
