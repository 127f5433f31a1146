#!/usr/bin/env bash
# keyward check over 1,000 credentials against a local server, with bounded concurrency.
set -euo pipefail
echo "### Live checks (1,000 credentials against a local server)"
echo
echo "Command: \`\$KW_BENCH_BIN check 1000 8 32 128\` (bench/Keyward.Bench/CheckBench.cs). 1,000 external Gitea tokens, each"
echo "validated with \`GET /api/v1/user\` against a keep-alive HTTP server on loopback, through the full CheckRunner (resilience"
echo "policy, per-check timeout, conditions); the floor is 1,000 bare HttpClient GETs with the same bound. Medians of 5 runs."
echo "Goal: ≤ 2 s wall with bounded concurrency (the CLI default bound is 32)."
echo
"$KW_BENCH_BIN" check 1000 8 32 128
