using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Keyward.Services.Bootstrap;

/// <summary>The four states of a service whose first API token needs a human (the reference infrastructure's
/// Coder token design, applied to Gitea as well).</summary>
public enum BootstrapState
{
    /// <summary>Not yet known (before the first probe).</summary>
    Unknown,
    /// <summary>Fresh deployment: no first user yet (Coder), or the installer still runs (Gitea).</summary>
    Fresh,
    /// <summary>A user exists but no token is stored or placed.</summary>
    NoToken,
    /// <summary>A token the service accepts is stored (and delivered).</summary>
    Valid,
    /// <summary>The token held is refused (invalid, expired or revoked).</summary>
    Invalid,
}

public static class BootstrapStates
{
    public static string Name(this BootstrapState s) => s switch
    {
        BootstrapState.Fresh => "fresh",
        BootstrapState.NoToken => "no-token",
        BootstrapState.Valid => "valid",
        BootstrapState.Invalid => "invalid",
        _ => "unknown",
    };
}

/// <summary>The service side of bootstrap (Coder, Gitea).</summary>
public interface IBootstrapTarget
{
    string Service { get; }

    /// <summary>False on a fresh deployment (no first user / installer still running).</summary>
    Task<bool> IsInitialisedAsync(CancellationToken cancellationToken);

    Task<TokenValidation> ValidateAsync(Secret token, CancellationToken cancellationToken);

    /// <summary>Creates a token through the API when the manifest gives the admin's password; null otherwise.</summary>
    Task<Secret?> TryCreateTokenAsync(CancellationToken cancellationToken);

    /// <summary>The exact steps a human must take in this state (never containing a secret).</summary>
    string Instructions(BootstrapState state, string placeholderPath);
}

/// <summary>Keyward's side: where the token is read from, stored, audited and where the placeholder goes.</summary>
public interface IBootstrapStore
{
    string Credential { get; }
    string PlaceholderPath { get; }

    /// <summary>The token currently held: the active stored version, else a token a human put in the source file.</summary>
    Task<(Secret? Token, bool Stored)> CurrentAsync(CancellationToken cancellationToken);

    /// <summary>Stores the token as the new active version (audited) unless it already is.</summary>
    Task StoreAsync(Secret token, TokenValidation validation, CancellationToken cancellationToken);

    Task WritePlaceholderAsync(string content, CancellationToken cancellationToken);

    Task AuditAsync(string action, string detail, CancellationToken cancellationToken);
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
}

public sealed record BootstrapTransition(BootstrapState From, BootstrapState To, DateTimeOffset At, string Why);

public sealed record BootstrapOutcome(BootstrapState State, IReadOnlyList<BootstrapTransition> Transitions, string? Instructions, string? Delivery);

