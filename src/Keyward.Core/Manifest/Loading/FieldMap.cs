using System.Globalization;
using Keyward.Core.Errors;
using Keyward.Core.Manifest.Schema;
using Keyward.Core.Manifest.Yaml;
using Keyward.Core.Time;

namespace Keyward.Core.Manifest.Loading;

/// <summary>Collects diagnostics of one parse.</summary>
internal sealed class Problems
{
    public List<Diagnostic> List { get; } = [];

    public void Fail(ErrorCode code, SourceLocation at, string message, string? hint = null) =>
        List.Add(Diagnostic.Fail(code.At(at, message, hint)));

    public void Warn(ErrorCode code, SourceLocation at, string message, string? hint = null) =>
        List.Add(Diagnostic.Warn(code.At(at, message, hint)));
}

/// <summary>
/// One YAML mapping checked against an <see cref="ObjectSpec"/>: construction reports unknown keys (with the
/// closest known key), keys that do not apply to the discriminator value, and missing required keys. The typed
/// getters convert scalars per the field's shape and report wrong types; they return null when absent or invalid.
/// </summary>
internal sealed class FieldMap
{
    private readonly Dictionary<string, YPair> _present;
    private readonly Problems _problems;

    public ObjectSpec Spec { get; }

    /// <summary>Where the mapping is declared (its name key), for "missing field" reports.</summary>
    public SourceLocation Location { get; }

    /// <summary>What the mapping is, for messages: "credential 'x'", "sink 'y'".</summary>
    public string What { get; }

    public FieldMap(YMapping node, ObjectSpec spec, string what, SourceLocation location, Problems problems, string? discriminatorValue = null)
    {
        Spec = spec;
        What = what;
        Location = location;
        _problems = problems;
        _present = new Dictionary<string, YPair>(node.Pairs.Count, StringComparer.Ordinal); // sized once: one map per manifest entry
        foreach (var pair in node.Pairs)
        {
            var key = pair.Key.Value;
            var field = spec.Find(key);
            if (field is null)
            {
                var suggestion = Suggest.Closest(key, spec.Fields.Select(f => f.Name));
                problems.Fail(ErrorCodes.ManifestUnknownKey, pair.Key.Location, $"unknown key '{Clip(key)}' in {what}",
                    suggestion is null ? $"{what} takes: {string.Join(", ", spec.Fields.Where(f => f.AppliesToValue(discriminatorValue)).Select(f => f.Name))}" : $"did you mean '{suggestion}'?");
                continue;
            }
            if (!field.AppliesToValue(discriminatorValue))
            {
                problems.Fail(ErrorCodes.ManifestFieldNotApplicable, pair.Key.Location,
                    $"'{Clip(key)}' does not apply to {spec.Discriminator ?? "format"} {discriminatorValue} ({what}); it belongs to {string.Join(", ", field.AppliesTo!)}");
                continue;
            }
            if (pair.Value is YScalar { IsNull: true } && !field.Required) continue; // `key:` with no value = absent
            _present[key] = pair;
        }
        foreach (var field in spec.Fields)
        {
            if (!field.Required || _present.ContainsKey(field.Name)) continue;
            // Conditional fields are only required once the discriminator is known and valid.
            if (field.AppliesTo is not null && (discriminatorValue is null || !field.AppliesTo.Contains(discriminatorValue))) continue;
            var at = node.Find(field.Name)?.Key.Location ?? location;
            if (field.Name == "apiVersion")
                problems.Fail(ErrorCodes.ManifestApiVersion, at, "the manifest has no apiVersion");
            else
                problems.Fail(ErrorCodes.ManifestMissingField, at, $"{what} needs '{field.Name}'" + (discriminatorValue is null || field.AppliesTo is null ? "" : $" ({spec.Discriminator} {discriminatorValue})"),
                    $"add '{field.Name}:' — {field.Description}");
        }
    }

