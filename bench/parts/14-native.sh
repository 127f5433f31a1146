#!/usr/bin/env bash
# Issue 14: the native binary ./keyward builds, side by side with age in one run — start-up, 64 MiB encrypt/decrypt,
# the no-op apply of N credentials and sinks (wall time and a write count from strace), the binary's size, and the
# first build of ./keyward on a fresh clone (KW_FIRST_BUILD=0 skips it: it takes minutes).
# Env from bench/run.sh: KW_CLI (artifacts/cli/keyward), KW_BENCH, KW_ROOT.
set -euo pipefail
RUNS="${RUNS:-11}"
n="${KW_APPLY_N:-10000}"
dir="$KW_BENCH/native"
rm -rf "$dir" && mkdir -p "$dir"
command -v age >/dev/null || { echo "_(native part skipped: the age CLI is not installed)_"; exit 0; }
bindir="$(dirname "$KW_CLI")"
if [[ -f "$bindir/keyward.dll" ]]; then build="ReadyToRun (no C toolchain here: not the native binary)"; else build="NativeAOT"; fi

# pair_ms A B: RUNS runs of each of the two command lines (eval'd, so they may redirect), alternating A and B so that a
# change of load hits both alike, after one warm-up each; prints "MEDIAN_A MEDIAN_B" (wall ms, from $EPOCHREALTIME:
# no process is started to read the clock).
pair_ms() {
  local a=() b=() t0
  eval "$1" >/dev/null 2>&1; eval "$2" >/dev/null 2>&1
  for _ in $(seq "$RUNS"); do
    t0=$EPOCHREALTIME; eval "$1" >/dev/null 2>&1; a+=("$(awk -v s="$t0" -v e="$EPOCHREALTIME" 'BEGIN {printf "%.1f", (e - s) * 1000}')")
    t0=$EPOCHREALTIME; eval "$2" >/dev/null 2>&1; b+=("$(awk -v s="$t0" -v e="$EPOCHREALTIME" 'BEGIN {printf "%.1f", (e - s) * 1000}')")
  done
  echo "$(printf '%s\n' "${a[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p") $(printf '%s\n' "${b[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }

# 1. start-up and age, interleaved part by part
head -c $((64 * 1024 * 1024)) /dev/urandom > "$dir/plain"
age-keygen -o "$dir/id.txt" 2>/dev/null
rcpt="$(age-keygen -y "$dir/id.txt")"
age -e -r "$rcpt" -o "$dir/ref.age" "$dir/plain"
read -r age_ver kw_ver < <(pair_ms 'age --version' '"$KW_CLI" --version')
read -r age_enc kw_enc < <(pair_ms 'age -e -r "$rcpt" -o "$dir/a.age" "$dir/plain"' '"$KW_CLI" encrypt -r "$rcpt" -o "$dir/k.age" "$dir/plain"')
read -r age_dec kw_dec < <(pair_ms 'age -d -i "$dir/id.txt" -o "$dir/a.out" "$dir/ref.age"' '"$KW_CLI" decrypt -i "$dir/id.txt" -o "$dir/k.out" "$dir/ref.age"')
cmp -s "$dir/plain" "$dir/k.out" || { echo "_(native part: keyward decrypt produced different output)_"; exit 1; }
# The same through stdout into a file: neither program fsyncs then (keyward's -o is durable: fsync before the rename).
read -r age_enc1 kw_enc1 < <(pair_ms 'age -e -r "$rcpt" "$dir/plain" > "$dir/a1.age"' '"$KW_CLI" encrypt -r "$rcpt" "$dir/plain" > "$dir/k1.age"')
read -r age_dec1 kw_dec1 < <(pair_ms 'age -d -i "$dir/id.txt" "$dir/ref.age" > "$dir/a1.out"' '"$KW_CLI" decrypt -i "$dir/id.txt" "$dir/ref.age" > "$dir/k1.out"')
cmp -s "$dir/plain" "$dir/k1.out" || { echo "_(native part: keyward decrypt to stdout produced different output)_"; exit 1; }
cmp -s "$dir/plain" "$dir/k.out" || { echo "_(native part: keyward decrypt produced different output)_"; exit 1; }
rm -f "$dir/plain" "$dir"/*.age "$dir"/*.out

# 2. the no-op apply: wall time, and what it writes (strace: opens for writing, renames, unlinks under the root)
/usr/bin/python3 "$KW_ROOT/bench/gen/manifest.py" "$n" "$dir/m" >/dev/null
m="$dir/m/keyward.yaml"
"$KW_CLI" apply -f "$m" --root "$dir/root" --state "$dir/state" --json > /dev/null 2>&1
snapshot() { find "$dir/root" -printf '%p %i %T@ %s\n' | sort; }
snapshot > "$dir/before"
noop=()
for _ in 1 2 3 4 5; do
  /usr/bin/time -f "%e %M" -o "$dir/t" "$KW_CLI" apply -f "$m" --root "$dir/root" --state "$dir/state" --json > "$dir/out.json" 2>/dev/null
  read -r t kb < "$dir/t"; noop+=("$t")
  w=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["applied"]["filesWritten"])' "$dir/out.json")
  [[ "$w" == 0 ]] || echo "no-op apply wrote $w files" >&2
done
noop_med=$(printf '%s\n' "${noop[@]}" | sort -n | sed -n 3p)
snapshot > "$dir/after"
changed=$(diff "$dir/before" "$dir/after" | grep -c '^>' || true)
writes="not measured (strace missing)"
if command -v strace >/dev/null; then
  strace -f -qq -o "$dir/strace" -e trace=openat,rename,renameat,renameat2,unlink,unlinkat,mkdir,mkdirat,fchmod,fchown,chmod,chown \
    "$KW_CLI" apply -f "$m" --root "$dir/root" --state "$dir/state" --json > /dev/null 2>&1
  root_writes=$(grep -F "$dir/root" "$dir/strace" | grep -cE 'O_WRONLY|O_RDWR|O_CREAT|rename|unlink|mkdir|chmod|chown' || true)
  state_writes=$(grep -F "$dir/state" "$dir/strace" | grep -cE 'O_WRONLY|O_RDWR|O_CREAT|rename|unlink|mkdir' || true)
  writes="$root_writes under the root; $state_writes opens for writing/renames in the state directory (SQLite, the lock)"
fi

# 3. size
size_bin=$(stat -c %s "$KW_CLI")
size_dir=$(find "$bindir" -maxdepth 1 -type f ! -name '*.dbg' ! -name '*.pdb' ! -name '.built' -printf '%s\n' | awk '{s+=$1} END {print s}')
files=$(find "$bindir" -maxdepth 1 -type f ! -name '*.dbg' ! -name '*.pdb' ! -name '.built' -printf '%f ' )

# 4. first build on a fresh clone (the NuGet cache of this machine is warm: packages are not downloaded)
first="skipped (KW_FIRST_BUILD=0)"
if [[ "${KW_FIRST_BUILD:-1}" != 0 ]]; then
  git clone -q "$KW_ROOT" "$dir/clone"
  # the working tree as it is (uncommitted changes included), so the measurement is of this code
  (cd "$KW_ROOT" && git ls-files -m -o --exclude-standard -z src keyward Directory.Build.props Directory.Packages.props | xargs -0 -r cp --parents -t "$dir/clone")
  t0=$(date +%s)
  "$dir/clone/keyward" --version > /dev/null 2> "$dir/first-build.log"
  first="$(( $(date +%s) - t0 )) s ($(uptime | sed 's/.*load average: \([^,]*\).*/load average \1/') at the end)"
  rm -rf "$dir/clone"
fi

cat <<MD
### Native binary vs age, no-op apply, size, first build (issue 14)

\`bench/parts/14-native.sh\`, one run. Build measured: **$build** (\`${KW_CLI#"$KW_ROOT"/}\`, as \`./keyward\` builds it). $(age --version 2>/dev/null | head -1 | sed 's/^/age /').
Median of $RUNS runs after a warm-up, age and keyward alternating, wall time; the no-op apply median of 5.

\`\`\`
age --version                      vs  keyward --version
age -e -r \$R -o a.age plain        vs  keyward encrypt -r \$R -o k.age plain        (64 MiB)
age -d -i id.txt -o a.out ref.age  vs  keyward decrypt -i id.txt -o k.out ref.age
age -e -r \$R plain > a1.age         vs  keyward encrypt -r \$R plain > k1.age          (stdout: no fsync by either)
age -d -i id.txt ref.age > a1.out   vs  keyward decrypt -i id.txt ref.age > k1.out
keyward apply -f keyward.yaml --root ROOT --state STATE --json   (bench/gen/manifest.py $n DIR, applied once before)
\`\`\`

| measurement | age | keyward | ratio | goal |
|---|---:|---:|---:|---|
| start-up (\`--version\`) | $age_ver ms | $kw_ver ms | $(ratio "$kw_ver" "$age_ver")× age's time | ≤ 1.5× |
| encrypt 64 MiB | $age_enc ms | $kw_enc ms | $(ratio "$age_enc" "$kw_enc")× speed-up | ≥ 1.0× |
| decrypt 64 MiB | $age_dec ms | $kw_dec ms | $(ratio "$age_dec" "$kw_dec")× speed-up | ≥ 1.0× |
| encrypt 64 MiB to stdout | $age_enc1 ms | $kw_enc1 ms | $(ratio "$age_enc1" "$kw_enc1")× speed-up | |
| decrypt 64 MiB to stdout | $age_dec1 ms | $kw_dec1 ms | $(ratio "$age_dec1" "$kw_dec1")× speed-up | |
| no-op apply, $n credentials + sinks | | $noop_med s (runs: ${noop[*]}) | | ≤ 0.5 s |

- No-op apply writes: $changed files under the root changed inode, mtime or size across the five runs (\`find -printf '%i %T@ %s'\`
  before and after); one more run under \`strace -f -e trace=openat,rename*,unlink*,mkdir*,chmod,chown\`: $writes.
- With \`-o\`, keyward writes a temporary file, fsyncs it, renames it over the output and fsyncs the directory (no
  half-written or lost output after a crash or power cut); age writes the output in place and does not fsync. The
  stdout rows compare the two without that difference.
- Size: \`keyward\` $((size_bin / 1024 / 1024)) MiB ($size_bin bytes); with the native libraries beside it ($files) $((size_dir / 1024 / 1024)) MiB.
- First build of \`./keyward\` on a fresh clone (\`git clone\`, then \`./keyward --version\`, NuGet cache warm): $first.
MD
rm -rf "$dir"
