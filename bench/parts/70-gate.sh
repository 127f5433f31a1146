#!/usr/bin/env bash
# The Attic revocation gate through nginx (wrk), as a ratio of the same nginx serving the same file with no
# auth_request, with the auth subrequest to `keyward serve` over TCP loopback and over a Unix socket (one serve listens
# on both; the three nginx servers are measured in turns, KW_GATE_ROUNDS rounds); and the CI exchange
# (POST /api/v1/ci/attic-token) with a warm JWKS cache.
# Needs: nginx, wrk, /usr/bin/python3 with python3-jwt and python3-cryptography. Standalone: KW_CLI=… bash bench/parts/70-gate.sh
set -euo pipefail
root="${KW_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
cli="${KW_CLI:-$root/artifacts/cli/keyward}"
dur="${KW_GATE_SECONDS:-10}"
conns="${KW_GATE_CONNECTIONS:-16}"
rounds="${KW_GATE_ROUNDS:-3}"
for tool in nginx wrk /usr/bin/python3; do command -v "$tool" >/dev/null || { echo "_(70-gate: $tool is not installed: apt-get install nginx wrk python3-jwt python3-cryptography)_"; exit 0; }; done
dir="$(mktemp -d)"
chmod 755 "$dir"   # nginx workers run as an unprivileged user
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The issuer (tests/fixtures/oidc-issuer.py) on a coprocess: JSON commands in, JSON answers out.
iport="$(port)"
coproc ISS { /usr/bin/python3 "$root/tests/fixtures/oidc-issuer.py" "$iport"; }
pids+=("$ISS_PID")
read -r _ <&"${ISS[0]}"
issuer="http://127.0.0.1:$iport"

mkdir -p "$dir/www/main" "$dir/state"
printf 'StoreDir: /nix/store\nWantMassQuery: 1\nPriority: 41\n' > "$dir/www/main/nix-cache-info"
cat > "$dir/keyward.yaml" <<YAML
apiVersion: keyward/v1
credentials:
  attic-jwt-secret: { kind: secret, bytes: 64, owner: bench, purpose: signs Attic tokens }
  reader: { kind: attic-token, signedBy: attic-jwt-secret, subject: reader, validity: 1d, caches: { main: [pull] }, owner: bench, purpose: bench }
sinks:
  reader-token: { path: $dir/reader.token, format: raw, credential: reader, mode: "0600" }
trustedPublishers:
  bench:
    issuer: $issuer
    audience: https://keyward.bench
    signedBy: attic-jwt-secret
    claims: { repository: example-org/infra }
    caches: { main: [pull, push] }
YAML
export KEYWARD_STATE="$dir/state"
"$cli" apply -f "$dir/keyward.yaml" >/dev/null
token="$(cat "$dir/reader.token")"

kport="$(port)"
sock="$dir/gate.sock"
# --rate-limit off: wrk is one client, far past the per-client bound a real CI job never reaches.
# --socket-mode 0666: nginx's workers run as another user (nobody) when the bench runs as root; a real host puts nginx in
# keyward's group and keeps the default 0660.
"$cli" serve -f "$dir/keyward.yaml" --listen "127.0.0.1:$kport" --listen "unix:$sock" --socket-mode 0666 --rate-limit off 2>"$dir/serve.log" &
pids+=("$!")
plain="$(port)"; gated="$(port)"; gated_unix="$(port)"
# The same gate include, pointed at the Unix-socket upstream: only the upstream's name differs.
sed 's/keyward_gate/keyward_gate_unix/g' "$root/deploy/nginx/attic-gate.conf" > "$dir/attic-gate-unix.conf"
cat > "$dir/nginx.conf" <<NGINX
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
  client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi; uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
  upstream keyward_gate { server 127.0.0.1:$kport; keepalive 32; }
  upstream keyward_gate_unix { server unix:$sock; keepalive 32; }
  server { listen 127.0.0.1:$plain; root $dir/www; location / { } }
  server { listen 127.0.0.1:$gated; root $dir/www; include $root/deploy/nginx/attic-gate.conf; location / { } }
  server { listen 127.0.0.1:$gated_unix; root $dir/www; include $dir/attic-gate-unix.conf; location / { } }
}
NGINX
nginx -c "$dir/nginx.conf" -g 'daemon off;' &
pids+=("$!")
for _ in $(seq 1 200); do
  curl -fsS -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$gated/main/nix-cache-info" 2>/dev/null && break
  sleep 0.1
done
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$gated/main/nix-cache-info"
curl -fsS -o /dev/null -H "Authorization: Bearer $token" "http://127.0.0.1:$gated_unix/main/nix-cache-info"

rps() { awk '/Requests\/sec/ {print $2}'; }
measure() { wrk -t1 -c"$conns" -d"$2" -H "Authorization: Bearer $token" "http://127.0.0.1:$1/main/nix-cache-info" | rps; }
measure "$gated" 2s >/dev/null; measure "$gated_unix" 2s >/dev/null # warm-up (JIT, keep-alive pools)
# Rounds of plain, TCP, Unix; the order turns each round, so none of the three always runs first after a pause.
bases=(); gates=(); unixes=(); loads=()
for r in $(seq 1 "$rounds"); do
  loads+=("$(awk '{print $1}' /proc/loadavg)")
  order=(plain tcp unix)
  for _ in $(seq 2 "$r"); do order=("${order[@]:1}" "${order[0]}"); done
  for what in "${order[@]}"; do
    case "$what" in
      plain) bases+=("$(measure "$plain" "${dur}s")") ;;
      tcp) gates+=("$(measure "$gated" "${dur}s")") ;;
      unix) unixes+=("$(measure "$gated_unix" "${dur}s")") ;;
    esac
  done
