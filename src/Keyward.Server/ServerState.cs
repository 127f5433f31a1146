using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Store;

namespace Keyward.Server;

/// <summary>
/// What every server area shares: the options, the last valid manifest (re-read when the file changes; an invalid edit
/// keeps the last good one and is reported), and the ways into the store — the same <see cref="StateDirectory"/> calls
/// the CLI makes: readers take no lock, writers hold the state lock across check-and-act.
/// </summary>
public sealed class ServerState
{
    private readonly Lock _gate = new();
    private KeywardManifest? _manifest;
    private IReadOnlyList<KeywardError> _manifestErrors = [];
    private (DateTime MTime, long Length)? _loadedStamp;

    public ServerState(ServeOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Options = options;
    }

    public ServeOptions Options { get; }

    public TimeProvider Time => Options.Time;

    /// <summary>The last manifest that loaded without errors (null until one has).</summary>
    public KeywardManifest? Manifest
    {
        get { lock (_gate) return _manifest; }
    }

    /// <summary>Why the file on disk is not the manifest in use (empty when it is).</summary>
    public IReadOnlyList<KeywardError> ManifestErrors
    {
        get { lock (_gate) return _manifestErrors; }
    }

    /// <summary>True when the manifest file's stamp differs from the one last loaded (cheap: one stat, no parse).</summary>
    public bool ManifestFileChanged()
    {
        var info = new FileInfo(Options.ManifestPath);
        (DateTime, long)? stamp = info.Exists ? (info.LastWriteTimeUtc, info.Length) : null;
        lock (_gate) return _loadedStamp != stamp;
    }

    /// <summary>Re-reads the manifest when its file changed since the last load; returns true when a new valid manifest
    /// replaced the one in use. An invalid file keeps the last good manifest and sets <see cref="ManifestErrors"/>.</summary>
    public bool ReloadManifestIfChanged()
    {
        var info = new FileInfo(Options.ManifestPath);
        (DateTime, long)? stamp = info.Exists ? (info.LastWriteTimeUtc, info.Length) : null;
        lock (_gate)
        {
            if (_loadedStamp == stamp && (_manifest is not null || _manifestErrors.Count > 0)) return false;
            _loadedStamp = stamp;
        }
        var result = ManifestLoader.Load(Options.ManifestPath);
        var errors = result.Diagnostics.Where(d => !d.IsWarning).Select(d => d.Error).ToList();
        if (result.Manifest is null && errors.Count == 0)
            errors.Add(ErrorCodes.ManifestInvalid.With($"{Options.ManifestPath} could not be loaded"));
        lock (_gate)
        {
            if (errors.Count > 0)
            {
                _manifestErrors = errors;
                return false;
            }
            _manifest = result.Manifest;
            _manifestErrors = [];
            return true;
        }
    }

    /// <summary>Opens the state for reading: no lock, never waits for a writer (SQLite's WAL gives each read a snapshot).</summary>
    public Task<OpenedState> OpenForReadAsync(CancellationToken cancellationToken) =>
        Options.StoreConnection is { } pg
            ? Store.Postgres.PostgresState.OpenAsync(Options.StateDirectory, pg, Time, cancellationToken)
            : StateDirectory.OpenAsync(Options.StateDirectory, Time, cancellationToken);

    /// <summary>Opens the state for writing, initialising it on first use: holds the state lock until disposed, so the
    /// server and a CLI <c>apply</c> never act on the same snapshot.</summary>
    public Task<OpenedState> OpenForWriteAsync(string purpose, CancellationToken cancellationToken) =>
        Options.StoreConnection is { } pg
            ? Store.Postgres.PostgresState.OpenOrInitAsync(Options.StateDirectory, pg, Manifest?.Recipients ?? [],
                StateLockOptions.Default with { Purpose = "serve: " + purpose }, Time, cancellationToken)
            : StateDirectory.OpenOrInitAsync(Options.StateDirectory, Manifest?.Recipients ?? [],
                StateLockOptions.Default with { Purpose = "serve: " + purpose }, Time, cancellationToken);
}
