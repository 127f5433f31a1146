#!/usr/bin/env python3
"""Generates a large Keyward manifest for the apply benchmark.

usage: manifest.py N_CREDENTIALS OUT_DIR
Writes OUT_DIR/keyward.yaml and OUT_DIR/tokens.json: N credentials (10% HS256 secrets, 10% Nix signing keys,
60% Attic tokens signed by those secrets, 20% external tokens from one JSON map) and one sink per credential
(raw for values, nix-conf for the public keys, env for the secrets), so credentials and sinks are equal in number.
"""
import json, os, sys

n = int(sys.argv[1]); out = sys.argv[2]
os.makedirs(out, exist_ok=True)
n_sec = n // 10; n_nix = n // 10; n_ext = n // 5; n_tok = n - n_sec - n_nix - n_ext
lines = ["apiVersion: keyward/v1", "credentials:"]
sinks = ["sinks:"]
tokens = {}
for i in range(n_sec):
    lines += [f"  jwt-{i}:", "    kind: secret", "    bytes: 32", "    owner: bench", "    purpose: bench signer"]
    sinks += [f"  env-{i}:", f"    path: /srv/bench/env/{i}.env", "    format: env", "    mode: \"0600\"",
              f"    entries: {{ SECRET_B64: {{ credential: jwt-{i}, encoding: base64 }} }}"]
for i in range(n_nix):
    lines += [f"  nix-{i}:", "    kind: nix-signing-key", f"    keyName: cache-{i}-1", "    owner: bench", "    purpose: bench cache key"]
    sinks += [f"  nixconf-{i}:", f"    path: /srv/bench/nix/{i}.conf", "    format: nix-conf", "    mode: \"0644\"",
              f"    substituters: [\"https://cache-{i}.example.org/\"]", f"    trustedPublicKeys: [nix-{i}]"]
for i in range(n_tok):
    lines += [f"  tok-{i}:", "    kind: attic-token", f"    signedBy: jwt-{i % n_sec}", f"    subject: runner-{i}", "    validity: 30d",
              "    owner: bench", "    purpose: bench token", "    caches:", f"      cache-{i % 97}: [pull, push]"]
    sinks += [f"  tokfile-{i}:", f"    path: /srv/bench/tok/{i}.token", "    format: raw", "    mode: \"0600\"", f"    credential: tok-{i}"]
for i in range(n_ext):
    host = f"git{i}.example.org"
    tokens[host] = f"{i:08x}" + "0123456789abcdef0123456789abcdef"
    lines += [f"  ext-{i}:", "    kind: external", "    provider: gitea", f"    host: {host}", "    owner: bench", "    purpose: bench import",
              f"    source: {{ jsonMap: tokens.json, key: {host} }}"]
    sinks += [f"  extfile-{i}:", f"    path: /srv/bench/ext/{i}.token", "    format: raw", "    mode: \"0600\"", f"    credential: ext-{i}"]
with open(os.path.join(out, "keyward.yaml"), "w") as f:
    f.write("\n".join(lines + sinks) + "\n")
with open(os.path.join(out, "tokens.json"), "w") as f:
    json.dump(tokens, f)
