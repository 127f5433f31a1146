using System.Data.Common;
using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Store.Audit;

/// <summary>
/// The seal over everything a key-less writer of the database could flip to change what Keyward delivers or accepts:
/// every version row but its ciphertext (state, expiry, metadata, fingerprint — the ciphertext has its own AEAD tag),
/// every ledger row (a revocation undone would let the gate accept a leaked token), and the audit chain head (which ties
/// the seal to one point of the log, so an older seal replayed with older rows needs the log rolled back as well).
/// Rewritten in every transaction that changes any of them, checked whenever a store is opened.
/// <para>
/// <c>v1:</c> + hex HMAC-SHA256(audit key, UTF-8(label) ‖ 0x00 ‖ F(head) ‖ versions ‖ 0x03 ‖ tokens ‖ 0x03), each row
/// 0x02 ‖ F(column)… for every column but the nonce and ciphertext, as the database's text (F as in the audit chain:
/// 0x00 for null, else 0x01 ‖ u32be(len) ‖ UTF-8; integers in decimal); versions in (name, version) order, tokens in
/// id order, both by byte order. Columns are sealed as stored, not parsed (docs/store.md, "State seal").
/// </para>
/// </summary>
internal sealed class StateSeal : IDisposable
{
    public const string Label = "keyward/store/v1 state-seal";
    public const string Prefix = "v1:";

    // The MAC is computed as the rows are read, through a buffer of 64 KiB: the sealed text of 10,000 versions and their
    // tokens is several MB, which a growing buffer allocated (and the kernel zeroed) twice over on every store open.
    private readonly IncrementalHash _mac;
    private readonly byte[] _chunk = new byte[64 * 1024];
    private int _used;

    public StateSeal(byte[] auditKey, string? auditHead)
    {
        _mac = IncrementalHash.CreateHMAC(HashAlgorithmName.SHA256, auditKey);
        Append(Encoding.UTF8.GetBytes(Label));
        Append([0]);
        Field(auditHead);
    }

    /// <summary>How many version and ledger rows were sealed.</summary>
    public int Rows { get; private set; }

    /// <summary>The version rows in seal order, every column but the nonce and ciphertext (SQLite's BINARY collation is
    /// byte order; an integer column reads as its decimal text).</summary>
    public const string SqliteVersionRows = "SELECT name, version, kind, state, created, expires, origin, metadata, fingerprint FROM versions ORDER BY name, version;";

    public const string SqliteLedgerRows = "SELECT token_id, credential, version, subject, permissions, issued, expires, fingerprint, signed_by, signed_by_version, revoked FROM ledger ORDER BY token_id;";

    /// <summary>The same rows from PostgreSQL, every column as text (COLLATE "C" is byte order).</summary>
    public const string PostgresVersionRows = "SELECT name, version::text, kind, state, created, expires, origin, metadata, fingerprint FROM versions ORDER BY name COLLATE \"C\", version;";

    public const string PostgresLedgerRows = "SELECT token_id, credential, version::text, subject, permissions, issued, expires, fingerprint, signed_by, signed_by_version::text, revoked FROM ledger ORDER BY token_id COLLATE \"C\";";

    /// <summary>Adds every row of one of the queries above, then ends the section.</summary>
    public void AddRows(DbDataReader reader) => AddRows(reader, null);

    /// <summary><see cref="AddRows(DbDataReader)"/> that also hands each row's columns, as sealed, to
    /// <paramref name="rows"/> (the store reuses the version rows it has just read and sealed instead of reading them again).</summary>
    public void AddRows(DbDataReader reader, List<string?[]>? rows)
    {
        while (reader.Read())
        {
            var row = Row(reader);
            rows?.Add(row);
        }
        EndRows();
    }

    public async Task AddRowsAsync(DbDataReader reader, CancellationToken ct)
    {
        while (await reader.ReadAsync(ct).ConfigureAwait(false)) Row(reader);
        EndRows();
    }

    private string?[] Row(DbDataReader reader)
    {
        BeginRow();
        var columns = new string?[reader.FieldCount];
        for (var i = 0; i < columns.Length; i++)
        {
            columns[i] = reader.IsDBNull(i) ? null : reader.GetString(i);
            Field(columns[i]);
        }
        return columns;
    }

    /// <summary>Starts one row (for a caller that reads the columns itself, as <see cref="Field(ReadOnlySpan{byte})"/>).</summary>
    public void BeginRow()
    {
        Rows++;
        Append([2]);
    }

