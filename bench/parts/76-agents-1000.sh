#!/usr/bin/env bash
# Issue 12's benchmark: 1,000 simulated agents long-polling one `keyward serve` on this machine. Each simulated agent
# (bench/Keyward.Bench/AgentsBench.cs; all in one process) has its own ssh-ed25519 host key made by ssh-keygen and does
# the real protocol: challenge, SSHSIG, session, long poll (`GET bundle?since=V&wait=60`), age-decrypt of its bundle
# with its own key, report. ROUNDS times `keyward rotate ci-push-token` runs; measured: until every agent has decrypted
# the new bundle, and until rotate exits (it waits for all 1,000 confirmations). serve's memory: VmHWM (peak RSS) and
# VmRSS from /proc, idle with every agent parked, and after the rounds.
# Env from bench/run.sh: KW_CLI, KW_BENCH, KW_BENCH_BIN. KW_AGENTS (default 1000), KW_AGENT_ROUNDS_1000 (default 5).
set -euo pipefail
count="${KW_AGENTS:-1000}"
rounds="${KW_AGENT_ROUNDS_1000:-5}"
work="$KW_BENCH/agents-1000"
rm -rf "$work"; mkdir -p "$work/keys"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

seq 1 "$count" | xargs -P 2 -I{} ssh-keygen -q -t ed25519 -N "" -C "root@runner-{}" -f "$work/keys/runner-{}.key"
{
  cat <<YAML
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
    rotation: { hostDeadline: 10m }
hosts:
YAML
  for i in $(seq 1 "$count"); do echo "  runner-$i: { sshKey: \"$(cut -d' ' -f1,2 "$work/keys/runner-$i.key.pub")\" }"; done
  cat <<YAML
sinks:
  runner-netrc:
    hosts: [$(seq -s, -f 'runner-%g' 1 "$count" | sed 's/,/, /g')]
    path: /etc/nix/keyward-netrc
    format: netrc
    mode: "0600"
    entries: { cache.example.org: ci-push-token }
YAML
} > "$work/keyward.yaml"

# --rate-limit off: all 1,000 agents come from 127.0.0.1, one client to serve's per-client bound.
"$KW_CLI" serve -f "$work/keyward.yaml" --state "$work/state" --root "$work/root" --no-hooks --listen 127.0.0.1:0 --interval 1h \
  --rate-limit off 2> "$work/serve.log" & pids+=($!)
serve=${pids[0]}
for _ in $(seq 600); do grep -q "serving on" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/.*serving on \(http:[^ ]*\).*/\1/p' "$work/serve.log" | head -1)"
[[ -n "$url" ]] || { cat "$work/serve.log" >&2; exit 1; }
for _ in $(seq 600); do grep -q "applied" "$work/serve.log" 2>/dev/null && break; sleep 0.1; done
mem() { awk -v k="$1:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$serve/status"; }
rss_start=$(mem VmRSS)

"$KW_BENCH_BIN" agents --server "$url" --keys "$work/keys" --count "$count" --rounds "$rounds" --wait 60 --ready "$work/ready" \
  -- "$KW_CLI" rotate ci-push-token -f "$work/keyward.yaml" --state "$work/state" --root "$work/root" > "$work/sim.log" 2> "$work/sim.err" &
sim=$!; pids+=($sim)
for _ in $(seq 3000); do [[ -f "$work/ready" ]] && break; kill -0 "$sim" 2>/dev/null || break; sleep 0.1; done
[[ -f "$work/ready" ]] || { cat "$work/sim.log" "$work/sim.err" "$work/serve.log" >&2; exit 1; }
rss_idle=$(mem VmRSS); hwm_idle=$(mem VmHWM)
conns=$( (ss -Htn state established "( sport = :$(sed "s/.*:\([0-9]*\).*/\1/" <<<"$url") )" 2>/dev/null || true) | wc -l)
wait "$sim" || { cat "$work/sim.log" "$work/sim.err" >&2; tail -20 "$work/serve.log" >&2; exit 1; }
rss_end=$(mem VmRSS); hwm_end=$(mem VmHWM)
result="$(grep '^RESULT' "$work/sim.log")"
val() { sed -n "s/.* $1=\([^ ]*\).*/\1/p; s/^RESULT $1=\([^ ]*\).*/\1/p" <<<"$result" | head -1; }
cat <<MD
### 1,000 agents long-polling one serve (issue 12)

\`bench/parts/76-agents-1000.sh\`: one \`keyward serve\` on loopback (embedded store, \`--interval 1h\`), $count simulated
agents in one process (\`Keyward.Bench agents\`), each with its own ssh-ed25519 key from \`ssh-keygen\` doing the real
protocol — challenge, SSHSIG over the challenge text, session, long poll, age-decrypt of its own bundle with its own
key, report — and one netrc sink on all $count hosts. **Polling scheme**: every agent holds one HTTP/1.1 long poll
(\`GET /api/v1/agent/bundle?since=VERSION&wait=60\`, one connection each: $conns established at the server while idle); the
server parks them on one shared signal and a single loop reads the store's version list every 500 ms while anyone
waits; on a change each woken request renders and seals its host's bundle once (cached per host and change) and
answers; the agent decrypts, reports, and polls again. $rounds times \`keyward rotate ci-push-token\` (it waits for all
$count confirmations; \`rotation.hostDeadline: 10m\`).

| measure | median of $rounds | worst |
|---|---:|---:|
| a rotation has reached **every** agent (each decrypted the new bundle) | $(val reach_all_median) s | $(val reach_all_max) s |
| … half of the agents | $(val reach_half_median) s | |
| \`keyward rotate\` exits (all $count confirmations recorded, journal committed) | $(val rotate_median) s | |

Start-up (all $count authenticate and fetch, 32 at a time): $(val startup) s. serve's memory: $rss_start MiB resident
before the agents, $rss_idle MiB with all $count parked (peak so far $hwm_idle MiB), $rss_end MiB after the rounds,
**peak $hwm_end MiB** (VmHWM). Per round (simulator's log):

\`\`\`
$(grep '^round' "$work/sim.log")
\`\`\`
MD
