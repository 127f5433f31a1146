#!/usr/bin/env bash
# age: Keyward's CLI vs the age CLI, 64 MiB encrypt and decrypt, and start-up (--version).
# Env from bench/run.sh: KW_CLI (Release keyward), KW_BENCH (scratch dir). Median of RUNS runs, wall time.
set -euo pipefail
RUNS="${RUNS:-7}"
dir="$KW_BENCH/age"
rm -rf "$dir" && mkdir -p "$dir"
command -v age >/dev/null || { echo "_(age part skipped: the age CLI is not installed)_"; exit 0; }
head -c $((64 * 1024 * 1024)) /dev/urandom > "$dir/plain"
age-keygen -o "$dir/id.txt" 2>/dev/null
rcpt="$(age-keygen -y "$dir/id.txt")"
age -e -r "$rcpt" -o "$dir/ref.age" "$dir/plain"

# median_ms CMD...: runs CMD RUNS times (after one warm-up), prints the median wall time in ms.
median_ms() {
  "$@" >/dev/null 2>&1
  local samples=()
  for _ in $(seq "$RUNS"); do
    local t0 t1
    t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N)
    samples+=($(( (t1 - t0) / 1000 )))
  done
  printf '%s\n' "${samples[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

age_enc=$(median_ms age -e -r "$rcpt" -o "$dir/a.age" "$dir/plain")
kw_enc=$(median_ms "$KW_CLI" encrypt -r "$rcpt" -o "$dir/k.age" "$dir/plain")
age_dec=$(median_ms age -d -i "$dir/id.txt" -o "$dir/a.out" "$dir/ref.age")
kw_dec=$(median_ms "$KW_CLI" decrypt -i "$dir/id.txt" -o "$dir/k.out" "$dir/ref.age")
age_ver=$(median_ms age --version)
kw_ver=$(median_ms "$KW_CLI" --version)
cmp -s "$dir/plain" "$dir/k.out" || { echo "_(age part: keyward decrypt produced different output)_"; exit 1; }

# A framework-dependent build has keyward.dll beside the apphost; a NativeAOT build is one file.
if [[ -f "$(dirname "$KW_CLI")/keyward.dll" ]]; then build="ReadyToRun, framework-dependent (as ./keyward builds it)"; else build="NativeAOT"; fi

echo "### age: 64 MiB encrypt/decrypt and start-up (Keyward CLI vs age CLI)"
echo
echo "Keyward build measured: $build. $(age --version 2>/dev/null | head -1 | sed 's/^/age /')."
echo
echo "Median of $RUNS runs (after one warm-up), wall time. Speed-up = age time / Keyward time (goal ≥ 1.0 for"
echo "encrypt/decrypt); start-up ratio = Keyward time / age time (goal ≤ 1.5)."
echo
echo '```'
echo "age -e -r \$R -o a.age plain          vs  keyward encrypt -r \$R -o k.age plain"
echo "age -d -i id.txt -o a.out ref.age      vs  keyward decrypt -i id.txt -o k.out ref.age"
echo "age --version                          vs  keyward --version"
echo '```'
echo
echo "| operation | age (ms) | keyward (ms) | ratio |"
echo "|---|---:|---:|---:|"
echo "| encrypt 64 MiB | $age_enc | $kw_enc | $(ratio "$age_enc" "$kw_enc")× speed-up |"
echo "| decrypt 64 MiB | $age_dec | $kw_dec | $(ratio "$age_dec" "$kw_dec")× speed-up |"
echo "| start-up (--version) | $age_ver | $kw_ver | $(ratio "$kw_ver" "$age_ver")× slower |"
rm -rf "$dir"