    /// <summary>Checks <see cref="ObjectSpec.ExactlyOneOf"/>: returns the index of the one group present, or -1 (reported).</summary>
    public int ExactlyOne()
    {
        var groups = Spec.ExactlyOneOf ?? throw new InvalidOperationException($"'{Spec.Id}' has no alternatives");
        var present = new List<int>();
        // A field shared by several groups (source's `key`, with jsonMap or sops) does not by itself say which group is meant.
        bool Own(int i, string k) => !groups.Where((_, j) => j != i).Any(g => g.Contains(k));
        for (var i = 0; i < groups.Count; i++)
            if (groups[i].Any(k => Own(i, k) && _present.ContainsKey(k))) present.Add(i);
        string Name(int i) => string.Join(" + ", groups[i]);
        if (present.Count == 0)
        {
            _problems.Fail(ErrorCodes.ManifestConflictingFields, Location, $"{What} needs one of: {string.Join(", ", groups.Select((_, i) => Name(i)))}");
            return -1;
        }
        if (present.Count > 1)
        {
            var second = groups[present[1]].First(k => Own(present[1], k) && _present.ContainsKey(k));
            _problems.Fail(ErrorCodes.ManifestConflictingFields, KeyAt(second), $"{What} has both {Name(present[0])} and {Name(present[1])}; use exactly one");
            return -1;
        }
        var missing = groups[present[0]].FirstOrDefault(k => !_present.ContainsKey(k));
        if (missing is not null)
        {
            _problems.Fail(ErrorCodes.ManifestMissingField, KeyAt(groups[present[0]].First(k => Own(present[0], k) && _present.ContainsKey(k))), $"{What} needs '{missing}' together with {Name(present[0])}");
            return -1;
        }
        return present[0];
    }

    public bool Has(string name) => _present.ContainsKey(Check(name));

    public YPair? Pair(string name) => _present.GetValueOrDefault(Check(name));

    public YNode? Node(string name) => Pair(name)?.Value;

    /// <summary>Where to point at a field: its value if present, else the mapping.</summary>
    public SourceLocation At(string name) => Pair(name)?.Value.Location ?? Location;

    public SourceLocation KeyAt(string name) => Pair(name)?.Key.Location ?? Location;

    private string Check(string name) => Spec[name].Name;

    private YScalar? ScalarOf(string name, string expected)
    {
        var pair = Pair(name);
        if (pair is null) return null;
        if (pair.Value is YScalar s)
        {
            if (s.IsNull) { _problems.Fail(ErrorCodes.ManifestMissingField, pair.Key.Location, $"'{name}' of {What} has no value"); return null; }
            return s;
        }
        _problems.Fail(ErrorCodes.ManifestWrongType, pair.Value.Location, $"'{name}' of {What} must be {expected}, not {Describe(pair.Value)}");
        return null;
    }

    public string? String(string name)
    {
        var s = ScalarOf(name, "text");
        if (s is null) return null;
        if (s.Value.Trim().Length == 0) { _problems.Fail(ErrorCodes.ManifestEmptyValue, s.Location, $"'{name}' of {What} is empty"); return null; }
        var shape = (ScalarShape)Spec[name].Shape;
        if (shape.Choices is not null && !shape.Choices.Contains(s.Value))
        {
            InvalidChoice(name, s, shape.Choices);
            return null;
        }
        return s.Value;
    }

    public void InvalidChoice(string name, YScalar s, IReadOnlyList<string> choices)
    {
        var suggestion = LooksLikeToken(s.Value) ? null : Suggest.Closest(s.Value, choices);
        _problems.Fail(ErrorCodes.ManifestInvalidValue, s.Location, $"'{Clip(s.Value)}' is not a valid {name} of {What}; use one of: {string.Join(", ", choices)}",
            suggestion is null ? null : $"did you mean '{suggestion}'?");
    }

