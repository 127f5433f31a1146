#!/usr/bin/env bash
# Installs what Keyward's tests need (Debian packages, the C2SP age vectors and sops-age from npm) and runs every test.
# Ends with one line: "N passed, N failed[, N skipped]". Exit code 0 only when nothing failed.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# 1. Real peers the interop tests run: nix, age, git, curl, python3-jwt (+yaml, jsonschema), openssl, nginx, graphviz, sqlite3, ssh-keygen,
#    strace (kills keyward at chosen syscalls: StateProcessTests), chromium + chromium-driver (the dashboard in a real browser),
#    python3-cryptography (RS256/ES256 issuer keys in the OIDC tests), postgresql (the PostgreSQL store's tests), prometheus (promtool and a real scrape of serve),
#    zsh, fish, groff-base, man-db (completion scripts and the man page load: CompletionTests), systemd (systemd-analyze verify: deploy/).
packages=(nix-bin age git curl python3-jwt python3-cryptography python3-yaml python3-jsonschema openssl nginx graphviz sqlite3 openssh-client strace
  chromium chromium-driver postgresql prometheus zsh fish groff-base man-db systemd buildah)
# A C toolchain links the NativeAOT binary the process-based CLI tests run (step 3b); zlib comes with .NET.
command -v clang >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1 || packages+=(clang)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
  echo "test.sh: installing ${missing[*]}" >&2
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || { echo "test.sh: apt-get install failed" >&2; exit 1; }
fi

# 2. The official C2SP age test vectors (npm package cctv-age).
if [[ ! -d tests/.deps/node_modules/cctv-age ]]; then
  echo "test.sh: installing cctv-age" >&2
  npm install --silent --no-audit --no-fund --prefix tests/.deps cctv-age >/dev/null || { echo "test.sh: npm install cctv-age failed" >&2; exit 1; }
fi

# 2b. An independent SOPS implementation (npm package sops-age, humphd/sops-age) that must decrypt Keyward's SOPS files.
if [[ ! -d tests/.deps/node_modules/sops-age ]]; then
  echo "test.sh: installing sops-age" >&2
  npm install --silent --no-audit --no-fund --prefix tests/.deps sops-age@4.0.2 >/dev/null || { echo "test.sh: npm install sops-age failed" >&2; exit 1; }
fi

# 2c. A throwaway PostgreSQL cluster (initdb as the postgres user, a free 127.0.0.1 port, trust auth for keyward_test)
#     for the store contract suite, migrations and leader-lock tests; stopped and deleted on exit.
pg_dir="$(mktemp -d /tmp/keyward-test-pg.XXXXXX)"
trap 'tests/postgres-cluster.sh stop "$pg_dir"' EXIT
if KEYWARD_TEST_POSTGRES="$(tests/postgres-cluster.sh start "$pg_dir")"; then
  export KEYWARD_TEST_POSTGRES
else
  echo "test.sh: could not start PostgreSQL (see above)" >&2
  echo "0 passed, 1 failed"
  exit 1
fi

# 3. Build once, then run every test project; each writes a TRX file we total at the end.
results="$here/artifacts/test-results"
rm -rf "$results"; mkdir -p "$results"
if ! dotnet build Keyward.slnx -v quiet -nologo > "$results/build.log" 2>&1; then
  cat "$results/build.log"
  echo "0 passed, 1 failed"
  exit 1
fi
# 3b. The NativeAOT binary, built once by the launcher (reused when README command 1 already built it from these
#     sources): the process-based CLI tests run it (KEYWARD_TEST_BINARY), so the suite exercises what ships. Without a
#     C toolchain they run the JIT build; a native build that fails with one counts as a failure.
native_failed=0
if command -v clang >/dev/null 2>&1 || command -v gcc >/dev/null 2>&1; then
  echo "test.sh: building the native binary (./keyward)" >&2
  started=$SECONDS
  if ./keyward --version > "$results/native-build.log" 2>&1 && [[ ! -f artifacts/cli/keyward.dll ]]; then
    export KEYWARD_TEST_BINARY="$here/artifacts/cli/keyward"
    echo "test.sh: native binary ready in $((SECONDS - started)) s; process-based tests run it" >&2
  else
    cat "$results/native-build.log" >&2
    echo "test.sh: FAILED to build the native binary (output above); process-based tests run the JIT build" >&2
    native_failed=1
  fi
else
  echo "test.sh: no C toolchain (clang or gcc): process-based tests run the JIT build, not the native binary" >&2
fi
# Names and messages of failed tests, from the TRX file (the quiet console log has only the totals).
report_failures() {
  if [[ -f "$1" ]]; then
    /usr/bin/python3 - "$1" >&2 <<'PY'
import sys, xml.etree.ElementTree as ET
ns = {"t": "http://microsoft.com/schemas/VisualStudio/TeamTest/2010"}
for r in ET.parse(sys.argv[1]).getroot().iterfind(".//t:UnitTestResult", ns):
    if r.get("outcome") == "Failed":
        msg = r.find(".//t:Message", ns)
        print("FAILED", r.get("testName"))
        if msg is not None and msg.text: print("  " + msg.text.strip().replace("\n", "\n  ")[:2000])
PY
  else
    tail -40 "$2" >&2
  fi
}

status=0
for proj in tests/*/*.Tests.csproj; do
  name="$(basename "$proj" .csproj)"
  echo "test.sh: $name" >&2
  dotnet test "$proj" --no-build -nologo -v quiet --logger "trx;LogFileName=$name.trx" --results-directory "$results" "$@" \
    > "$results/$name.log" 2>&1 || { status=1; report_failures "$results/$name.trx" "$results/$name.log"; }
done

passed=0; failed=0; skipped=0
for trx in "$results"/*.trx; do
  [[ -f "$trx" ]] || continue
  counters="$(grep -o '<Counters [^>]*>' "$trx" | head -1)"
  p=$(sed -n 's/.* passed="\([0-9]*\)".*/\1/p' <<<"$counters"); f=$(sed -n 's/.* failed="\([0-9]*\)".*/\1/p' <<<"$counters")
  t=$(sed -n 's/.* total="\([0-9]*\)".*/\1/p' <<<"$counters"); e=$(sed -n 's/.* executed="\([0-9]*\)".*/\1/p' <<<"$counters")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${t:-0} - ${e:-0}))
done
# A project that crashed before writing its TRX counts as a failure.
n_trx=$(ls "$results"/*.trx 2>/dev/null | wc -l); n_proj=$(ls tests/*/*.Tests.csproj | wc -l)
if [[ $n_trx -lt $n_proj ]]; then failed=$((failed + n_proj - n_trx)); fi
failed=$((failed + native_failed))
# No test may replace a device node (an atomic write aimed at /dev/null renames a regular file over it): once, on this
# machine, /dev/null was found a regular file after a session's work, and every later redirect into it broke.
if [[ ! -c /dev/null ]]; then
  echo "test.sh: FAILED: /dev/null is no longer a character device after the tests" >&2
  failed=$((failed + 1))
fi
[[ $failed -gt 0 ]] && status=1
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
