#!/usr/bin/env bash
# narinfo signature verification: Keyward (in-process NarInfo.Parse + NarInfoVerifier) vs raw Ed25519 over the same
# precomputed fingerprints, and end to end `keyward nix verify-cache` vs `nix store verify --no-contents`.
# Prints a markdown section. Env: KW_BENCH, KW_BENCH_BIN, KW_CLI.
set -euo pipefail
n="${KW_NARINFO_COUNT:-10000}"
dir="$KW_BENCH/narinfo"
rm -rf "$dir"
"$KW_BENCH_BIN" narinfo prepare "$dir" "$n"
declare -A kw
while IFS='=' read -r k v; do kw[$k]="$v"; done < <("$KW_BENCH_BIN" narinfo run "$dir" 5)
pub="$(cat "$dir/pub")"

# End to end, wall clock (process start included), median of 3.
conf="$(mktemp -d)"
trap 'rm -rf "$conf"' EXIT
printf 'experimental-features = nix-command\nrequire-sigs = true\nsubstituters =\n' > "$conf/nix.conf"
median_ms() {
  local samples=()
  for _ in 1 2 3; do
    local t0 t1
    t0=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; return 1; }
    t1=$(date +%s%N)
    samples+=($(( (t1 - t0) / 1000000 )))
  done
  printf '%s\n' "${samples[@]}" | sort -n | sed -n 2p
}
mapfile -t paths < "$dir/paths"
kw_cli_ms="—"; nix_ms="—"
if [[ -x "${KW_CLI:-}" ]]; then
  kw_cli_ms="$(median_ms "$KW_CLI" nix verify-cache "$dir/cache" --trusted-public-keys "$pub")"
fi
if command -v nix >/dev/null; then
  nix_ms="$(NIX_CONF_DIR="$conf" median_ms nix store verify --store "file://$dir/cache" --no-contents --trusted-public-keys "$pub" "${paths[@]}")"
fi

echo "### narinfo signature verification ($n signed narinfos)"
echo
echo "Synthetic input-addressed narinfos (up to 3 references each) signed by one Keyward key. In-process figures are the"
echo "median of 5 passes; end-to-end figures are wall-clock medians of 3 runs including process start."
echo
echo '```'
echo "\$KW_BENCH_BIN narinfo prepare \$KW_BENCH/narinfo $n && \$KW_BENCH_BIN narinfo run \$KW_BENCH/narinfo 5"
echo "\$KW_CLI nix verify-cache \$KW_BENCH/narinfo/cache --trusted-public-keys \"\$(cat \$KW_BENCH/narinfo/pub)\""
echo "nix store verify --store file://\$KW_BENCH/narinfo/cache --no-contents --trusted-public-keys \"\$(cat \$KW_BENCH/narinfo/pub)\" \$(cat \$KW_BENCH/narinfo/paths)"
echo '```'
echo
echo "| verifier | ms | ratio |"
echo "|---|---:|---:|"
echo "| Keyward in-process: parse narinfo, build fingerprint, verify (\`NarInfoVerifier\`) | ${kw[keyward_ms]} | throughput ${kw[keyward_throughput_vs_raw]}× of raw (goal ≥ 0.70) |"
echo "| raw Ed25519 verify of the same precomputed fingerprints (libsodium via NSec) | ${kw[raw_ed25519_ms]} | 1.0 |"
echo "| \`keyward nix verify-cache DIR\` end to end | $kw_cli_ms | |"
echo "| \`nix store verify --no-contents\` (nix 2.8) end to end | $nix_ms | |"