    public long? Integer(string name)
    {
        var s = ScalarOf(name, "a number");
        if (s is null) return null;
        if (!s.Plain || !long.TryParse(s.Value, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var n))
        {
            _problems.Fail(ErrorCodes.ManifestWrongType, s.Location, $"'{name}' of {What} must be a whole number, not '{Clip(s.Value)}'");
            return null;
        }
        var shape = (ScalarShape)Spec[name].Shape;
        if (shape.Choices is not null && !shape.Choices.Contains(n.ToString(CultureInfo.InvariantCulture)))
        {
            _problems.Fail(ErrorCodes.ManifestInvalidValue, s.Location, $"{name} {n} of {What} is not allowed; use one of: {string.Join(", ", shape.Choices)}");
            return null;
        }
        if ((shape.Min is { } min && n < min) || (shape.Max is { } max && n > max))
        {
            _problems.Fail(ErrorCodes.ManifestOutOfRange, s.Location, $"{name} {n} of {What} is out of range {shape.Min}..{shape.Max}");
            return null;
        }
        return n;
    }

    public bool? Bool(string name)
    {
        var s = ScalarOf(name, "true or false");
        if (s is null) return null;
        if (s.Plain && s.Value is "true" or "True" or "TRUE") return true;
        if (s.Plain && s.Value is "false" or "False" or "FALSE") return false;
        _problems.Fail(ErrorCodes.ManifestWrongType, s.Location, $"'{name}' of {What} must be true or false, not '{Clip(s.Value)}'");
        return null;
    }

    public HumanDuration? Duration(string name)
    {
        var s = ScalarOf(name, "a duration");
        if (s is null) return null;
        if (!HumanDuration.TryParse(s.Value, out var d, out var error))
        {
            _problems.Fail(ErrorCodes.ManifestInvalidDuration, s.Location, LooksLikeToken(s.Value) ? $"'{name}' of {What} is not a duration" : $"'{name}' of {What}: {error}");
            return null;
        }
        return d;
    }

