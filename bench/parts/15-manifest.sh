#!/usr/bin/env bash
# Manifest loading: ManifestLoader.Load (parse + validate into the model) on the issue-2 benchmark shape
# (N secrets + N sinks), against a bare YamlDotNet event scan and PyYAML's safe_load of the same file.
# Prints a markdown section. Env: KW_BENCH, KW_BENCH_BIN.
set -euo pipefail
n="${KW_MANIFEST_COUNT:-10000}"
file="$KW_BENCH/manifest/keyward.yaml"
"$KW_BENCH_BIN" manifest prepare "$file" "$n"
declare -A kw
while IFS='=' read -r k v; do kw[$k]="$v"; done < <("$KW_BENCH_BIN" manifest run "$file" 5)

py_ms="—"; py_loader="—"
if /usr/bin/python3 -c 'import yaml' 2>/dev/null; then
  read -r py_ms py_loader < <(/usr/bin/python3 - "$file" <<'PY'
import sys, time, statistics, yaml
Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
text = open(sys.argv[1]).read()
yaml.load(text, Loader=Loader)
samples = []
for _ in range(5):
    t = time.perf_counter(); yaml.load(text, Loader=Loader); samples.append((time.perf_counter() - t) * 1000)
print(f"{statistics.median(samples):.0f} {Loader.__name__}")
PY
)
fi

echo "### Manifest loading ($n credentials + $n sinks, ${kw[entries]} entries)"
echo
echo "In-process medians of 5 warm runs; \"first load\" is the first call in a fresh process (JIT included), which is"
echo "what one \`keyward plan\` pays. Validation covers every rule of docs/manifest.md (references, paths, modes, …)."
echo
echo '```'
echo "\$KW_BENCH_BIN manifest prepare \$KW_BENCH/manifest/keyward.yaml $n && \$KW_BENCH_BIN manifest run \$KW_BENCH/manifest/keyward.yaml 5"
echo "/usr/bin/python3 -c 'import yaml; yaml.load(open(F).read(), Loader=yaml.CSafeLoader)'"
echo '```'
echo
echo "| loader | ms | ratio |"
echo "|---|---:|---:|"
echo "| Keyward \`ManifestLoader.Load\`: parse, validate, build the model | ${kw[keyward_ms]} | ${kw[ratio_vs_scan]}× the scan |"
echo "| Keyward \`ManifestLoader.Load\`, first load in a fresh process | ${kw[keyward_cold_ms]} | |"
echo "| YamlDotNet event scan only (no tree, no validation) | ${kw[yaml_scan_ms]} | 1.0 |"
echo "| PyYAML \`safe_load\` ($py_loader), tree only, no validation | $py_ms | |"
