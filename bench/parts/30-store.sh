#!/usr/bin/env bash
# Store: Keyward's encrypted SQLite store vs the file-per-secret way (agenix/sops style: one `age -e` per secret)
# and vs plain unencrypted sqlite3 inserts (the floor: what SQLite alone costs).
set -euo pipefail
n=${KW_STORE_N:-10000}
n_age=${KW_STORE_AGE_N:-500}
dir="$KW_BENCH/store"
rm -rf "$dir"; mkdir -p "$dir"
echo "### Store: writing, listing and decrypting $n credentials"
echo
echo "Keyward: \`$KW_BENCH_BIN store $n 5\` (in process, fresh state per run, median of 5; writes are one transaction,"
echo "WAL, synchronous=FULL, each value XChaCha20-Poly1305 with its own nonce plus an HMAC fingerprint)."
echo "age: \`age -e -r RECIPIENT -o DIR/secret-i.age\` per secret ($n_age secrets, then scaled per item), \`age -d -i KEY\` per secret."
echo "sqlite3: \`INSERT\` of $n random 32-byte blobs in one transaction, no encryption (\`sqlite3 DB < inserts.sql\`)."
echo
"$KW_BENCH_BIN" store "$n" 5
ms() { date +%s%N; }
age-keygen -o "$dir/key.txt" 2>/dev/null
recipient="$(age-keygen -y "$dir/key.txt")"
mkdir -p "$dir/age"
t0=$(ms)
for ((i = 0; i < n_age; i++)); do head -c 32 /dev/urandom | age -e -r "$recipient" -o "$dir/age/secret-$i.age"; done
t1=$(ms)
for ((i = 0; i < n_age; i++)); do age -d -i "$dir/key.txt" "$dir/age/secret-$i.age" >/dev/null; done
t2=$(ms)
{
  echo "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE v (name TEXT PRIMARY KEY, value BLOB); BEGIN;"
  for ((i = 0; i < n; i++)); do echo "INSERT INTO v VALUES ('cred-$i', randomblob(32));"; done
  echo "COMMIT;"
} > "$dir/inserts.sql"
t3=$(ms)
sqlite3 "$dir/plain.db" < "$dir/inserts.sql" >/dev/null
t4=$(ms)
echo
echo "| other tool | items | total ms | µs per item |"
echo "|---|---:|---:|---:|"
awk -v na="$n_age" -v n="$n" -v a="$(( (t1 - t0) / 1000000 ))" -v b="$(( (t2 - t1) / 1000000 ))" -v c="$(( (t4 - t3) / 1000000 ))" 'BEGIN {
  printf "| age -e per secret (file per secret) | %d | %d | %.1f |\n", na, a, a * 1000 / na;
  printf "| age -d per secret | %d | %d | %.1f |\n", na, b, b * 1000 / na;
  printf "| sqlite3 plaintext inserts, one transaction | %d | %d | %.1f |\n", n, c, c * 1000 / n }'
rm -rf "$dir"
