#!/usr/bin/env bash
# Runs side-by-side benchmarks from bench/parts/ and writes their sections into docs/benchmarks.md.
# Usage: bench/run.sh [part-name...]   (no names: every part, in one run, so ratios compare like with like)
#
# Each part owns one block of docs/benchmarks.md, from `<!-- bench:part NAME -->` to `<!-- bench:end NAME -->`. A run
# replaces the blocks of the parts it ran and keeps everything else as it is: the other parts' blocks, the header, and
# the notes written by hand between blocks (a note belongs after the block it is about). A block the file does not
# have yet goes in part order. Each block ends with the line the runner writes: when, on which machine, at which load
# and from which commit it was measured. A part that fails keeps its old block (its output goes to stderr) and the
# runner exits 1 after writing the others.
#
# KW_CLI=PATH measures that CLI build instead of building ./keyward's. For tests of the runner itself: KW_BENCH_PARTS (the
# parts directory), KW_BENCH_DOC (the file to write) and KW_BENCH_NO_BUILD=1 (no builds: KW_BENCH_BIN and KW_CLI as given).
set -euo pipefail
export LC_ALL=C   # part order and name matching by bytes, whatever the caller's locale
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
parts_dir="${KW_BENCH_PARTS:-$here/parts}"
out="${KW_BENCH_DOC:-$root/docs/benchmarks.md}"
export KW_ROOT="$root"
export KW_BENCH="${KW_BENCH:-$root/artifacts/bench}"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

