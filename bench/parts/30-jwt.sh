#!/usr/bin/env bash
# Attic JWT verification: Keyward (in-process AtticTokens.Verify) vs python3-jwt (PyJWT, Debian python3-jwt) vs a bare
# HMAC-SHA256 over the same bytes. Prints a markdown section. Env: KW_BENCH (scratch), KW_BENCH_BIN (the bench app).
set -euo pipefail
n="${KW_JWT_TOKENS:-100000}"
dir="$KW_BENCH/jwt"
rm -rf "$dir"
"$KW_BENCH_BIN" jwt prepare "$dir" "$n"
declare -A kw
while IFS='=' read -r k v; do kw[$k]="$v"; done < <("$KW_BENCH_BIN" jwt run "$dir" 5)

py_ms="$(/usr/bin/python3 - "$dir" <<'PY'
import sys, time, jwt
d = sys.argv[1]
key = open(d + "/secret.bin", "rb").read()
tokens = [l for l in open(d + "/tokens.txt").read().split("\n") if l]
samples = []
for _ in range(3):
    t0 = time.perf_counter()
    for t in tokens:
        jwt.decode(t, key, algorithms=["HS256"])
    samples.append((time.perf_counter() - t0) * 1000)
samples.sort()
print("%.1f" % samples[len(samples) // 2])
PY
)"

ratio_py="$(awk -v a="$py_ms" -v b="${kw[keyward_ms]}" 'BEGIN { printf "%.1f", a / b }')"
per() { awk -v ms="$1" -v n="$n" 'BEGIN { printf "%.2f", ms * 1000 / n }'; }
echo "### Attic JWT verification ($n HS256 tokens)"
echo
echo "Tokens minted by Keyward with three grants each (\`main\`, \`team-N-*\`, \`*\`). Each figure is the median of several"
echo "passes over all tokens, timed inside the process (no start-up):"
echo
echo '```'
echo "\$KW_BENCH_BIN jwt prepare \$KW_BENCH/jwt $n && \$KW_BENCH_BIN jwt run \$KW_BENCH/jwt 5"
echo "/usr/bin/python3: for t in tokens: jwt.decode(t, key, algorithms=[\"HS256\"])   # median of 3 passes"
echo '```'
echo
echo "| verifier | total ms | µs per token | ratio |"
echo "|---|---:|---:|---:|"
echo "| Keyward \`AtticTokens.Verify\` (signature, alg/typ, claims, grants, zero-skew time checks) | ${kw[keyward_ms]} | $(per "${kw[keyward_ms]}") | 1.0 |"
echo "| python3-jwt \`jwt.decode\` (signature, exp/nbf; no Attic claims) | $py_ms | $(per "$py_ms") | Keyward is ${ratio_py}× faster (goal ≥ 10×) |"
echo "| bare HMAC-SHA256 over the same header.payload bytes (.NET \`HMACSHA256.HashData\`) | ${kw[bare_hmac_ms]} | $(per "${kw[bare_hmac_ms]}") | Keyward costs ${kw[keyward_over_bare]}× the bare HMAC (goal ≤ 3×) |"
echo "| bare HMAC-SHA256, key set up once (\`IncrementalHash\`, what Keyward uses inside) | ${kw[bare_hmac_reused_ms]} | $(per "${kw[bare_hmac_reused_ms]}") | Keyward costs ${kw[keyward_over_bare_reused]}× this floor |"
