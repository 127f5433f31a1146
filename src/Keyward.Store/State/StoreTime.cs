using System.Globalization;

namespace Keyward.Store;

/// <summary>Times are stored as ISO 8601 UTC text with 7 fractional digits: exact round trip, sortable as text, readable in sqlite3.</summary>
internal static class StoreTime
{
    private const string Pattern = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    public static string Format(DateTimeOffset at) => at.UtcDateTime.ToString(Pattern, CultureInfo.InvariantCulture);

    public static DateTimeOffset Parse(string text) =>
        new(DateTime.SpecifyKind(DateTime.ParseExact(text, Pattern, CultureInfo.InvariantCulture), DateTimeKind.Utc));
}