    /// <summary>A file mode: octal digits whether quoted or not (like chmod), optionally prefixed 0o; at most 07777.</summary>
    public int? Mode(string name)
    {
        var s = ScalarOf(name, "an octal mode such as \"0600\"");
        if (s is null) return null;
        var text = s.Value.Trim();
        var digits = text.StartsWith("0o", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
        if (digits.Length == 0 || digits.Length > 5 || digits.Any(c => c is < '0' or > '7'))
        {
            _problems.Fail(ErrorCodes.ManifestInvalidMode, s.Location, $"{name} '{Clip(text)}' of {What} is not an octal mode");
            return null;
        }
        var value = Convert.ToInt32(digits, 8);
        if (value > 0xFFF)
        {
            _problems.Fail(ErrorCodes.ManifestInvalidMode, s.Location, $"{name} '{Clip(text)}' of {What} is larger than 07777");
            return null;
        }
        return value;
    }

    public DateTimeOffset? Date(string name)
    {
        var s = ScalarOf(name, "a date");
        if (s is null) return null;
        var text = s.Value.Trim();
        DateTimeOffset? parsed = null;
        if (DateOnly.TryParseExact(text, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
            parsed = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        else if (text.Length > 10 && (text.EndsWith('Z') || text[10..].Contains('+', StringComparison.Ordinal) || text[10..].Contains('-', StringComparison.Ordinal))
            && DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var ts))
            parsed = ts;
        if (parsed is null)
        {
            _problems.Fail(ErrorCodes.ManifestInvalidDate, s.Location, $"{name} '{Clip(text)}' of {What} is not a date");
            return null;
        }
        // Dates meet durations of up to 1000 years (renewBefore, validity): keep both ends of that arithmetic inside
        // DateTimeOffset's years 1-9999 ("0001-01-01T00:00:00-14:00" minus 30 days was an internal error).
        if (parsed.Value.UtcDateTime < MinDate || parsed.Value.UtcDateTime > MaxDate)
        {
            _problems.Fail(ErrorCodes.ManifestInvalidDate, s.Location, $"{name} '{Clip(text)}' of {What} is outside 1970-01-01 to 7999-12-31");
            return null;
        }
        return parsed;
    }

    private static readonly DateTime MinDate = new(1970, 1, 1, 0, 0, 0, DateTimeKind.Utc);
    private static readonly DateTime MaxDate = new(7999, 12, 31, 23, 59, 59, DateTimeKind.Utc);

    public Uri? Url(string name)
    {
        var s = ScalarOf(name, "a URL");
        if (s is null) return null;
        if (Uri.TryCreate(s.Value.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https" && uri.Host.Length > 0)
            return uri;
        _problems.Fail(ErrorCodes.ManifestInvalidUrl, s.Location, $"{name} '{Clip(s.Value)}' of {What} is not an absolute http(s) URL");
        return null;
    }

    /// <summary>A list of text scalars (null items and wrong types reported and skipped).</summary>
    public IReadOnlyList<YScalar>? ScalarList(string name)
    {
        var pair = Pair(name);
        if (pair is null) return null;
        if (pair.Value is not YSequence seq)
        {
            _problems.Fail(ErrorCodes.ManifestWrongType, pair.Value.Location, $"'{name}' of {What} must be a list, not {Describe(pair.Value)}",
                pair.Value is YScalar ? $"write it as a list: {name}: [ … ]" : null);
            return null;
        }
        var items = new List<YScalar>(seq.Items.Count);
        foreach (var item in seq.Items)
        {
            if (item is YScalar { IsNull: false } s) items.Add(s);
            else _problems.Fail(ErrorCodes.ManifestWrongType, item.Location, $"items of '{name}' of {What} must be text, not {Describe(item)}");
        }
        return items;
    }

    public YMapping? Mapping(string name)
    {
        var pair = Pair(name);
        if (pair is null) return null;
        if (pair.Value is YMapping m) return m;
        _problems.Fail(ErrorCodes.ManifestWrongType, pair.Value.Location, $"'{name}' of {What} must be a mapping, not {Describe(pair.Value)}");
        return null;
    }

    public static string Describe(YNode node) => node switch
    {
        YMapping => "a mapping",
        YSequence => "a list",
        YScalar { IsNull: true } => "empty",
        YScalar => "text",
        _ => "something else",
    };

    /// <summary>Manifest text echoed in a message (a name, a mode, a path). The manifest holds no secrets, but a token
    /// pasted where a name or variable belongs by mistake must not be printed back: values that look like one are withheld.</summary>
    public static string Clip(string s)
    {
        if (LooksLikeToken(s)) return "[a value that looks like a token; not shown]";
        return s.Length <= 60 ? s : s[..57] + "…";
    }

    private static readonly string[] TokenPrefixes =
        ["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "glpat-", "gldt-", "glrt-", "ops_", "eyJ", "AGE-SECRET-KEY-", "-----BEGIN", "sk-", "xox"];

    internal static bool LooksLikeToken(string s)
    {
        var t = s.Trim();
        if (TokenPrefixes.Any(p => t.StartsWith(p, StringComparison.Ordinal)) && t.Length >= 16) return true;
        if (t.Length >= 32 && t.All(char.IsAsciiHexDigit)) return true;
        // Long base64/base62 runs: no separators people put in names and paths, letters and digits mixed.
        return t.Length >= 32 && t.All(c => char.IsAsciiLetterOrDigit(c) || c is '+' or '/' or '=' or '_')
            && t.Any(char.IsAsciiDigit) && t.Any(char.IsAsciiLetterUpper) && t.Any(char.IsAsciiLetterLower);
    }
}

/// <summary>"Did you mean": the closest candidate by edit distance, if close enough to be a likely typo.</summary>
internal static class Suggest
{
    public static string? Closest(string input, IEnumerable<string> candidates)
    {
        string? best = null;
        var bestDistance = int.MaxValue;
        foreach (var c in candidates)
        {
            var d = string.Equals(c, input, StringComparison.OrdinalIgnoreCase) ? 0 : Distance(input.ToLowerInvariant(), c.ToLowerInvariant());
            if (d < bestDistance) { best = c; bestDistance = d; }
        }
        return best is not null && bestDistance <= Math.Max(2, input.Length / 3) ? best : null;
    }

    private static int Distance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++) prev[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var cost = a[i - 1] == b[j - 1] ? 0 : 1;
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + cost);
            }
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }
}
