using System.CommandLine;
using Keyward.Store;
using Keyward.Store.Postgres;

namespace Keyward.Cli;

/// <summary>Opens the state directory named by --state (or its defaults) — with its rows in PostgreSQL when --store (or
/// KEYWARD_STORE) names one: for reading (no lock), or for writing (the state lock, or PostgreSQL's writer lock, held
/// until the state is disposed; see docs/store.md, "One writer at a time" and "PostgreSQL").</summary>
internal static class StateInput
{
    /// <summary>For commands that only read (list, get, check, graph, audit): takes no lock, never waits for a writer.</summary>
    public static async Task<OpenedState> OpenAsync(CliContext context, ParseResult parse, CancellationToken cancellationToken) =>
        Warned(context, context.StoreConnection(parse) is { } store
            ? await PostgresState.OpenAsync(context.StateDirectory(parse), store, context.Time, cancellationToken).ConfigureAwait(false)
            : await StateDirectory.OpenAsync(context.StateDirectory(parse), context.Time, cancellationToken).ConfigureAwait(false));

    /// <summary>Says what opening the state found and repaired (permissions that were too open, KW0320).</summary>
    private static OpenedState Warned(CliContext context, OpenedState state)
    {
        foreach (var w in state.Warnings) context.Warn(w);
        return state;
    }

    /// <summary>For commands that write: waits (--lock-timeout) for any other writer, and holds the lock across
    /// everything the command reads to decide and writes.</summary>
    public static async Task<OpenedState> OpenForWriteAsync(CliContext context, ParseResult parse, string purpose, CancellationToken cancellationToken) =>
        Warned(context, context.StoreConnection(parse) is { } store
            ? await PostgresState.OpenForWriteAsync(context.StateDirectory(parse), store, context.LockOptions(parse, purpose), context.Time, cancellationToken).ConfigureAwait(false)
            : await StateDirectory.OpenForWriteAsync(context.StateDirectory(parse), context.LockOptions(parse, purpose), context.Time, cancellationToken).ConfigureAwait(false));

    /// <summary>For apply and init: an empty state is initialised on first use, under the lock.</summary>
    public static async Task<OpenedState> OpenOrInitAsync(CliContext context, ParseResult parse, IReadOnlyList<string> recipients, string purpose,
        bool announce, CancellationToken cancellationToken)
    {
        var dir = context.StateDirectory(parse);
        var store = context.StoreConnection(parse);
        var state = store is not null
            ? await PostgresState.OpenOrInitAsync(dir, store, recipients, context.LockOptions(parse, purpose), context.Time, cancellationToken).ConfigureAwait(false)
            : await StateDirectory.OpenOrInitAsync(dir, recipients, context.LockOptions(parse, purpose), context.Time, cancellationToken).ConfigureAwait(false);
        if (state.Created && announce)
            context.Console.Err.WriteLine(store is null
                ? $"keyward: initialised state in {dir} (store recipient {state.Recipient})"
                : $"keyward: initialised the store in {store.Display}, identity in {dir} (store recipient {state.Recipient})");
        return Warned(context, state);
    }

    /// <summary>True when a state exists to read: the SQLite state directory is initialised, or --store is given (the
    /// PostgreSQL store's presence is only known by opening it).</summary>
    public static bool Exists(CliContext context, ParseResult parse) =>
        context.StoreConnection(parse) is not null || StateDirectory.IsInitialised(context.StateDirectory(parse));

    /// <summary>For commands that write sinks, right after taking the lock: removes the temporary files killed writes of
    /// this manifest's sinks left (they hold complete secrets), and says so when there were any.</summary>
    public static void SweepStaleTempFiles(CliContext context, Core.Manifest.KeywardManifest manifest, string? root)
    {
        var removed = Engine.Delivery.StaleTempSweep.Run(manifest, new Engine.EngineOptions { Root = root });
        if (removed > 0)
            context.Console.Err.WriteLine($"keyward: removed {removed} temporary file{(removed == 1 ? "" : "s")} an interrupted write left next to the sinks (overwritten, then unlinked)");
    }
}
