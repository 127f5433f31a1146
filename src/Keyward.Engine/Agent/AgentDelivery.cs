using Keyward.Core.Errors;
using Keyward.Engine.Apply;
using Keyward.Engine.Delivery;
using Keyward.Sinks;
using Keyward.Sinks.Hooks;

namespace Keyward.Engine.Agent;

/// <summary>The agent's half of delivery: writes a bundle's files through the same <see cref="SinkDelivery"/> apply uses
/// (atomic writer, owners, modes, persisted links, --root) and runs each changed sink's onChange hooks.</summary>
public sealed class AgentDelivery(EngineOptions options)
{
    private readonly SinkDelivery _delivery = new(options, content => Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content)));

    /// <summary>Writes every sink of <paramref name="bundle"/>. <paramref name="previousVersion"/> is the version this host
    /// applied last: a file rewritten under an unchanged version had drifted (edited or removed on the host).</summary>
    public async Task<(IReadOnlyList<SinkReport> Reports, IReadOnlyList<HookOutcome> Hooks)> ApplyAsync(HostBundle bundle, string? previousVersion, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(bundle);
        var reports = new List<SinkReport>();
        var hooks = new List<HookOutcome>();
        // Under --root the files belong to another system (an image being built): its units are not ours to restart.
        var runner = options.RunHooks && options.Root is null ? new HookRunner(options.SystemctlPath ?? "systemctl", getEnv: options.GetEnv) : null;
        foreach (var b in bundle.Sinks)
        {
            var sink = b.ToSink();
            FileWriteOutcome outcome;
            try
            {
                outcome = _delivery.Write(_delivery.Request(sink, b.Content));
            }
            catch (KeywardException e)
            {
                reports.Add(new SinkReport(b.Name, b.Fingerprint, "failed", e.First.Message));
                continue;
            }
            if (outcome == FileWriteOutcome.Unchanged)
            {
                reports.Add(new SinkReport(b.Name, b.Fingerprint, "current", null));
                continue;
            }
            var drifted = previousVersion == bundle.Version;
            reports.Add(new SinkReport(b.Name, b.Fingerprint, drifted ? "repaired" : "written",
                drifted ? "the file differed from the last delivery (edited or removed on the host): rewritten" : null));
            options.Progress?.Invoke($"wrote {_delivery.TargetPath(sink)}");
            if (runner is null) continue;
            foreach (var hook in b.OnChange)
            {
                var r = await runner.RunAsync(hook, ct).ConfigureAwait(false);
                hooks.Add(new HookOutcome(b.Name, ApplyEngine.HookText(hook), r.Success, r.Message));
            }
        }
        return (reports, hooks);
    }
}
