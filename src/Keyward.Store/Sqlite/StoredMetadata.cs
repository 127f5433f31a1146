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

    public static StoredMetadata Parse(string json)
    {
        var keys = new List<string>(8);
        var values = new List<string>(8);
        try
        {
            var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(json));
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject) throw NotAnObject();
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var key = reader.GetString()!;
                if (!reader.Read() || reader.TokenType != JsonTokenType.String) throw NotAnObject();
                var value = reader.GetString()!;
                var at = keys.BinarySearch(key, StringComparer.Ordinal);
                if (at >= 0) values[at] = value; // a repeated key: the last one wins, as the serializer's indexer did
                else
                {
                    keys.Insert(~at, key);
                    values.Insert(~at, value);
                }
            }
            if (reader.TokenType != JsonTokenType.EndObject || reader.Read()) throw NotAnObject();
        }
        catch (JsonException)
        {
            throw NotAnObject();
        }
        return new StoredMetadata([.. keys], [.. values]);
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
