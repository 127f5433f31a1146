using System.Reflection;

namespace Keyward.Core.Errors;

/// <summary>How the CLI maps a failure to an exit code: bad input is 2, a failed operation is 1.</summary>
public enum ErrorKind
{
    BadInput = 2,
    Failed = 1,
}

/// <summary>
/// A stable error code (<c>KW</c> + 4 digits) with its one-line meaning and default hint.
/// Every code is a static field of a partial <see cref="ErrorCodes"/> class (one file per area);
/// <c>docs/errors.md</c> is generated from them and a test keeps the two in step.
/// </summary>
public sealed record ErrorCode(string Code, ErrorKind Kind, string Title, string Hint)
{
    public override string ToString() => Code;

    public KeywardError At(SourceLocation? location, string message, string? hint = null) =>
        new(this, message, hint ?? Hint, location);

    public KeywardError With(string message, string? hint = null) => new(this, message, hint ?? Hint, null);

    public KeywardException Exception(string message, string? hint = null) => new(With(message, hint));
}

/// <summary>The catalogue of error codes. Areas own ranges:
/// 00xx general, 01xx–02xx manifest, 03xx store, 04xx age, 05xx nix, 06xx attic tokens,
/// 07xx sinks, 08xx plan/rotation/journal/audit, 09xx checks and services, 10xx bootstrap and Kubernetes,
/// 11xx token recognition and import.</summary>
public static partial class ErrorCodes
{
    private static IReadOnlyList<ErrorCode>? s_all;

    // Lazy: static fields of the other partial files are not initialised yet when this file's are.
    public static IReadOnlyList<ErrorCode> All => s_all ??= typeof(ErrorCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(f => f.FieldType == typeof(ErrorCode))
        .Select(f => (ErrorCode)f.GetValue(null)!)
        .OrderBy(c => c.Code, StringComparer.Ordinal)
        .ToArray();
}
