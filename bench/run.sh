#!/usr/bin/env bash
# Runs every side-by-side benchmark in bench/parts/ (in one run, so ratios compare like with like)
# and writes docs/benchmarks.md. Usage: bench/run.sh [part-name...]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
export KW_ROOT="$root"
export KW_BENCH="$root/artifacts/bench"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
mkdir -p "$KW_BENCH"
dotnet publish "$here/Keyward.Bench/Keyward.Bench.csproj" -c Release -o "$KW_BENCH/bin" -v quiet -nologo >/dev/null
"$root/keyward" --version >/dev/null   # build the CLI as the launcher does (NativeAOT; ReadyToRun without a C toolchain)
export KW_BENCH_BIN="$KW_BENCH/bin/Keyward.Bench"
export KW_CLI="$root/artifacts/cli/keyward"
out="$root/docs/benchmarks.md"
tmp="$(mktemp)"
{
  echo "# Benchmarks"
  echo
  echo "Produced by \`bench/run.sh\` on $(date -u +%Y-%m-%d). Every comparison in a table was measured in the same run;"
  echo "the machine is small and shared, so read the ratios, not the absolute times."
  echo
  echo "- machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -srm)"
  echo "- cpu: $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "- .NET: $(dotnet --version)"
  echo
  for part in "$here"/parts/*.sh; do
    name="$(basename "$part" .sh)"
    if [[ $# -gt 0 && ! " $* " == *" $name "* ]]; then continue; fi
    echo "running $name" >&2
    bash "$part" || echo "_(part $name failed: see the console output of bench/run.sh)_"
    echo
  done
} > "$tmp"
mv "$tmp" "$out"
echo "wrote $out" >&2
