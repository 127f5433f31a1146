using System.Diagnostics.CodeAnalysis;
using System.Globalization;

namespace Keyward.Core.Time;

/// <summary>
/// A duration in humantime syntax, as atticadm's <c>--validity</c> takes it: <c>30d</c>, <c>3 months</c>,
/// <c>1y 6M</c>, <c>2h 37min</c>. <c>m</c> is minutes and <c>M</c> is months; a month is 30.44 days and a
/// year 365.25 days, as humantime defines them.
/// </summary>
public readonly record struct HumanDuration(TimeSpan Value, string Text)
{
    private const long Month = 2_630_016; // seconds
    private const long Year = 31_557_600;

    public static HumanDuration Parse(string text) =>
        TryParse(text, out var d, out var error) ? d : throw new FormatException(error);

    public static bool TryParse(string? text, out HumanDuration duration, [NotNullWhen(false)] out string? error)
    {
        duration = default;
        if (string.IsNullOrWhiteSpace(text)) { error = "empty duration"; return false; }
        var s = text.Trim();
        long totalTicks = 0;
        var i = 0;
        var any = false;
        while (i < s.Length)
        {
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
            if (i >= s.Length) break;
            var start = i;
            while (i < s.Length && char.IsAsciiDigit(s[i])) i++;
            if (i == start) { error = $"expected a number at position {start + 1} of '{s}'"; return false; }
            if (!long.TryParse(s.AsSpan(start, i - start), NumberStyles.None, CultureInfo.InvariantCulture, out var n))
            { error = $"number too large in '{s}'"; return false; }
            while (i < s.Length && char.IsWhiteSpace(s[i])) i++;
            var ustart = i;
            while (i < s.Length && char.IsAsciiLetter(s[i])) i++;
            var unit = s[ustart..i];
            if (unit.Length == 0) { error = $"missing unit after {n} in '{s}' (for example 30d, 12h, 3 months)"; return false; }
            long? ticksPer = UnitTicks(unit);
            if (ticksPer is null) { error = $"unknown unit '{unit}' in '{s}' (use s, min, h, d, w, M/months, y/years)"; return false; }
            try { totalTicks = checked(totalTicks + checked(n * ticksPer.Value)); }
            catch (OverflowException) { error = $"duration '{s}' is too long"; return false; }
            any = true;
        }
        if (!any) { error = "empty duration"; return false; }
        // Every duration is added to or subtracted from a date; beyond this, date arithmetic would leave DateTimeOffset's range.
        if (totalTicks > MaxTicks) { error = $"duration '{s}' is longer than 1000 years"; return false; }
        duration = new HumanDuration(TimeSpan.FromTicks(totalTicks), s);
        error = null;
        return true;
    }

    /// <summary>The longest duration accepted: 1000 years.</summary>
    public const long MaxTicks = 1000 * Year * TimeSpan.TicksPerSecond;

    private static long? UnitTicks(string unit) => unit switch
    {
        "nanos" or "nsec" or "ns" => 0, // sub-tick; humantime accepts it, we round down
        "usec" or "us" => 10,
        "millis" or "msec" or "ms" => TimeSpan.TicksPerMillisecond,
        "seconds" or "second" or "secs" or "sec" or "s" => TimeSpan.TicksPerSecond,
        "minutes" or "minute" or "min" or "mins" or "m" => TimeSpan.TicksPerMinute,
        "hours" or "hour" or "hr" or "hrs" or "h" => TimeSpan.TicksPerHour,
        "days" or "day" or "d" => TimeSpan.TicksPerDay,
        "weeks" or "week" or "w" => TimeSpan.TicksPerDay * 7,
        "months" or "month" or "M" => Month * TimeSpan.TicksPerSecond,
        "years" or "year" or "y" => Year * TimeSpan.TicksPerSecond,
        _ => null,
    };

    public static HumanDuration From(TimeSpan span) => new(span, Format(span));

    /// <summary>A compact canonical rendering (<c>30d</c>, <c>1d 12h</c>).</summary>
    public static string Format(TimeSpan span)
    {
        if (span == TimeSpan.Zero) return "0s";
        var parts = new List<string>();
        if (span.Days > 0) parts.Add($"{span.Days}d");
        if (span.Hours > 0) parts.Add($"{span.Hours}h");
        if (span.Minutes > 0) parts.Add($"{span.Minutes}min");
        if (span.Seconds > 0) parts.Add($"{span.Seconds}s");
        return parts.Count == 0 ? $"{span.TotalMilliseconds}ms" : string.Join(' ', parts);
    }

    /// <summary>"in 3 days", "2 hours ago": for people, not machines.</summary>
    public static string InWords(TimeSpan delta)
    {
        var past = delta < TimeSpan.Zero;
        var a = past ? -delta : delta;
        string amount = a.TotalDays >= 730 ? Plural((int)(a.TotalDays / 365.25), "year")
            : a.TotalDays >= 60 ? Plural((int)(a.TotalDays / 30.44), "month")
            : a.TotalDays >= 2 ? Plural((int)a.TotalDays, "day")
            : a.TotalHours >= 2 ? Plural((int)a.TotalHours, "hour")
            : a.TotalMinutes >= 2 ? Plural((int)a.TotalMinutes, "minute")
            : Plural((int)a.TotalSeconds, "second");
        return past ? $"{amount} ago" : $"in {amount}";
    }

    private static string Plural(int n, string unit) => n == 1 ? $"1 {unit}" : $"{n} {unit}s";

    public override string ToString() => Text;
}
