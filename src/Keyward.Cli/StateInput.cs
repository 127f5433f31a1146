using System.CommandLine;
using Keyward.Store;

namespace Keyward.Cli;

/// <summary>Opens the state directory named by --state (or its defaults).</summary>
internal static class StateInput
{
    public static async Task<OpenedState> OpenAsync(CliContext context, ParseResult parse, CancellationToken cancellationToken) =>
        Warned(context, await StateDirectory.OpenAsync(context.StateDirectory(parse), context.Time, cancellationToken).ConfigureAwait(false));

    private static OpenedState Warned(CliContext context, OpenedState state)
    {
        foreach (var w in state.Warnings) context.Warn(w);
        return state;
    }

    /// <summary>For apply: an empty state is initialised on first use.</summary>
    public static async Task<OpenedState> OpenOrInitAsync(CliContext context, ParseResult parse, IReadOnlyList<string> recipients, CancellationToken cancellationToken)
    {
        var dir = context.StateDirectory(parse);
        if (!StateDirectory.IsInitialised(dir))
        {
            var state = await StateDirectory.InitAsync(dir, recipients, context.Time, cancellationToken).ConfigureAwait(false);
            context.Console.Err.WriteLine($"keyward: initialised state in {dir} (store recipient {state.Recipient})");
            return state;
        }
        return Warned(context, await StateDirectory.OpenAsync(dir, context.Time, cancellationToken).ConfigureAwait(false));
    }
}
