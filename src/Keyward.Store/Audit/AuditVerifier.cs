using System.Globalization;
using Keyward.Core.Store;

namespace Keyward.Store.Audit;

/// <summary>
/// Recomputes an audit chain read from any store (SQLite or PostgreSQL): the rows in sequence order, the chain head
/// kept in meta, and how many credential versions the store holds. Pure: the stores only read and hand over.
/// </summary>
internal static class AuditVerifier
{
    public static List<string> Verify(byte[] auditKey, IReadOnlyList<AuditRecord> rows, string? headText, long versionCount)
    {
        var problems = new List<string>();
        long expected = 1;
        var previousHash = AuditChain.Genesis;
        foreach (var row in rows)
        {
            var e = row.Event;
            var label = string.Create(CultureInfo.InvariantCulture, $"entry {row.Sequence} ({e.Action} {e.Credential})");
            if (row.Sequence > expected)
            {
                problems.Add(row.Sequence == expected + 1
                    ? string.Create(CultureInfo.InvariantCulture, $"entry {expected} is missing (deleted)")
                    : string.Create(CultureInfo.InvariantCulture, $"entries {expected}..{row.Sequence - 1} are missing (deleted)"));
            }
            if (!AuditChain.HashEquals(row.PreviousHash, previousHash))
            {
                problems.Add($"{label} does not follow the entry before it: the chain was broken (entries deleted, reordered or inserted)");
            }
            if (!IsHash(row.PreviousHash) || !IsHash(row.Hash)
                || !AuditChain.HashEquals(AuditChain.Hash(auditKey, row.PreviousHash, row.Sequence, e), row.Hash))
            {
                problems.Add($"{label} was altered: its content does not match its hash");
            }
            previousHash = row.Hash;
            expected = row.Sequence + 1;
        }
        var lastSequence = expected - 1;
        var head = AuditHead.TryParse(headText);
        if (head is null)
        {
            if (headText is not null || rows.Count > 0) problems.Add("the audit chain head is missing or malformed");
            // Every mint, import and rotation is audited: versions with no log and no head mean both were deleted
            // (issue 9: this passed as "audit log intact: 0 entries").
            else if (versionCount > 0)
                problems.Add(string.Create(CultureInfo.InvariantCulture, $"the audit log is empty but the store holds {versionCount} credential versions: the log and its chain head were deleted"));
        }
        else if (!head.IsAuthentic(auditKey))
        {
            problems.Add("the audit chain head was altered");
        }
        else if (head.Sequence > lastSequence)
        {
            problems.Add(head.Sequence == lastSequence + 1
                ? string.Create(CultureInfo.InvariantCulture, $"the newest entry {head.Sequence} was deleted")
                : string.Create(CultureInfo.InvariantCulture, $"the newest entries {lastSequence + 1}..{head.Sequence} were deleted"));
        }
        else if (head.Sequence < lastSequence)
        {
            problems.Add(string.Create(CultureInfo.InvariantCulture, $"entries {head.Sequence + 1}..{lastSequence} were added outside Keyward"));
        }
        else if (!AuditChain.HashEquals(head.Hash, previousHash))
        {
            problems.Add("the newest entry does not match the chain head");
        }
        return problems;
    }

    private static bool IsHash(string s) => s.Length == 64 && s.All(char.IsAsciiHexDigitLower);
}
