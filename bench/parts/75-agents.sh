#!/usr/bin/env bash
# Issue 12: how fast a rotation of ci-push-token reaches three `keyward agent --watch` hosts. One `keyward serve` on
# loopback (embedded store), three agents with ssh-ed25519 host keys made by ssh-keygen, each writing under its own
# --root; then ROUNDS rotations, each timed from the start of `keyward rotate` until all three hosts' netrc files hold
# the new token (polled every 20 ms), and the rotate command itself (it waits for the hosts' confirmations).
# Env from bench/run.sh: KW_CLI, KW_BENCH. KW_AGENT_ROUNDS (default 20).
set -euo pipefail
rounds="${KW_AGENT_ROUNDS:-20}"
work="$KW_BENCH/agents"
rm -rf "$work"; mkdir -p "$work"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

keys=""
for i in 1 2 3; do
  ssh-keygen -q -t ed25519 -N "" -C "root@runner-$i" -f "$work/runner-$i.key" </dev/null
  keys+="  runner-$i: { sshKey: \"$(cat "$work/runner-$i.key.pub")\" }"$'\n'
done
cat > "$work/keyward.yaml" <<YAML
apiVersion: keyward/v1
credentials:
  attic-jwt-secret: { kind: secret, bytes: 48, owner: attic, purpose: signs Attic tokens }
  ci-push-token:
    kind: attic-token
    signedBy: attic-jwt-secret
    subject: ci
    validity: 30d
    owner: ci
    purpose: runners push to the cache
    caches: { main: [pull, push] }
hosts:
$keys
sinks:
  runner-netrc:
    hosts: [runner-1, runner-2, runner-3]
    path: /etc/nix/keyward-netrc
    format: netrc
    mode: "0600"
    entries: { cache.example.org: ci-push-token }
YAML

"$KW_CLI" serve -f "$work/keyward.yaml" --state "$work/state" --root "$work/root" --no-hooks --listen 127.0.0.1:0 --interval 1h \
  2> "$work/serve.log" & pids+=($!)
for _ in $(seq 600); do grep -q "serving on" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/.*serving on \(http:[^ ]*\).*/\1/p' "$work/serve.log" | head -1)"
[[ -n "$url" ]] || { cat "$work/serve.log" >&2; exit 1; }
for i in 1 2 3; do
  "$KW_CLI" agent --server "$url" --identity "$work/runner-$i.key" --watch --root "$work/host-$i" --state-dir "$work/agent-$i" \
    --host "runner-$i" --no-hooks 2> "$work/agent-$i.log" & pids+=($!)
done
files=("$work/host-1/etc/nix/keyward-netrc" "$work/host-2/etc/nix/keyward-netrc" "$work/host-3/etc/nix/keyward-netrc")
for _ in $(seq 1200); do [[ -f "${files[0]}" && -f "${files[1]}" && -f "${files[2]}" ]] && break; sleep 0.1; done
[[ -f "${files[2]}" ]] || { cat "$work"/*.log >&2; exit 1; }

reach=(); cmd=()
for r in $(seq "$rounds"); do
  before="$(cat "${files[@]}" | sha256sum)"
  old=("$(sha256sum < "${files[0]}")" "$(sha256sum < "${files[1]}")" "$(sha256sum < "${files[2]}")")
  start=$(date +%s.%N)
  "$KW_CLI" rotate ci-push-token -f "$work/keyward.yaml" --state "$work/state" --root "$work/root" > "$work/rotate.log" 2>&1 &
  rotate=$!
  reached=""
  for _ in $(seq 3000); do
    done_all=1
    for k in 0 1 2; do [[ "$(sha256sum < "${files[$k]}" 2>/dev/null)" != "${old[$k]}" ]] || done_all=0; done
    if [[ $done_all == 1 ]]; then reached=$(date +%s.%N); break; fi
    sleep 0.02
  done
  wait "$rotate" || { cat "$work/rotate.log" >&2; exit 1; }
  finished=$(date +%s.%N)
  [[ -n "$reached" ]] || { echo "round $r: the hosts never got the new token" >&2; exit 1; }
  [[ "$(cat "${files[@]}" | sha256sum)" != "$before" ]]
  reach+=("$(/usr/bin/python3 -c "print(f'{$reached-$start:.2f}')")")
  cmd+=("$(/usr/bin/python3 -c "print(f'{$finished-$start:.2f}')")")
done
stats() { printf '%s\n' "$@" | /usr/bin/python3 -c 'import sys,statistics as s; v=sorted(float(x) for x in sys.stdin); print(f"{s.median(v):.2f} s | {v[0]:.2f} s | {v[-1]:.2f} s")'; }
rss=$(ps -o rss= -p "${pids[0]}" | tr -d ' ')
cat <<MD
### Rotation reaching three watching agents (issue 12)

\`bench/parts/75-agents.sh\`: one \`keyward serve\` on loopback (embedded store, \`--interval 1h\`, so only the rotations
change anything), three \`keyward agent --watch\` processes with ssh-ed25519 host keys from \`ssh-keygen\`, each under its
own \`--root\`, one netrc sink on all three hosts. $rounds times: \`keyward rotate ci-push-token\` (which now waits until every
host confirms the new file); *reached* is from the start of the command until all three hosts' files hold the new token
(polled every 20 ms), *command* until \`rotate\` exits (after the confirmations, the commit). Goal: reached ≤ 5 s (median).

| measure | median | min | max |
|---|---:|---:|---:|
| reached all three hosts | $(stats "${reach[@]}") |
| \`keyward rotate\` finished | $(stats "${cmd[@]}") |

serve's resident memory after the rounds: $((rss / 1024)) MiB. Each round's times (reached): ${reach[*]}
MD