    /// <summary>Ends a section of rows.</summary>
    public void EndRows() => Append([3]);

    /// <summary>A null column.</summary>
    public void NullField() => Append([0]);

    /// <summary>A column as the database's UTF-8 text, sealed exactly as <see cref="Field(string)"/> seals the string the
    /// text decodes to: valid UTF-8 is that string's encoding already, so it is sealed as it is, without a string in between
    /// (the seal check reads 16,000 rows of ~10 columns on every open); anything else is decoded and re-encoded, the
    /// replacement characters included, as before.</summary>
    public void Field(ReadOnlySpan<byte> utf8)
    {
        if (!System.Text.Unicode.Utf8.IsValid(utf8))
        {
            Field(Encoding.UTF8.GetString(utf8));
            return;
        }
        var length = utf8.Length;
        if (5 + length > _chunk.Length - _used) Flush();
        if (5 + length > _chunk.Length)
        {
            Span<byte> header = stackalloc byte[5];
            header[0] = 1;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(header[1..], (uint)length);
            _mac.AppendData(header);
            _mac.AppendData(utf8);
            return;
        }
        var span = _chunk.AsSpan(_used);
        span[0] = 1;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)length);
        utf8.CopyTo(span[5..]);
        _used += 5 + length;
    }

    /// <summary>The seal of everything added (once: the MAC is spent).</summary>
    public string Finish()
    {
        Flush();
        return Prefix + Convert.ToHexStringLower(_mac.GetHashAndReset());
    }

    public void Dispose()
    {
        _mac.Dispose();
        CryptographicOperations.ZeroMemory(_chunk);
    }

    private void Flush()
    {
        _mac.AppendData(_chunk, 0, _used);
        _used = 0;
    }

    private void Append(ReadOnlySpan<byte> bytes)
    {
        if (bytes.Length > _chunk.Length - _used) Flush();
        if (bytes.Length > _chunk.Length)
        {
            _mac.AppendData(bytes);
            return;
        }
        bytes.CopyTo(_chunk.AsSpan(_used));
        _used += bytes.Length;
    }

    private void Field(string? value)
    {
        if (value is null)
        {
            Append([0]);
            return;
        }
        var length = Encoding.UTF8.GetByteCount(value);
        if (5 + length > _chunk.Length - _used) Flush();
        if (5 + length > _chunk.Length)
        {
            // Longer than the buffer (never expected of a row's column): encoded on its own.
            var bytes = new byte[5 + length];
            bytes[0] = 1;
            System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(bytes.AsSpan(1), (uint)length);
            Encoding.UTF8.GetBytes(value, bytes.AsSpan(5));
            _mac.AppendData(bytes);
            return;
        }
        var span = _chunk.AsSpan(_used);
        span[0] = 1;
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(span[1..], (uint)length);
        Encoding.UTF8.GetBytes(value, span[5..]);
        _used += 5 + length;
    }

    /// <summary>Throws KW0310 unless <paramref name="stored"/> equals <paramref name="computed"/>, the seal of the rows as
    /// they are now. Without a seal, a store passes only when it holds no versions and no tokens (nothing to protect
    /// yet), or when its audit head was written before the seal existed (<see cref="SealCheck.Unsealed"/>: the caller
    /// seals it). A head under the sealed label, or rows without any head, mean the seal was deleted.</summary>
    public static SealCheck Check(byte[] auditKey, string? stored, StateSeal computed, string? auditHead, string location)
    {
        if (stored is null)
        {
            if (computed.Rows == 0) return SealCheck.Intact;
            if (AuditHead.TryParse(auditHead) is { } head && head.IsLegacy(auditKey)) return SealCheck.Unsealed;
            throw ErrorCodes.StoreTampered.Exception(
                $"the state seal of {location} was deleted: the store holds credentials and its audit head says it was sealed",
                "restore the state from a backup and investigate who could write the database");
        }
        if (!AuditChain.HashEquals(computed.Finish(), stored))
        {
            throw ErrorCodes.StoreTampered.Exception(
                $"the credential state in {location} was altered outside Keyward: which versions are active, their expiry or metadata, a token's revocation, or the audit head no longer match the store's seal",
                "restore the state from a backup (a version flipped back to active may be a leaked one) and investigate who could write the database");
        }
        return SealCheck.Intact;
    }
}

internal enum SealCheck
{
    Intact,
    /// <summary>Rows but no seal, and an audit head from before the seal existed: the store is sealed as it is, once its
    /// audit chain is verified intact.</summary>
    Unsealed,
}
