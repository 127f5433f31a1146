using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Crypto.Ssh;
using Keyward.Engine;
using Keyward.Engine.Agent;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward agent --server URL --identity KEY [--root DIR] [--state-dir DIR] (--once | --watch)</c>: receive this
/// host's sinks from <c>keyward serve</c> (docs/agent.md).</summary>
internal static class AgentCommand
{
    public const string DefaultStateDirectory = "/var/lib/keyward-agent";

    public static Command Build(CliContext context)
    {
        var server = new Option<string>("--server") { Description = "The Keyward server's URL (https://…; http:// only to loopback)", Required = true };
        var identity = new Option<string>("--identity") { Description = "The host's key: /etc/ssh/ssh_host_ed25519_key, or an AGE-SECRET-KEY-1… file", Required = true };
        var root = new Option<string?>("--root") { Description = "Prefix every sink path with DIR (for disk images and tests)" };
        var stateDir = new Option<string?>("--state-dir") { Description = $"Where the agent remembers its last delivery (default {DefaultStateDirectory}; nothing secret)" };
        var host = new Option<string?>("--host") { Description = "The host name this machine must be (default: the server's answer, pinned after the first delivery)" };
        var once = new Option<bool>("--once") { Description = "Deliver once and exit (activation scripts, timers)" };
        var watch = new Option<bool>("--watch") { Description = "Keep running: long-poll, so a rotation reaches the host within seconds" };
        var wait = new Option<string>("--wait") { Description = "--watch: how long the server holds a request when nothing changed", DefaultValueFactory = _ => "60s" };
        var noHooks = new Option<bool>("--no-hooks") { Description = "Do not run onChange hooks" };
        var cmd = new Command("agent", "Receive this host's sinks from a Keyward server, authenticated by the host's SSH key")
        {
            server, identity, root, stateDir, host, once, watch, wait, noHooks,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            if (parse.GetValue(once) == parse.GetValue(watch))
                throw ErrorCodes.InvalidArgument.Exception("give exactly one of --once and --watch");
            if (!Uri.TryCreate(parse.GetValue(server), UriKind.Absolute, out var url) || (url.Scheme != Uri.UriSchemeHttps && url.Scheme != Uri.UriSchemeHttp))
                throw ErrorCodes.InvalidArgument.Exception("--server must be an http(s):// URL");
            if (url.Scheme == Uri.UriSchemeHttp && !url.IsLoopback)
                throw ErrorCodes.InvalidArgument.Exception("--server: plain http:// is allowed only to a loopback address; use https://");
            if (!Core.Time.HumanDuration.TryParse(parse.GetValue(wait)!, out var waitFor, out var waitError) || waitFor!.Value <= TimeSpan.Zero)
                throw ErrorCodes.InvalidArgument.Exception($"--wait: {waitError ?? "must be positive"}");
            string keyText;
            try
            {
                keyText = InputFiles.ReadText(context.Console.ResolvePath(parse.GetValue(identity)!), 64 * 1024);
            }
            catch (KeywardException e)
            {
                throw ErrorCodes.AgentIdentityInvalid.Exception(e.First.Message);
            }
            using var hostIdentity = HostIdentity.Parse(keyText);
            var rootDir = parse.GetValue(root);
            var options = new AgentOptions
            {
                Server = url,
                Identity = hostIdentity,
                StateDirectory = context.Console.ResolvePath(parse.GetValue(stateDir) ?? DefaultStateDirectory),
                ExpectedHost = parse.GetValue(host),
                Wait = waitFor.Value,
                Engine = new EngineOptions
                {
                    Root = string.IsNullOrEmpty(rootDir) ? null : context.Console.ResolvePath(rootDir),
                    Time = context.Time,
                    GetEnv = context.Console.GetEnv,
                    Warn = context.Warn,
                    RunHooks = !parse.GetValue(noHooks),
                },
                Log = line => context.Console.Err.WriteLine($"keyward agent: {line}"),
            };
            using var runner = new AgentRunner(options);
            if (parse.GetValue(once)) return await runner.RunOnceAsync(ct).ConfigureAwait(false);
            try
            {
                await runner.WatchAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
            return 0;
        });
        return cmd;
    }
}
