#!/usr/bin/env bash
# Builds the Keyward container image with no registry at all: `FROM scratch` plus the NativeAOT binary and exactly the
# shared libraries it needs, taken from this (Debian) host — the same set the chiseled runtime-deps base carries
# (libc, libm, the loader, libgcc_s; libssl/libcrypto, which the runtime dlopens for TLS and RSA; CA certificates).
# Use it where mcr.microsoft.com cannot be reached; deploy/container/Containerfile is the build for everywhere else.
#
#   deploy/container/build-local.sh OUT.tar [BINARY_DIR]     (as root; needs buildah)
#
# BINARY_DIR holds `keyward` with libe_sqlite3.so and libsodium.so beside it (default: artifacts/cli, what ./keyward
# builds). Writes an OCI archive (`podman load -i OUT.tar`, `skopeo copy oci-archive:OUT.tar docker://…`). The image
# runs as 1654:1654 with /var/lib/keyward as its state volume, like the Containerfile's.
set -euo pipefail
out="${1:?usage: build-local.sh OUT.tar [BINARY_DIR]}"
bin="${2:-$(cd "$(dirname "$0")/../.." && pwd)/artifacts/cli}"
command -v buildah >/dev/null || { echo "build-local.sh: buildah is not installed (apt-get install buildah)" >&2; exit 2; }
[[ -x "$bin/keyward" ]] || { echo "build-local.sh: no $bin/keyward (run ./keyward --version once to build it)" >&2; exit 2; }
b=(buildah --storage-driver vfs)

lib() { # the real file behind a library name the loader would find
  local f
  f="$(ldconfig -p | awk -v n="$1" '$1 == n && /x86-64/ { print $NF; exit }')"
  [[ -n "$f" ]] || { echo "build-local.sh: library $1 not found on this host" >&2; exit 2; }
  readlink -f "$f"
}

stage="$(mktemp -d)"
ctr=""
cleanup() { [[ -n "$ctr" ]] && "${b[@]}" rm "$ctr" >/dev/null 2>&1; rm -rf "$stage"; }
trap cleanup EXIT

chmod 0755 "$stage"   # becomes the image's /: the user 1654 must be able to enter it
mkdir -p "$stage/app" "$stage/lib/x86_64-linux-gnu" "$stage/lib64" "$stage/etc/ssl/certs" "$stage/var/lib" "$stage/tmp"
install -m 0755 "$bin/keyward" "$stage/app/keyward"
for f in libe_sqlite3.so libsodium.so; do install -m 0755 "$bin/$f" "$stage/app/$f"; done
for name in libc.so.6 libm.so.6 libgcc_s.so.1 libssl.so.3 libcrypto.so.3; do
  install -m 0755 "$(lib "$name")" "$stage/lib/x86_64-linux-gnu/$name"
done
install -m 0755 "$(readlink -f /lib64/ld-linux-x86-64.so.2)" "$stage/lib64/ld-linux-x86-64.so.2"
install -m 0644 /etc/ssl/certs/ca-certificates.crt "$stage/etc/ssl/certs/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\napp:x:1654:1654:keyward:/var/lib/keyward:/sbin/nologin\n' > "$stage/etc/passwd"
printf 'root:x:0:\napp:x:1654:\n' > "$stage/etc/group"
chmod 1777 "$stage/tmp"

ctr="$("${b[@]}" from scratch)"
# buildah copy makes everything root's (modes kept): the tree first, then the state directory with --chown, so the
# binary is root's and 0755 and only /var/lib/keyward belongs to the user the image runs as.
"${b[@]}" copy "$ctr" "$stage/" / >/dev/null
# (The directory is copied as an item of its parent: a directory buildah creates as a destination gets 0755.)
state="$(mktemp -d)"; mkdir -m 0700 "$state/keyward"
"${b[@]}" copy --chown 1654:1654 "$ctr" "$state/" /var/lib/ >/dev/null
rm -r "$state"
"${b[@]}" config \
  --label org.opencontainers.image.title=keyward \
  --label "org.opencontainers.image.description=Key and token authority for self-hosted Nix and GitOps infrastructure" \
  --env KEYWARD_STATE=/var/lib/keyward --env DOTNET_SYSTEM_GLOBALIZATION_INVARIANT=true \
  --volume /var/lib/keyward --user 1654:1654 --workingdir /var/lib/keyward --port 8443 \
  --entrypoint '["/app/keyward"]' \
  --cmd 'serve -f /etc/keyward/keyward.yaml --state /var/lib/keyward --listen 0.0.0.0:8443 --tls-cert /etc/keyward/tls/tls.crt --tls-key /etc/keyward/tls/tls.key' \
  "$ctr"
rm -f "$out"
"${b[@]}" commit --format oci "$ctr" "oci-archive:$out" >/dev/null
echo "$out"
