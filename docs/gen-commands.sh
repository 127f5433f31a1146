#!/usr/bin/env bash
# Regenerates docs/commands.md from the CLI's own --help (so the reference cannot drift from the code).
# usage: docs/gen-commands.sh [KEYWARD_BINARY]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
kw="${1:-$here/../keyward}"
commands=("init" "plan" "plan rotate" "plan exposed" "apply" "list" "get" "rotate" "graph" "audit" "audit verify"
  "check" "reconcile" "bootstrap" "nix keygen" "nix pubkey" "nix sign" "nix verify-cache" "token mint" "token inspect"
  "token recognize" "tokens" "revoke" "encrypt" "decrypt" "keygen" "export agenix" "import agenix" "export sops" "import sops" "store recipients" "store add-recipient"
  "store recover" "store copy" "schema" "errors" "serve" "operator-token create" "agent" "completion" "man")
{
  cat <<'MD'
# Commands

Every command takes `--state DIR` (default `$KEYWARD_STATE`, else `/var/lib/keyward` as root, else
`$XDG_STATE_HOME/keyward`), `--store CONN` (default `$KEYWARD_STORE`: the store's rows in PostgreSQL,
`postgres://USER[:PASS]@HOST:PORT/DB[?sslmode=…]` or Npgsql `Key=value;…` pairs, while the identity stays in
`--state DIR`; unset, the SQLite store in the state directory; see [store.md](store.md#postgresql)), `--lock-timeout` (how long a command that writes the state waits for another writer:
default 30s, then KW0317; see [store.md](store.md#one-writer-at-a-time)), `--debug` (stack traces) and `--help`. Exit codes: **0** ok, **1** an operation failed
(a check failed, a hook failed, an upstream refused), **2** bad input or usage, and only with `plan --detailed-exitcode`
**3** changes pending (apply would create or update a credential or sink, or rotate what policy says is due; 0 then
means nothing to do), for CI gates. Errors print as
`keyward: error[KW1234]: …` followed by `  hint: …`; every code is listed in [errors.md](errors.md). A mistyped
command gets a did-you-mean hint naming the closest subcommand (at most a third of the word apart).
Commands that list or report take `--json`. `plan` and `apply` print a line per credential and sink; `--summary`
prints counts per action instead (create, update, unchanged, pending), `--quiet` only warnings, errors and a one-line
result. While `apply` stores credentials and writes sinks it shows progress on stderr: on a terminal a progress display
(bar, done/total, percentage, time left), otherwise one line per tenth of each phase (`[2500/10000] wrote /srv/x (25% of
writing sinks, about 6s left)`); `--quiet` shows none. Shell completions (`keyward completion bash|zsh|fish`) and the man page (`keyward man`)
are generated from the command tree; see [install.md](install.md#shell-completions-and-the-man-page). Secret values are printed only by the commands whose job it is
(`get`, `token mint`, `nix keygen`, `keygen`, `decrypt`), and those refuse a terminal unless told otherwise.
Input files (the manifest, credential sources, identities, keys, narinfos) must be regular files — a FIFO, device or
directory is KW0010 — of at most 16 MiB for manifests, narinfos and path lists and 1 MiB for the rest (KW0011).
`--debug` adds stack traces and changes nothing else: the exit code is the same as without it.

| command | what it does | details |
|---|---|---|
| `init` | create the state directory: age identity (0600) and encrypted store | [store.md](store.md) |
| `plan`, `apply` | compare the manifest with the store and the disk; make them match | [design.md](design.md#apply-semantics) |
| `list`, `get` | read the store (metadata; one value to a pipe) | [store.md](store.md) |
| `plan rotate`, `plan exposed`, `rotate`, `graph`, `audit` | rotation planning and crash-safe execution, the graph, the audit log | [rotation.md](rotation.md) |
| `check`, `reconcile`, `bootstrap` | live checks, Attic desired state, first-token bootstrap of Coder and Gitea (`bootstrap coder NAME`, `bootstrap gitea NAME`, `--wait`, `--deadline`: placeholder and instructions until a person acts, readiness probe first, state kept between runs) | [services.md](services.md) |
| `nix …` | Nix signing keys and narinfo signatures | [nix.md](nix.md) |
| `token …` | Attic JWTs and provider token recognition | [tokens.md](tokens.md) |
| `tokens`, `revoke` | the ledger of minted Attic tokens; mark one revoked | [store.md](store.md#ledger) |
| `encrypt`, `decrypt`, `keygen` | the age file format | [age.md](age.md) |
| `export agenix`, `import agenix`, `store …` | agenix interop, store recipients and recovery, `store copy` between SQLite and PostgreSQL | [agenix.md](agenix.md), [store.md](store.md) |
| `export sops`, `import sops` | SOPS files (age recipients) both ways | [sops.md](sops.md) |
| `schema`, `errors` | the manifest's JSON Schema; the error catalogue | [manifest.md](manifest.md), [errors.md](errors.md) |
| `serve`, `operator-token create` | run the authority as a service: controller loop, metrics, health, the operator API and its bearer tokens | [server.md](server.md) |
| `agent` | receive this host's sinks from `keyward serve`, authenticated by the host's SSH key (`--once`, `--watch`) | [agent.md](agent.md) |
| `completion`, `man` | shell completion scripts (bash, zsh, fish) and the keyward(1) man page, generated from the command tree | [install.md](install.md#shell-completions-and-the-man-page) |

The sections below are the commands' own `--help`, regenerated by `docs/gen-commands.sh`.
MD
  for c in "${commands[@]}"; do
    echo
    echo "## keyward $c"
    echo
    echo '```'
    # shellcheck disable=SC2086
    "$kw" $c --help | sed -n '/^Description:/,$p' | sed -e 's/[[:space:]]*$//'
    echo '```'
  done
} > "$here/commands.md"
echo "wrote $here/commands.md" >&2
