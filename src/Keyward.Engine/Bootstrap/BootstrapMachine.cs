using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Services;
using Keyward.Services.Bootstrap;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Keyward.Engine.Bootstrap;

/// <summary>A token Keyward could use: one a person placed (placeholder file or the credential's source), or the stored one.</summary>
public sealed record HeldToken(Secret Value, bool Stored, string Where);

/// <summary>Keyward's side: where tokens are found, stored, audited, where the placeholder goes and the state between runs.</summary>
public interface IBootstrapStore
{
    string Credential { get; }

    /// <summary>The file a person puts the token in (absolute, under --root when given).</summary>
    string PlaceholderPath { get; }

    /// <summary>The state the last run reached (from the audit log); Unknown before the first run.</summary>
    Task<BootstrapState> LastStateAsync(CancellationToken cancellationToken);

    /// <summary>Every distinct token held, placed ones first (a person places one after the stored one went bad).
    /// A placeholder is never a token.</summary>
    Task<IReadOnlyList<HeldToken>> HeldAsync(CancellationToken cancellationToken);

    /// <summary>Stores the token as the new active version (audited) unless it already is; returns the version number.</summary>
    Task<int> StoreAsync(Secret token, TokenValidation validation, CancellationToken cancellationToken);

    /// <summary>Writes the placeholder, unless the file holds anything else (a person's token is never overwritten), or
    /// <paramref name="replaceOnly"/> and there is no placeholder to replace. True when written.</summary>
    Task<bool> WritePlaceholderAsync(string content, bool replaceOnly, CancellationToken cancellationToken);

    Task AuditAsync(string action, string detail, CancellationToken cancellationToken);

    /// <summary>Where else a person may put the token, for the instructions (e.g. the kubectl command for a live Secret).</summary>
    string? OtherPlaces => null;
}

/// <summary>Delivers a credential's active value to its sinks (the apply engine's job).</summary>
public interface ITokenDelivery
{
    Task<string> DeliverAsync(string credential, CancellationToken cancellationToken);
}

public sealed record BootstrapOptions
{
    public bool Wait { get; init; }
    public TimeSpan Deadline { get; init; } = TimeSpan.FromMinutes(30);
    public TimeSpan InitialDelay { get; init; } = TimeSpan.FromSeconds(5);
    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>How the machine waits between probes; null: <c>Task.Delay</c> on the machine's <see cref="TimeProvider"/>.
    /// A test passes one that advances a fake clock and plays the human's part, so nothing waits on real time.</summary>
    public Func<TimeSpan, CancellationToken, Task>? Pause { get; init; }

    /// <summary>Receives the human instructions as soon as they are known, once per state (also while waiting).</summary>
    public Action<string>? Instructions { get; init; }

    /// <summary>The exact command that picks a placed token up, written into the placeholder.</summary>
    public string Rerun { get; init; } = "keyward bootstrap";
}

public sealed record BootstrapTransition(BootstrapState From, BootstrapState To, DateTimeOffset At, string Why);

public sealed record BootstrapOutcome(BootstrapState State, IReadOnlyList<BootstrapTransition> Transitions, string? Instructions, string? Delivery,
    bool PlaceholderWritten = false);

