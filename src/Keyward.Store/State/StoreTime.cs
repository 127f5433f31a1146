using System.Globalization;

namespace Keyward.Store;

/// <summary>Times are stored as ISO 8601 UTC text with 7 fractional digits: exact round trip, sortable as text, readable in sqlite3.</summary>
internal static class StoreTime
{
    private const string Pattern = "yyyy-MM-dd'T'HH:mm:ss.fffffff'Z'";

    public static string Format(DateTimeOffset at) => at.UtcDateTime.ToString(Pattern, CultureInfo.InvariantCulture);

    public static DateTimeOffset Parse(string text) =>
        TryParseFixed(text) ?? new(DateTime.SpecifyKind(DateTime.ParseExact(text, Pattern, CultureInfo.InvariantCulture), DateTimeKind.Utc));

    // The exact shape Format writes (28 characters), read digit by digit: ParseExact costs a microsecond or so per call,
    // and listing the store parses two times per version. Anything else goes to ParseExact (and its errors).
    private static DateTimeOffset? TryParseFixed(string t)
    {
        if (t.Length != 28 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t[19] != '.' || t[27] != 'Z') return null;
        if (!Digits(t, 0, 4, out var year) || !Digits(t, 5, 2, out var month) || !Digits(t, 8, 2, out var day) || !Digits(t, 11, 2, out var hour)
            || !Digits(t, 14, 2, out var minute) || !Digits(t, 17, 2, out var second) || !Digits(t, 20, 7, out var ticks)) return null;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return null;
        return new DateTimeOffset(new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc).AddTicks(ticks));
    }

    /// <summary><see cref="Parse"/> of the column's UTF-8 text: the fixed shape is read from the bytes, anything else is
    /// decoded and handed to <see cref="Parse"/> (and its errors).</summary>
    public static DateTimeOffset Parse(ReadOnlySpan<byte> utf8) =>
        TryParseFixed(utf8) ?? Parse(System.Text.Encoding.UTF8.GetString(utf8));

    private static DateTimeOffset? TryParseFixed(ReadOnlySpan<byte> t)
    {
        if (t.Length != 28 || t[4] != '-' || t[7] != '-' || t[10] != 'T' || t[13] != ':' || t[16] != ':' || t[19] != '.' || t[27] != 'Z') return null;
        if (!Digits(t, 0, 4, out var year) || !Digits(t, 5, 2, out var month) || !Digits(t, 8, 2, out var day) || !Digits(t, 11, 2, out var hour)
            || !Digits(t, 14, 2, out var minute) || !Digits(t, 17, 2, out var second) || !Digits(t, 20, 7, out var ticks)) return null;
        if (year < 1 || month is < 1 or > 12 || day < 1 || day > DateTime.DaysInMonth(year, month) || hour > 23 || minute > 59 || second > 59) return null;
        return new DateTimeOffset(new DateTime(year, month, day, hour, minute, second, DateTimeKind.Utc).AddTicks(ticks));
    }

    private static bool Digits(ReadOnlySpan<byte> t, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var d = t[i] - '0';
            if (d is < 0 or > 9) return false;
            value = value * 10 + d;
        }
        return true;
    }

    private static bool Digits(string t, int start, int count, out int value)
    {
        value = 0;
        for (var i = start; i < start + count; i++)
        {
            var d = t[i] - '0';
            if (d is < 0 or > 9) return false;
            value = value * 10 + d;
        }
        return true;
    }
}
