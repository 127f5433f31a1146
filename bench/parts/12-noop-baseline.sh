#!/usr/bin/env bash
# Issue 8's guard: the no-op apply of N sinks is no slower than at a baseline commit (default 567d8a7, before the
# one-lifecycle and hardening work). Both CLIs are Release/ReadyToRun builds, run alternately in one run, median of 5.
set -euo pipefail
n="${KW_NOOP_N:-10000}"
base="${KW_BASELINE:-567d8a7}"
work="$KW_BENCH/noop-baseline"
rm -rf "$work"; mkdir -p "$work"
git -C "$KW_ROOT" worktree add -q --detach "$work/src" "$base" >/dev/null
trap 'git -C "$KW_ROOT" worktree remove --force "$work/src" >/dev/null 2>&1 || true' EXIT
dotnet publish "$work/src/src/Keyward.Cli/Keyward.Cli.csproj" -c Release -o "$work/base-cli" -p:PublishReadyToRun=true -v quiet -nologo >/dev/null
# ./keyward builds the native binary now; this guard compares like with like (issue 14's part measures the native one).
dotnet publish "$KW_ROOT/src/Keyward.Cli/Keyward.Cli.csproj" -c Release -o "$work/head-cli" -p:PublishAot=false -p:PublishReadyToRun=true -v quiet -nologo >/dev/null
/usr/bin/python3 "$KW_ROOT/bench/gen/manifest.py" "$n" "$work/m" >/dev/null
m="$work/m/keyward.yaml"
declare -A cli=([base]="$work/base-cli/keyward" [head]="$work/head-cli/keyward")
for v in base head; do "${cli[$v]}" apply -f "$m" --root "$work/$v/root" --state "$work/$v/state" --json >/dev/null 2>&1; done
declare -A times=()
for i in 1 2 3 4 5; do
  for v in base head; do
    /usr/bin/time -f "%e" -o "$work/t" "${cli[$v]}" apply -f "$m" --root "$work/$v/root" --state "$work/$v/state" --json > "$work/out.json" 2>/dev/null
    w=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["applied"]["filesWritten"])' "$work/out.json")
    [[ "$w" == 0 ]] || echo "no-op apply ($v) wrote $w files" >&2
    times[$v]+="$(cat "$work/t") "
  done
done
med() { printf '%s\n' $1 | sort -n | sed -n 3p; }
b=$(med "${times[base]}"); h=$(med "${times[head]}")
cat <<MD
### No-op apply against a baseline commit (issue 8)

\`bench/parts/12-noop-baseline.sh\`: $n credentials and sinks (\`bench/gen/manifest.py $n DIR\`), first applied once by each
build, then \`keyward apply -f keyward.yaml --root ROOT --state STATE --json\` five times each, alternating, both Release
ReadyToRun. The head build additionally takes the state lock, sweeps stale temporary files (one directory listing per
directory) and inspects every sink through the symlink-safe walk.

| build | no-op apply, median of 5 | runs (s) |
|---|---:|---|
| baseline $base | $b s | ${times[base]} |
| this commit | $h s | ${times[head]} |
| ratio (this / baseline) | $(/usr/bin/python3 -c "print(f'{$h/$b:.2f}x')") | |
MD
