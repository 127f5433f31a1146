using System.Globalization;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Store.Audit;

namespace Keyward.Store;

/// <summary>
/// The audit head as last committed, kept beside keyward.db in <c>audit-head</c>: a copy outside the database, so a store
/// that lost committed writes — its <c>-wal</c> file deleted before SQLite folded it in, or an older keyward.db put back —
/// is seen at the next open instead of silently undoing a rotation. Written after each commit that moved the head
/// (never before: a crash in between leaves the copy behind the database, which is fine), checked at every open.
/// Fixed width (<c>20-digit seq:hash:mac</c>, 151 bytes), written in place and fsynced: one sector, no temporary file.
/// </summary>
internal static class StateAnchor
{
    public const string FileName = "audit-head";

    private const int Width = 20 + 1 + 64 + 1 + 64 + 1;

    public static void Write(string directory, AuditHead head)
    {
        var path = Path.Combine(directory, FileName);
        var text = string.Create(CultureInfo.InvariantCulture, $"{head.Sequence:D20}:{head.Hash}:{head.Mac}\n");
        var bytes = Encoding.ASCII.GetBytes(text);
        var existed = File.Exists(path);
        using (var handle = StatePosix.OpenLockFile(path))
        {
            RandomAccess.Write(handle, bytes, 0);
            RandomAccess.SetLength(handle, bytes.Length);
            StatePosix.Fsync(handle, path);
        }
        if (!existed) StatePosix.FsyncDirectory(directory);
    }

    /// <summary>Throws KW0324 when the copy names a later point of the audit chain than <paramref name="databaseHead"/>,
    /// or the same point with another hash. A missing or unreadable copy proves nothing and passes.</summary>
    public static void Check(string directory, string? databaseHead, string databasePath)
    {
        var path = Path.Combine(directory, FileName);
        string text;
        try
        {
            if (!File.Exists(path)) return;
            text = File.ReadAllText(path, Encoding.ASCII).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return;
        }
        if (text.Length != Width - 1 || AuditHead.TryParse(text) is not { } anchored) return;
        var current = AuditHead.TryParse(databaseHead);
        var seq = current?.Sequence ?? 0;
        if (anchored.Sequence > seq || (anchored.Sequence == seq && current is not null && !AuditChain.HashEquals(anchored.Hash, current.Hash)))
        {
            throw ErrorCodes.StoreRolledBack.Exception(string.Create(CultureInfo.InvariantCulture,
                $"{databasePath} ends at audit entry {seq}, but {path} records that entry {anchored.Sequence} was committed: the database lost writes it had committed (a deleted -wal file, or an older copy restored)"));
        }
    }
}
