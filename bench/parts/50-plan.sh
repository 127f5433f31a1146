#!/usr/bin/env bash
# Rotation planning in generated credential graphs (10% signing secrets and cache keys, 50% tokens, 40% sinks).
set -euo pipefail
echo "### Rotation planning (graph build + plan)"
echo
echo "Command: \`\$KW_BENCH_BIN plan 10000 100000 1000000\` (bench/Keyward.Bench/PlanBench.cs). Each graph is generated in"
echo "memory; the build column is GraphBuilder.Build over the whole manifest, the plan columns are RotationPlanner.Plan of"
echo "one JWT secret (10 tokens and their sinks) and one cache key (two-phase), medians of 7 runs (3 at 1M). Goal: plan ≤ 200 ms"
echo "at 100k nodes, and linear growth (the last column should stay flat)."
echo
"$KW_BENCH_BIN" plan 10000 100000 1000000