# Which parts: every one, or the ones named (each must exist; nothing is built or run otherwise).
all=()
for f in "$parts_dir"/*.sh; do [[ -e "$f" ]] && all+=("$(basename "$f" .sh)"); done
selected=()
if [[ $# -eq 0 ]]; then
  selected=("${all[@]}")
else
  for name in "$@"; do
    name="${name%.sh}"
    if [[ ! -f "$parts_dir/$name.sh" ]]; then
      echo "bench/run.sh: no part named '$name' in $parts_dir (parts: ${all[*]})" >&2
      exit 2
    fi
    [[ " ${selected[*]} " == *" $name "* ]] || selected+=("$name")
  done
  mapfile -t selected < <(printf '%s\n' "${selected[@]}" | sort)
fi

# The file must parse before anything runs: every block closed, no block twice.
check_blocks() {
  awk '
    function fail(m) { print m; bad = 1; exit 1 }
    match($0, /^<!-- bench:part [^ ]+ -->$/) { if (open != "") fail("block " open " has no end marker before block " $3)
      if (seen[$3]++) fail("block " $3 " appears twice"); open = $3; next }
    match($0, /^<!-- bench:end [^ ]+ -->$/) { if ($3 != open) fail("end marker of " $3 " outside its block"); open = ""; next }
    END { if (!bad && open != "") { print "block " open " has no end marker"; exit 1 } }' "$1"
}
if [[ -f "$out" ]] && ! problem="$(check_blocks "$out")"; then
  echo "bench/run.sh: $out: $problem; fix the markers by hand (nothing was run)" >&2
  exit 2
fi

mkdir -p "$KW_BENCH"
if [[ "${KW_BENCH_NO_BUILD:-0}" != 1 ]]; then
  # `dotnet build`, not `publish`: the bench app runs framework-dependent under the JIT (TieredPGO), and it references
  # the CLI project, whose PublishAot makes it a self-contained executable at publish time, which a framework-dependent
  # publish refuses to reference (NETSDK1151). A build has no such check and leaves bin/Release/<tfm>/.
  bench_proj="$here/Keyward.Bench/Keyward.Bench.csproj"
  if ! dotnet build "$bench_proj" -c Release -nologo -v quiet > "$KW_BENCH/build.log" 2>&1; then
    cat "$KW_BENCH/build.log" >&2
    echo "bench/run.sh: building bench/Keyward.Bench failed (output above)" >&2
    exit 1
  fi
  target_dir="$(dotnet msbuild "$bench_proj" -nologo -p:Configuration=Release -getProperty:TargetDir)"
  export KW_BENCH_BIN="${target_dir%/}/Keyward.Bench"
  [[ -x "$KW_BENCH_BIN" ]] || { echo "bench/run.sh: the build left no $KW_BENCH_BIN" >&2; exit 1; }
  if [[ -z "${KW_CLI:-}" ]]; then   # KW_CLI set by the caller: measure that build of the CLI instead
    "$root/keyward" --version >/dev/null   # build the CLI as the launcher does (NativeAOT; ReadyToRun without a C toolchain)
    export KW_CLI="$root/artifacts/cli/keyward"
  fi
fi
export KW_BENCH_BIN="${KW_BENCH_BIN:-}" KW_CLI="${KW_CLI:-$root/artifacts/cli/keyward}"

machine="$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -srm), $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
dotnet_version="$(dotnet --version 2>/dev/null || echo "not installed")"
commit="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo "unknown")"
if [[ -n "$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null)" ]]; then commit+=" with uncommitted changes"; fi
load() { cut -d' ' -f1 /proc/loadavg; }

blocks="$(mktemp -d)"
trap 'rm -rf "$blocks"' EXIT
failed=()
for name in "${selected[@]}"; do
  echo "running $name" >&2
  started="$(date -u '+%Y-%m-%d %H:%M') UTC"; load_start="$(load)"
  status=0
  bash "$parts_dir/$name.sh" > "$blocks/$name.out" || status=$?
  if [[ $status -ne 0 ]]; then
    echo "bench/run.sh: part $name failed (exit $status); its section in $out is kept as it was. Its output:" >&2
    cat "$blocks/$name.out" >&2
    failed+=("$name")
    continue
  fi
  {
    echo "<!-- bench:part $name -->"
    # The part's section without trailing blank lines, then the runner's line.
    sed -e :a -e '/^\n*$/{$d;N;ba' -e '}' "$blocks/$name.out"
    echo
    echo "_Measured by \`bench/run.sh $name\` on $started: $machine, .NET $dotnet_version; load average $load_start at the start, $(load) at the end; commit $commit._"
    echo "<!-- bench:end $name -->"
  } > "$blocks/$name.block"
  echo "$name" >> "$blocks/done"
done

if [[ -f "$blocks/done" ]]; then
  if [[ ! -f "$out" ]]; then
    cat > "$out" <<'MD'
# Benchmarks

Written by `bench/run.sh` (all parts) or `bench/run.sh PART...` (only those parts' sections are replaced; every other
section and every note between sections is kept). Each section ends with the date, machine, load average and commit of
the run that measured it, so sections measured on different days sit side by side: compare figures within one
section, where every comparison was measured in the same run. The machine is small and shared, so read the ratios,
not the absolute times. Notes written by hand (later rounds, runs made outside the runner) follow the section they are
about, outside its markers.
MD
  fi
  # Replace the blocks that were run where they are; put new ones before the first block that sorts after them.
  next="$(mktemp "$(dirname "$out")/.benchmarks.XXXXXX")"
  chmod 0644 "$next"
  awk -v dir="$blocks" '
    function emit(n,   line, f) { f = dir "/" n ".block"; while ((getline line < f) > 0) print line; close(f); placed[n] = 1 }
    function before(n,   i) { for (i = 1; i <= count; i++) if (!placed[names[i]] && !present[names[i]] && names[i] < n) { emit(names[i]); print "" } }
    BEGIN { while ((getline n < (dir "/done")) > 0) { names[++count] = n; fresh[n] = 1 } }
    FNR == NR { if (match($0, /^<!-- bench:part [^ ]+ -->$/)) present[$3] = 1; next }
    match($0, /^<!-- bench:part [^ ]+ -->$/) { n = $3; before(n); if (fresh[n]) { emit(n); skipping = n; next } }
    skipping != "" { if ($0 == "<!-- bench:end " skipping " -->") skipping = ""; next }
    { print }
    END { for (i = 1; i <= count; i++) if (!placed[names[i]]) { print ""; emit(names[i]) } }' "$out" "$out" > "$next"
  mv "$next" "$out"
  echo "wrote $out ($(tr '\n' ' ' < "$blocks/done"| sed 's/ $//'))" >&2
fi
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "bench/run.sh: failed: ${failed[*]}" >&2
  exit 1
fi
