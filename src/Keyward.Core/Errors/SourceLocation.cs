namespace Keyward.Core.Errors;

/// <summary>A place in an input file, 1-based, printed as <c>file:line:col</c> like a compiler.</summary>
public sealed record SourceLocation(string File, int Line, int Column)
{
    public override string ToString() => $"{File}:{Line}:{Column}";
}