done
ratio() { /usr/bin/python3 -c "import sys; print(f'{float(sys.argv[1])/float(sys.argv[2])*100:.0f} %')" "$1" "$2"; }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
per_round() { # $1: name of the gated array -> "r1 / r2 / …" of gated/plain per round
  local -n g="$1"; local out=() i
  for i in "${!g[@]}"; do out+=("$(ratio "${g[$i]}" "${bases[$i]}")"); done
  local IFS=/; echo "${out[*]}" | sed 's#/# / #g'
}
base="$(median "${bases[@]}")"; gate="$(median "${gates[@]}")"; gate_unix="$(median "${unixes[@]}")"
# Where the time goes: keyward serve alone, the gate endpoint and /healthz (no logic), without nginx.
direct="$(wrk -t1 -c"$conns" -d"${dur}s" -H "Authorization: Bearer $token" -H "X-Original-URI: /main/nix-cache-info" "http://127.0.0.1:$kport/api/v1/attic/auth" | rps)"
healthz="$(wrk -t1 -c"$conns" -d"${dur}s" "http://127.0.0.1:$kport/healthz" | rps)"

# The exchange: GitHub-shaped ID tokens (PyJWT, RS256), each posted once (a second exchange of one ID token is refused
# as a replay, KW1420); each answer is a new ledgered token. A pool of distinct tokens (unique jti) is minted first and
# wrk takes the next one for every request; the non-2xx count says whether the pool ran out.
now="$(date +%s)"
mint() { # $1: jti -> one ID token on stdout
  local claims="{\"jti\":\"$1\",\"iss\":\"$issuer\",\"aud\":\"https://keyward.bench\",\"sub\":\"repo:example-org/infra:ref:refs/heads/main\",\"repository\":\"example-org/infra\",\"ref\":\"refs/heads/main\",\"iat\":$now,\"nbf\":$((now-600)),\"exp\":$((now+900))}"
  echo "{\"cmd\":\"mint\",\"kid\":\"rsa-1\",\"claims\":$claims}" >&"${ISS[1]}"
  local answer; read -r answer <&"${ISS[0]}"
  answer="${answer#*\"token\": \"}"; echo "${answer%%\"*}"
}
pool="${KW_GATE_ID_TOKENS:-$((dur * 300))}"
curl -fsS -o /dev/null -X POST -H "Authorization: Bearer $(mint warm-up)" "http://127.0.0.1:$kport/api/v1/ci/attic-token" # warms the JWKS cache
for i in $(seq "$pool"); do mint "bench-$i"; done > "$dir/idtokens"
cat > "$dir/post.lua" <<LUA
wrk.method = "POST"
local tokens = {}
for line in io.lines("$dir/idtokens") do tokens[#tokens + 1] = line end
local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", nil, { ["Authorization"] = "Bearer " .. tokens[((n - 1) % #tokens) + 1] })
end
LUA
wrk -t1 -c4 -d"${dur}s" -s "$dir/post.lua" "http://127.0.0.1:$kport/api/v1/ci/attic-token" > "$dir/exchange.txt"
ex="$(rps < "$dir/exchange.txt")"
ex_refused="$(awk '/Non-2xx/ {print $NF}' "$dir/exchange.txt")"

echo "### Attic gate and CI exchange"
echo
echo "Command: \`bash bench/parts/70-gate.sh\` (KW_GATE_SECONDS=$dur, KW_GATE_CONNECTIONS=$conns, KW_GATE_ROUNDS=$rounds). nginx (1 worker) serves a"
echo "static \`main/nix-cache-info\`; the gated servers include deploy/nginx/attic-gate.conf, so each request is first a"
echo "kept-alive auth subrequest to \`keyward serve\` (Release CLI build), over TCP loopback or over a Unix socket (one serve"
echo "listens on both), which verifies the HS256 token (once per store snapshot), looks it up in the"
echo "ledger snapshot and checks \`PRAGMA data_version\` for store changes. \`wrk -t1 -c$conns -d${dur}s\`, same token every time;"
echo "$rounds rounds of plain, TCP, Unix (the order turning each round), medians below; load average at each round's start: ${loads[*]}."
echo "The exchange posts a fresh RS256 ID token each time ($pool minted beforehand; one ID token buys one Attic token) with"
echo "\`wrk -t1 -c4\`, warm JWKS cache, serve's rate limit off; every answer is a new token, ledgered and audited (a store"
echo "write under the state lock, SQLite synchronous=FULL). Goal: gate ≥ 70 % of plain nginx."
echo
echo "| measurement | requests/s |"
echo "|---|---|"
echo "| nginx, no auth_request | $base |"
echo "| nginx + Keyward gate over TCP loopback | $gate |"
echo "| nginx + Keyward gate over a Unix socket | $gate_unix |"
echo "| gate / plain, TCP (per round: $(per_round gates)) | $(ratio "$gate" "$base") |"
echo "| gate / plain, Unix socket (per round: $(per_round unixes)) | $(ratio "$gate_unix" "$base") |"
echo "| keyward serve alone: GET /api/v1/attic/auth | $direct |"
echo "| keyward serve alone: GET /healthz (no logic: the HTTP floor) | $healthz |"
echo "| CI exchange (mint + ledger + audit) | $ex |"
[[ -z "$ex_refused" ]] || echo "| CI exchange answers that were not 2xx (the token pool ran out: raise KW_GATE_ID_TOKENS) | $ex_refused |"
