using Keyward.Core.Secrets;
using Keyward.Core.Store;

namespace Keyward.Engine.Minting;

/// <summary>A freshly minted or imported value with the facts stored beside it.</summary>
public sealed record MintResult(
    Secret Value,
    DateTimeOffset? ExpiresAt,
    string Origin,
    IReadOnlyDictionary<string, string> Metadata,
    LedgerEntry? Ledger,
    IReadOnlyList<string> Warnings);
