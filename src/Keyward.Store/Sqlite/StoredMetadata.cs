using System.Collections;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;

namespace Keyward.Store.Sqlite;

/// <summary>
/// A version's metadata as read from the store: a handful of string pairs kept in ordinal key order (the order the old
/// <c>SortedDictionary</c> gave), looked up by binary search. Read with <see cref="Utf8JsonReader"/> straight from the
/// column text: listing 10,000 versions on every apply made the serializer's per-row dictionary the store's main cost.
/// </summary>
internal sealed class StoredMetadata : IReadOnlyDictionary<string, string>
{
    private readonly string[] _keys;
    private readonly string[] _values;

    private StoredMetadata(string[] keys, string[] values)
    {
        _keys = keys;
        _values = values;
    }

    public static StoredMetadata Parse(string json) => Parse(Encoding.UTF8.GetBytes(json));

    // The keys Keyward writes, each kept as one string: a store of 10,000 versions repeats a handful of keys ~50,000 times.
    private static readonly string[] KnownKeys =
        ["algorithm", "detected", "host", "keyName", "permissions", "provider", "publicKey", "signedBy", "signedByVersion", "spec", "subject", "tokenId"];

    private static readonly byte[][] KnownKeysUtf8 = [.. KnownKeys.Select(Encoding.UTF8.GetBytes)];

    [ThreadStatic]
    private static string[]? t_keys;

    [ThreadStatic]
    private static string[]? t_values;

    // Keys whose values repeat across versions (a signer's name, a token's permissions, a provider): with an interner their
    // values are kept as one string each, not one per version.
    private static readonly HashSet<string> RepeatingValues = new(["algorithm", "detected", "host", "permissions", "provider", "signedBy", "signedByVersion"], StringComparer.Ordinal);

    /// <summary>The metadata in the column's UTF-8 text (what <see cref="Parse(string)"/> reads after encoding the string).</summary>
    /// <param name="interner">Shares the values of keys that repeat across the versions parsed with it.</param>
    public static StoredMetadata Parse(ReadOnlySpan<byte> utf8, Interner? interner = null)
    {
        var keys = t_keys ??= new string[16];
        var values = t_values ??= new string[16];
        var count = 0;
        try
        {
            var reader = new Utf8JsonReader(utf8);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw NotAnObject();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var key = Key(ref reader);
                if (!reader.Read() || reader.TokenType != JsonTokenType.String) throw NotAnObject();
                var value = interner is not null && RepeatingValues.Contains(key) ? interner.Get(ref reader) : reader.GetString()!;
                var at = Array.BinarySearch(keys, 0, count, key, StringComparer.Ordinal);
                if (at >= 0) values[at] = value; // a repeated key: the last one wins, as the serializer's indexer did
                else
                {
                    at = ~at;
                    if (count == keys.Length)
                    {
                        Array.Resize(ref keys, count * 2);
                        Array.Resize(ref values, count * 2);
                        (t_keys, t_values) = (keys, values);
                    }
                    Array.Copy(keys, at, keys, at + 1, count - at);
                    Array.Copy(values, at, values, at + 1, count - at);
                    keys[at] = key;
                    values[at] = value;
                    count++;
                }
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read()) throw NotAnObject();
            return new StoredMetadata(keys.AsSpan(0, count).ToArray(), values.AsSpan(0, count).ToArray());
        }
        catch (JsonException)
        {
            throw NotAnObject();
        }
        finally
        {
            Array.Clear(keys, 0, count);
            Array.Clear(values, 0, count);
        }
    }

    /// <summary>One string per distinct value (up to a few thousand of them), found without making a string.</summary>
    internal sealed class Interner
    {
        private const int MaxValues = 4096;
        private const int MaxLength = 128;
        private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

        /// <summary>The reader's string value, as <see cref="Utf8JsonReader.GetString"/> gives it.</summary>
        public string Get(ref Utf8JsonReader reader)
        {
            if (reader.ValueIsEscaped || reader.HasValueSequence || reader.ValueSpan.Length > MaxLength) return reader.GetString()!;
            Span<char> buffer = stackalloc char[MaxLength];
            var chars = buffer[..Encoding.UTF8.GetChars(reader.ValueSpan, buffer)];
            if (_values.GetAlternateLookup<ReadOnlySpan<char>>().TryGetValue(chars, out var known)) return known;
            var value = new string(chars);
            if (_values.Count < MaxValues) _values.Add(value, value);
            return value;
        }
    }

    private static string Key(ref Utf8JsonReader reader)
    {
        if (!reader.ValueIsEscaped && !reader.HasValueSequence)
        {
            var span = reader.ValueSpan;
            for (var i = 0; i < KnownKeysUtf8.Length; i++)
                if (span.SequenceEqual(KnownKeysUtf8[i])) return KnownKeys[i];
        }
        return reader.GetString()!;
    }

    private static KeywardException NotAnObject() =>
        ErrorCodes.StoreCorrupt.Exception("a version's metadata is not a JSON object of strings");

    private int IndexOf(string key) => Array.BinarySearch(_keys, key, StringComparer.Ordinal);

    public string this[string key] => IndexOf(key) is var i and >= 0 ? _values[i] : throw new KeyNotFoundException($"no metadata key '{key}'");

    public IEnumerable<string> Keys => _keys;

    public IEnumerable<string> Values => _values;

    public int Count => _keys.Length;

    public bool ContainsKey(string key) => IndexOf(key) >= 0;

    public bool TryGetValue(string key, out string value)
    {
        var i = IndexOf(key);
        value = i >= 0 ? _values[i] : null!;
        return i >= 0;
    }

    public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
    {
        for (var i = 0; i < _keys.Length; i++) yield return new KeyValuePair<string, string>(_keys[i], _values[i]);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();
}