/// <summary>
/// Waits for the service to be ready, detects its state, acts on it (store + deliver a valid token — placed by a person or
/// created through the API when allowed — or leave a placeholder with instructions), and with
/// <see cref="BootstrapOptions.Wait"/> repeats with exponential back-off and jitter until a valid token appears or the
/// deadline passes; refused connections, timeouts and 5xx answers count as "not ready yet" then. The state is kept between
/// runs (the audit log), so every transition recorded is real. The token never appears in a log, an audit detail, the
/// placeholder or the outcome.
/// </summary>
public sealed partial class BootstrapMachine(IBootstrapTarget target, IBootstrapStore store, ITokenDelivery delivery, TimeProvider time,
    BootstrapOptions options, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly List<BootstrapTransition> _transitions = [];
    private BootstrapState _state = BootstrapState.Unknown;
    private bool _loaded;
    private string? _instructions;
    private string? _shown;
    private string? _delivery;
    private bool _placeholderWritten;

    public BootstrapState State => _state;

    /// <summary>Why the last probe could not judge the service (refused, timeout, 5xx), or null.</summary>
    public string? NotReady { get; private set; }

    public async Task<BootstrapOutcome> RunAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        var deadline = time.GetUtcNow() + options.Deadline;
        var delay = options.InitialDelay;
        while (true)
        {
            NotReady = null;
            try
            {
                await StepAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (KeywardException ex) when (options.Wait && IsNotReady(ex.First.Code))
            {
                NotReady = ex.First.Message;
                LogNotReady(_logger, target.Service, ex.First.Code.Code);
                Show("not-ready", $"{target.Service} is not ready yet ({ex.First.Code.Code}: {ex.First.Message}).\n" +
                    "Keyward keeps probing with back-off until it answers or --deadline passes.");
            }
            if (_state == BootstrapState.Valid || !options.Wait) break;
            var now = time.GetUtcNow();
            if (now >= deadline)
                throw ErrorCodes.BootstrapDeadline.Exception(NotReady is not null
                    ? $"{target.Service}: still not answering after {Minutes(options.Deadline)} min: {NotReady}"
                    : $"{target.Service}: still '{_state.Name()}' after {Minutes(options.Deadline)} min; instructions are in {store.PlaceholderPath}");
            // Exponential back-off with jitter in [delay/2, delay], never past the deadline.
            var half = delay.TotalMilliseconds / 2;
            var jittered = TimeSpan.FromMilliseconds(half + RandomNumberGenerator.GetInt32(0, (int)Math.Clamp(half, 1, int.MaxValue)));
            var wait = jittered < deadline - now ? jittered : deadline - now;
            LogWaiting(_logger, target.Service, NotReady is null ? _state.Name() : "not ready", wait.TotalSeconds);
            await (options.Pause ?? DelayAsync)(wait, cancellationToken).ConfigureAwait(false);
            delay = delay * 2 < options.MaxDelay ? delay * 2 : options.MaxDelay;
        }
        return new BootstrapOutcome(_state, _transitions.ToArray(), _instructions, _delivery, _placeholderWritten);
    }

    private Task DelayAsync(TimeSpan wait, CancellationToken cancellationToken) => Task.Delay(wait, time, cancellationToken);

    private static string Minutes(TimeSpan t) => t.TotalMinutes.ToString("0.#", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Refused connections, timeouts and 5xx: the service is starting, not broken.</summary>
    public static bool IsNotReady(ErrorCode code) =>
        code == ErrorCodes.ServiceUnreachable || code == ErrorCodes.ServiceTimeout || code == ErrorCodes.ServiceServerError;

    private async Task LoadAsync(CancellationToken cancellationToken)
    {
        if (_loaded) return;
        _state = await store.LastStateAsync(cancellationToken).ConfigureAwait(false);
        _loaded = true;
    }

    /// <summary>One probe-and-act pass; returns the state reached.</summary>
    public async Task<BootstrapState> StepAsync(CancellationToken cancellationToken)
    {
        await LoadAsync(cancellationToken).ConfigureAwait(false);
        // Ready first: a service that is still installing answers 404 to everything, which says nothing about a token.
        if (await target.ProbeAsync(cancellationToken).ConfigureAwait(false) == ServiceReadiness.Fresh)
        {
            await MoveAsync(BootstrapState.Fresh, "the service is up but not set up yet (no first user, or its installer still runs)", cancellationToken).ConfigureAwait(false);
            await PlaceholderAsync(cancellationToken).ConfigureAwait(false);
            return _state;
        }
        var held = await store.HeldAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            string? refused = null;
            foreach (var h in held)
            {
                var validation = await target.ValidateAsync(h.Value, cancellationToken).ConfigureAwait(false);
                if (h.Stored)
                    await store.AuditAsync(ServiceUse.AuditAction, $"{target.Service}: validate the stored token (bootstrap) -> {validation.Status}", cancellationToken).ConfigureAwait(false);
                if (validation.Status is TokenStatus.Valid or TokenStatus.UnderScoped)
                {
                    await AcceptAsync(h.Value, validation,
                        h.Stored ? "the stored token is accepted" : $"the token placed in {h.Where} is accepted", cancellationToken).ConfigureAwait(false);
                    return _state;
                }
                refused ??= $"{h.Where}: {validation.Message}";
            }
            using (var created = await target.TryCreateTokenAsync(cancellationToken).ConfigureAwait(false))
            {
                if (created is not null)
                {
                    var v = await target.ValidateAsync(created, cancellationToken).ConfigureAwait(false);
                    if (v.Status is TokenStatus.Valid or TokenStatus.UnderScoped)
                    {
                        await AcceptAsync(created, v, "created a token through the API with the admin password", cancellationToken).ConfigureAwait(false);
                        return _state;
                    }
                }
            }
            if (refused is not null) await MoveAsync(BootstrapState.Invalid, refused, cancellationToken).ConfigureAwait(false);
            else await MoveAsync(BootstrapState.NoToken, "a user exists but no token is held", cancellationToken).ConfigureAwait(false);
            await PlaceholderAsync(cancellationToken).ConfigureAwait(false);
            return _state;
        }
        finally
        {
            foreach (var h in held) h.Value.Dispose();
        }
    }

    /// <summary>Stores the token (a no-op when it is the stored one), records the transition, delivers it.</summary>
    private async Task AcceptAsync(Secret token, TokenValidation validation, string why, CancellationToken cancellationToken)
    {
        var version = await store.StoreAsync(token, validation, cancellationToken).ConfigureAwait(false);
        await MoveAsync(BootstrapState.Valid, why, cancellationToken).ConfigureAwait(false);
        _instructions = null;
        _delivery = await delivery.DeliverAsync(store.Credential, cancellationToken).ConfigureAwait(false);
        // A placeholder left by an earlier run now says there is nothing to do (a pasted token is left where it is).
        await store.WritePlaceholderAsync(Placeholder.Resolved(store.Credential, version, options.Rerun), replaceOnly: true, cancellationToken).ConfigureAwait(false);
    }

    private async Task PlaceholderAsync(CancellationToken cancellationToken)
    {
        _instructions = target.Instructions(_state, store.PlaceholderPath);
        if (store.OtherPlaces is { } more) _instructions += "\n" + more;
        _placeholderWritten = await store.WritePlaceholderAsync(Placeholder.Render(store.Credential, _state.Name(), _instructions, options.Rerun),
            replaceOnly: false, cancellationToken).ConfigureAwait(false);
        if (!_placeholderWritten)
            _instructions += $"\n({store.PlaceholderPath} holds something that is not a placeholder; Keyward leaves it as it is: replace it with a valid token.)";
        Show(_state.Name(), _instructions);
    }

    private void Show(string key, string instructions)
    {
        if (_shown == key) return;
        _shown = key;
        options.Instructions?.Invoke(instructions);
    }

    private async Task MoveAsync(BootstrapState to, string why, CancellationToken cancellationToken)
    {
        if (to == _state) return;
        var t = new BootstrapTransition(_state, to, time.GetUtcNow(), why);
        _transitions.Add(t);
        var (from, next) = (_state.Name(), to.Name());
        LogTransition(_logger, target.Service, store.Credential, from, next, why);
        await store.AuditAsync("bootstrap." + next, $"{target.Service}: {from} -> {next}: {why}", cancellationToken).ConfigureAwait(false);
        _state = to;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "bootstrap {Service} ({Credential}): {From} -> {To}: {Why}")]
    private static partial void LogTransition(ILogger logger, string service, string credential, string from, string to, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "bootstrap {Service}: {State}; next probe in {Seconds:0.#} s")]
    private static partial void LogWaiting(ILogger logger, string service, string state, double seconds);

    [LoggerMessage(Level = LogLevel.Information, Message = "bootstrap {Service}: not ready yet ({Code})")]
    private static partial void LogNotReady(ILogger logger, string service, string code);
}