/// <summary>
/// Detects the state, acts on it (store + deliver a valid token, create one through the API when allowed, or leave a
/// placeholder with instructions), and with <see cref="BootstrapOptions.Wait"/> repeats with exponential back-off and
/// jitter until a valid token appears or the deadline passes. Every transition is logged and audited; the token never
/// appears in a log, an audit detail, the placeholder or the outcome.
/// </summary>
public sealed partial class BootstrapMachine(IBootstrapTarget target, IBootstrapStore store, ITokenDelivery delivery, TimeProvider time,
    BootstrapOptions options, ILogger? logger = null)
{
    private readonly ILogger _logger = logger ?? NullLogger.Instance;
    private readonly List<BootstrapTransition> _transitions = [];
    private BootstrapState _state = BootstrapState.Unknown;
    private string? _instructions;
    private string? _delivery;

    public BootstrapState State => _state;

    public async Task<BootstrapOutcome> RunAsync(CancellationToken cancellationToken)
    {
        var deadline = time.GetUtcNow() + options.Deadline;
        var delay = options.InitialDelay;
        while (true)
        {
            await StepAsync(cancellationToken).ConfigureAwait(false);
            if (_state == BootstrapState.Valid || !options.Wait) break;
            var now = time.GetUtcNow();
            if (now >= deadline)
                throw ErrorCodes.BootstrapDeadline.Exception(
                    $"{target.Service}: still '{_state.Name()}' after {options.Deadline.TotalMinutes:0.#} min; instructions are in {store.PlaceholderPath}");
            // Exponential back-off with full jitter in [delay/2, delay], never past the deadline.
            var jittered = TimeSpan.FromMilliseconds(delay.TotalMilliseconds / 2 + RandomNumberGenerator.GetInt32(0, (int)Math.Max(1, delay.TotalMilliseconds / 2)));
            var wait = jittered < deadline - now ? jittered : deadline - now;
            LogWaiting(_logger, target.Service, _state.Name(), wait.TotalSeconds);
            await Task.Delay(wait, time, cancellationToken).ConfigureAwait(false);
            delay = delay * 2 < options.MaxDelay ? delay * 2 : options.MaxDelay;
        }
        return new BootstrapOutcome(_state, _transitions.ToArray(), _instructions, _delivery);
    }

    /// <summary>One probe-and-act pass; returns the state reached.</summary>
    public async Task<BootstrapState> StepAsync(CancellationToken cancellationToken)
    {
        var (token, stored) = await store.CurrentAsync(cancellationToken).ConfigureAwait(false);
        if (token is not null)
        {
            var validation = await target.ValidateAsync(token, cancellationToken).ConfigureAwait(false);
            if (validation.Status is TokenStatus.Valid or TokenStatus.UnderScoped)
            {
                await AcceptAsync(token, validation, stored ? "the stored token is accepted" : "the token placed in the source file is accepted", cancellationToken).ConfigureAwait(false);
                return _state;
            }
            var created = await target.TryCreateTokenAsync(cancellationToken).ConfigureAwait(false);
            if (created is not null && await TryAcceptCreatedAsync(created, cancellationToken).ConfigureAwait(false)) return _state;
            await MoveAsync(BootstrapState.Invalid, validation.Message, cancellationToken).ConfigureAwait(false);
            await PlaceholderAsync(cancellationToken).ConfigureAwait(false);
            return _state;
        }
        if (!await target.IsInitialisedAsync(cancellationToken).ConfigureAwait(false))
        {
            await MoveAsync(BootstrapState.Fresh, "the service has no first user yet", cancellationToken).ConfigureAwait(false);
            await PlaceholderAsync(cancellationToken).ConfigureAwait(false);
            return _state;
        }
        var made = await target.TryCreateTokenAsync(cancellationToken).ConfigureAwait(false);
        if (made is not null && await TryAcceptCreatedAsync(made, cancellationToken).ConfigureAwait(false)) return _state;
        await MoveAsync(BootstrapState.NoToken, "a user exists but no token is held", cancellationToken).ConfigureAwait(false);
        await PlaceholderAsync(cancellationToken).ConfigureAwait(false);
        return _state;
    }

    private async Task<bool> TryAcceptCreatedAsync(Secret created, CancellationToken cancellationToken)
    {
        var v = await target.ValidateAsync(created, cancellationToken).ConfigureAwait(false);
        if (v.Status is not (TokenStatus.Valid or TokenStatus.UnderScoped)) return false;
        await AcceptAsync(created, v, "created a token through the API with the admin password", cancellationToken).ConfigureAwait(false);
        return true;
    }

    private async Task AcceptAsync(Secret token, TokenValidation validation, string why, CancellationToken cancellationToken)
    {
        await store.StoreAsync(token, validation, cancellationToken).ConfigureAwait(false);
        await MoveAsync(BootstrapState.Valid, why, cancellationToken).ConfigureAwait(false);
        _instructions = null;
        _delivery = await delivery.DeliverAsync(store.Credential, cancellationToken).ConfigureAwait(false);
    }

    private async Task PlaceholderAsync(CancellationToken cancellationToken)
    {
        _instructions = target.Instructions(_state, store.PlaceholderPath);
        await store.WritePlaceholderAsync(Placeholder.Render(store.Credential, _state.Name(), _instructions), cancellationToken).ConfigureAwait(false);
    }

    private async Task MoveAsync(BootstrapState to, string why, CancellationToken cancellationToken)
    {
        if (to == _state) return;
        var t = new BootstrapTransition(_state, to, time.GetUtcNow(), why);
        _transitions.Add(t);
        LogTransition(_logger, target.Service, store.Credential, _state.Name(), to.Name(), why);
        await store.AuditAsync("bootstrap." + to.Name(), $"{target.Service}: {_state.Name()} -> {to.Name()}: {why}", cancellationToken).ConfigureAwait(false);
        _state = to;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "bootstrap {Service} ({Credential}): {From} -> {To}: {Why}")]
    private static partial void LogTransition(ILogger logger, string service, string credential, string from, string to, string why);

    [LoggerMessage(Level = LogLevel.Information, Message = "bootstrap {Service}: {State}; next probe in {Seconds:0.#} s")]
    private static partial void LogWaiting(ILogger logger, string service, string state, double seconds);
}
