using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Text;

namespace Keyward.Crypto.Attic;

public static partial class AtticTokens
{
    /// <summary>
    /// The fast path for the payload Keyward and atticadm mint, byte for byte:
    /// <c>{"exp":N,"nbf":N,"sub":"…"[,"jti":"…"],"https://jwt.attic.rs/v1":{"caches":{"pattern":{"r":1,…},…}}}</c> with no
    /// whitespace, integer times, a printable-ASCII subject without escapes, valid distinct patterns and distinct 0/1
    /// flags. It accepts only a subset of what <see cref="ParseClaims"/> accepts and builds the same claims; anything
    /// else (other claims, another order, escapes, whitespace, an error of any kind) returns false so the general
    /// Utf8JsonReader parser decides, with its exact messages.
    /// </summary>
    private static bool TryParseCanonical(ReadOnlySpan<byte> json, [NotNullWhen(true)] out AtticClaims? claims)
    {
        claims = null;
        var p = 0;
        if (!Literal(json, ref p, """{"exp":"""u8) || !Seconds(json, ref p, out var exp)) return false;
        if (!Literal(json, ref p, ""","nbf":"""u8) || !Seconds(json, ref p, out var nbf)) return false;
        if (!Literal(json, ref p, ",\"sub\":\""u8)) return false;
        var subStart = p;
        while (p < json.Length && json[p] is >= 0x20 and < 0x7F and not (byte)'"' and not (byte)'\\') p++;
        if (p >= json.Length || json[p] != (byte)'"') return false; // an escape, a control or non-ASCII byte: general parser
        var subject = json[subStart..p];
        p++; // the closing quote
        string? jwtId = null;
        if (json[p..].StartsWith(",\"jti\":\""u8))
        {
            // The ledger id Keyward puts in every token it mints: printable ASCII without escapes, as the subject.
            p += 8;
            var idStart = p;
            while (p < json.Length && json[p] is >= 0x20 and < 0x7F and not (byte)'"' and not (byte)'\\') p++;
            if (p >= json.Length || json[p] != (byte)'"') return false;
            jwtId = Encoding.ASCII.GetString(json[idStart..p]);
            p++;
        }
        if (!Literal(json, ref p, ""","https://jwt.attic.rs/v1":{"caches":{"""u8)) return false;

        var grants = t_grants ??= new List<AtticGrant>(8);
        grants.Clear();
        if (p < json.Length && json[p] == (byte)'}') p++;
        else
        {
            while (true)
            {
                if (!Literal(json, ref p, "\""u8)) return false;
                var keyStart = p;
                var keyLength = json[keyStart..].IndexOfAnyExcept(PatternBytes);
                if (keyLength < 0) return false;
                p += keyLength;
                if (keyLength is 0 or > MaxPatternLength || !Literal(json, ref p, "\":{"u8)) return false;
                var keyBytes = json.Slice(keyStart, keyLength);
                var recent = t_recentPatterns ??= new PatternEntry?[RecentPatternSlots];
                var hash = 0u;
                foreach (var b in keyBytes) hash = (hash * 31) + b;
                var slot = (int)(hash & (RecentPatternSlots - 1));
                var entry = recent[slot];
                if (entry is null || !keyBytes.SequenceEqual(entry.Ascii))
                {
                    entry = SharedPattern(keyBytes);
                    if (entry is null) return false;
                    recent[slot] = entry;
                }
                foreach (var g in grants)
                    if (ReferenceEquals(g.Pattern, entry.Pattern) || g.Pattern.Text == entry.Pattern.Text)
                        return false; // a repeated pattern: left to the general parser's map rules

                int mask = 0, seen = 0;
                if (p < json.Length && json[p] == (byte)'}') p++;
                else
                {
                    while (true)
                    {
                        // "r":1 or "cc":0 — a one- or two-letter known flag, a colon, one digit, then ',' or '}'
                        if (json.Length - p < 6 || json[p] != (byte)'"') return false;
                        var flagLength = json[p + 2] == (byte)'"' ? 1 : json[p + 3] == (byte)'"' ? 2 : 0;
                        if (flagLength == 0) return false;
                        var bit = flagLength == 1
                            ? json[p + 1] switch { (byte)'r' => 0, (byte)'w' => 1, (byte)'d' => 2, _ => -1 }
                            : json[p + 1] != (byte)'c' ? -1
                            : json[p + 2] switch { (byte)'c' => 3, (byte)'r' => 4, (byte)'q' => 5, (byte)'d' => 6, _ => -1 };
                        p += flagLength + 2;
                        if (bit < 0 || (seen & (1 << bit)) != 0 || json.Length - p < 3 || json[p] != (byte)':') return false;
                        seen |= 1 << bit;
                        var value = json[p + 1];
                        var next = json[p + 2];
                        p += 3;
                        if (value == (byte)'1') mask |= 1 << bit;
                        else if (value != (byte)'0') return false;
                        if (next == (byte)'}') break;
                        if (next != (byte)',') return false;
                    }
                }
                grants.Add(entry.Grant(mask));

                if (p >= json.Length) return false;
                var after = json[p++];
                if (after == (byte)'}') break;
                if (after != (byte)',') return false;
            }
        }
        if (!Literal(json, ref p, "}}"u8) || p != json.Length) return false;

        claims = new AtticClaims
        {
            Exp = exp,
            Nbf = nbf,
            Subject = Encoding.ASCII.GetString(subject),
            JwtId = jwtId,
            Grants = grants.Count == 0 ? [] : grants.ToArray(),
        };
        return true;
    }

    // A small direct-mapped per-thread cache in front of the shared pattern dictionary: a hit costs one byte compare
    // instead of widening the key and hashing it.
    private const int RecentPatternSlots = 256;
    [ThreadStatic] private static PatternEntry?[]? t_recentPatterns;

    private static readonly SearchValues<byte> PatternBytes =
        SearchValues.Create("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+*"u8);

    /// <summary>The shared entry for an ASCII pattern key (null: not a valid pattern), off the hot path.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static PatternEntry? SharedPattern(ReadOnlySpan<byte> keyBytes)
    {
        Span<char> key = stackalloc char[MaxPatternLength];
        var n = Encoding.ASCII.GetChars(keyBytes, key);
        return TryPattern(key[..n], null, out var entry) ? entry : null;
    }

    private static bool Literal(ReadOnlySpan<byte> json, ref int p, ReadOnlySpan<byte> literal)
    {
        if (!json[p..].StartsWith(literal)) return false;
        p += literal.Length;
        return true;
    }

    /// <summary>A JSON integer (<c>-?(0|[1-9][0-9]*)</c>) within the range the general parser accepts; a fraction,
    /// exponent or anything out of range is left to the general parser (the next literal fails to match).</summary>
    private static bool Seconds(ReadOnlySpan<byte> json, ref int p, out long value)
    {
        value = 0;
        var negative = p < json.Length && json[p] == (byte)'-';
        if (negative) p++;
        var start = p;
        while (p < json.Length && json[p] is >= (byte)'0' and <= (byte)'9' && p - start < 13) value = value * 10 + (json[p++] - '0');
        var digits = p - start;
        if (digits == 0 || digits > 12 || (digits > 1 && json[start] == (byte)'0')) return false;
        if (negative) value = -value;
        return value is >= -62135596800 and <= 253402300799;
    }
}
