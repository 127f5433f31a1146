using Keyward.Core.Errors;

namespace Keyward.Sinks.Rendering.Raw;

/// <summary><c>raw</c>: exactly the bytes of the single entry's value (encoding applied), with no trailing
/// newline added — Nix key files have none and atticd/attic trim or take the value as is.</summary>
internal static class RawRenderer
{
    public static byte[] Render(RenderContext context)
    {
        var entries = context.Sink.Entries;
        if (entries.Count != 1)
            throw context.Error(ErrorCodes.SinkShape, null, $"a raw sink takes exactly one entry, found {entries.Count}");
        return context.Bytes(entries[0]);
    }
}
