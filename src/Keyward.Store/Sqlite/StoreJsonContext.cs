using System.Text.Json.Serialization;

namespace Keyward.Store.Sqlite;

/// <summary>The JSON the SQLite store writes (a version's metadata, a name list for <c>json_each</c>), source-generated
/// for NativeAOT; default options, so the text is what the reflection serializer wrote.</summary>
[JsonSerializable(typeof(string[]))]
[JsonSerializable(typeof(SortedDictionary<string, string>))]
internal sealed partial class StoreJsonContext : JsonSerializerContext;
