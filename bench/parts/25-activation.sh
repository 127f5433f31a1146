#!/usr/bin/env bash
# Issue 3's agenix-style activation benchmark: 1,000 small secrets delivered to a tmpfs (where agenix puts them, so fsync
# is nearly free for both), `age -d` once per secret (how agenix activates) vs one `keyward apply` rendering them all.
set -euo pipefail
n="${KW_ACTIVATION_N:-1000}"
work="$KW_BENCH/activation"
shm="${KW_SHM:-/dev/shm}/keyward-bench-activation"
rm -rf "$work" "$shm"; mkdir -p "$work" "$shm"
age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$(age-keygen -y "$work/key.txt")
{
  echo "apiVersion: keyward/v1"
  echo "recipients: [\"$recipient\"]"
  echo "credentials:"
  for i in $(seq 1 "$n"); do
    printf '  s%d: { kind: secret, bytes: 32, encoding: base64, owner: bench, purpose: activation bench }\n' "$i"
  done
  echo "sinks:"
  for i in $(seq 1 "$n"); do
    printf '  s%d: { path: /run/agenix/s%d, format: raw, mode: "0400", credential: s%d }\n' "$i" "$i" "$i"
  done
} > "$work/keyward.yaml"
"$KW_CLI" apply -f "$work/keyward.yaml" --root "$work/seed" --state "$work/state" >/dev/null 2>&1
"$KW_CLI" export agenix "$work/age" -f "$work/keyward.yaml" --state "$work/state" >/dev/null 2>&1

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
t_age=(); t_kw=()
for r in 1 2 3; do
  rm -rf "$shm/age"; mkdir -p "$shm/age"
  s=$(date +%s.%N)
  for f in "$work"/age/*.age; do
    b=$(basename "$f" .age)
    age -d -i "$work/key.txt" -o "$shm/age/$b.tmp" "$f" && chmod 0400 "$shm/age/$b.tmp" && mv "$shm/age/$b.tmp" "$shm/age/$b"
  done
  e=$(date +%s.%N); t_age+=("$(/usr/bin/python3 -c "print(f'{$e - $s:.2f}')")")
  rm -rf "$shm/kw"
  s=$(date +%s.%N)
  "$KW_CLI" apply -f "$work/keyward.yaml" --root "$shm/kw" --state "$work/state" --no-hooks >/dev/null 2>&1
  e=$(date +%s.%N); t_kw+=("$(/usr/bin/python3 -c "print(f'{$e - $s:.2f}')")")
done
count_age=$(ls "$shm/age" | wc -l); count_kw=$(find "$shm/kw" -type f | wc -l)
a=$(printf '%s\n' "${t_age[@]}" | median); k=$(printf '%s\n' "${t_kw[@]}" | median)
ratio=$(/usr/bin/python3 -c "print(f'{$a/$k:.1f}')")
rm -rf "$shm"
cat <<MD
### agenix-style activation: $n secrets (issue 3)

Both deliver $n 32-byte secrets to a tmpfs (\`${KW_SHM:-/dev/shm}\`), as agenix does to its ramfs. agenix's way: for each file,
\`age -d -i key.txt -o NAME.tmp NAME.age && chmod 0400 NAME.tmp && mv NAME.tmp NAME\` (files made by \`keyward export agenix\`).
Keyward's way: one \`keyward apply -f keyward.yaml --root ROOT\` into an empty root, from a store that already holds the values.
Median of 3 runs each.

| | wall time | files |
|---|---:|---:|
| \`age -d\` once per secret | ${a} s | ${count_age} |
| one \`keyward apply\` | ${k} s | ${count_kw} |

Keyward is **${ratio}×** faster (goal ≥ 20×).
MD
