namespace Keyward.Core.Errors;

/// <summary>An expected failure as a value: code, message, hint and (for input files) where.
/// Messages name things and fingerprints, never secret values.</summary>
public sealed record KeywardError(ErrorCode Code, string Message, string Hint, SourceLocation? Location)
{
    public override string ToString() =>
        Location is null ? $"error[{Code.Code}]: {Message}" : $"{Location}: error[{Code.Code}]: {Message}";
}

/// <summary>A severity-tagged diagnostic, for validation that reports everything at once.</summary>
public sealed record Diagnostic(bool IsWarning, KeywardError Error)
{
    public static Diagnostic Warn(KeywardError error) => new(true, error);
    public static Diagnostic Fail(KeywardError error) => new(false, error);
}

/// <summary>Carries one or more <see cref="KeywardError"/>s to the single place that prints them
/// (the CLI today, HTTP problem details later).</summary>
public sealed class KeywardException : Exception
{
    public KeywardException(KeywardError error) : this([error]) { }

    public KeywardException(IReadOnlyList<KeywardError> errors)
        : base(errors.Count == 0 ? "keyward error" : errors[0].ToString())
    {
        if (errors.Count == 0) throw new ArgumentException("at least one error", nameof(errors));
        Errors = errors;
    }

    public KeywardException(KeywardError error, Exception inner) : base(error.ToString(), inner) => Errors = [error];

    public KeywardException() : this(ErrorCodes.Internal.With("unspecified")) { }
    public KeywardException(string message) : this(ErrorCodes.Internal.With(message)) { }
    public KeywardException(string message, Exception inner) : this(ErrorCodes.Internal.With(message), inner) { }

    public IReadOnlyList<KeywardError> Errors { get; }

    public KeywardError First => Errors[0];

    public ErrorKind Kind => Errors.Any(e => e.Code.Kind == ErrorKind.BadInput) ? ErrorKind.BadInput : ErrorKind.Failed;
}
