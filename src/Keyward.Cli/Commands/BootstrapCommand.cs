using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Core.Time;
using Keyward.Engine;
using Keyward.Engine.Apply;
using Keyward.Engine.Bootstrap;
using Keyward.Services.Bootstrap;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Services.Http;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward bootstrap coder|gitea NAME [--wait] [--deadline 30m]</c>: obtain the first API token of a service
/// that needs a human first, store it and deliver it to its sinks. The token is never printed.</summary>
internal static class BootstrapCommand
{
    public static Command Build(CliContext context)
    {
        var cmd = new Command("bootstrap", "Obtain the first API token of Coder or Gitea (placeholder and instructions until a human acts)");
        cmd.Subcommands.Add(Sub(context, ServiceKind.Coder));
        cmd.Subcommands.Add(Sub(context, ServiceKind.Gitea));
        return cmd;
    }

    private static Command Sub(CliContext context, ServiceKind kind)
    {
        var file = CliOptions.ManifestFile();
        var name = new Argument<string>("name") { Description = "The service (or its token credential) in the manifest" };
        var wait = new Option<bool>("--wait") { Description = "Keep probing with exponential back-off and jitter until a valid token appears (refused connections, timeouts and 5xx mean not ready yet)" };
        var deadline = new Option<string>("--deadline") { Description = "Give up waiting after this long", DefaultValueFactory = _ => "30m" };
        var root = new Option<string?>("--root") { Description = "Prefix for sink and placeholder paths" };
        var noHooks = new Option<bool>("--no-hooks") { Description = "Do not run onChange hooks of the delivered sinks" };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "kubeconfig for live kubernetes-secret sinks carrying the token (default: $KUBECONFIG, else in-cluster)" };
        var label = kind == ServiceKind.Coder ? "coder" : "gitea";
        var cmd = new Command(label, $"Bootstrap the admin API token of a {(kind == ServiceKind.Coder ? "Coder" : "Gitea/Forgejo")} service") { file, name, wait, deadline, root, noHooks, kubeconfig };
        cmd.SetAction(async (parse, ct) =>
        {
            var manifest = ManifestInput.Load(context, parse, file);
            var wanted = parse.GetValue(name)!;
            var service = manifest.Services.FirstOrDefault(s => s.Kind == kind && (s.Name == wanted || s.Token == wanted))
                ?? throw ErrorCodes.ServiceNotDeclared.Exception($"no {label} service named '{wanted}' (or with token '{wanted}') in {manifest.File}");
            if (service.Token is null || manifest.FindCredential(service.Token) is not ExternalCredential credential)
                throw ErrorCodes.BootstrapUnsupported.Exception($"service '{service.Name}' needs `token:` naming an external credential to bootstrap into");
            if (!HumanDuration.TryParse(parse.GetValue(deadline), out var limit, out var error))
                throw ErrorCodes.InvalidArgument.Exception($"--deadline: {error}");
            var rootDir = parse.GetValue(root) is { } r ? context.Console.ResolvePath(r) : null;

            // Bootstrap is often the first command on a new deployment (a Coder job): an empty state is initialised, as apply
            // does, under the state lock.
            await using var state = await StateInput.OpenOrInitAsync(context, parse, manifest.Recipients, "bootstrap", announce: true, ct).ConfigureAwait(false);
            StateInput.SweepStaleTempFiles(context, manifest, rootDir);
            Secret? password = null;
            if (service.AdminPassword is { } pw)
            {
                var values = await state.Store.RevealActiveAsync([pw], ct).ConfigureAwait(false);
                password = values.GetValueOrDefault(pw);
                if (password is null) context.Warn(ErrorCodes.ServiceCredentialMissing.With($"admin password credential '{pw}' has no active version; falling back to instructions"));
            }
            using var http = ServiceHttp.CreateClient();
            var clients = new ServiceClients(http, ServiceHttpOptions.Default, context.Time);
            IBootstrapTarget target = kind == ServiceKind.Coder
                ? new CoderBootstrapTarget(service, clients.Coder(service), password,
                    manifest.EffectivePolicy(credential).MaxAge?.Value ?? TimeSpan.FromDays(30), context.Time)
                : new GiteaBootstrapTarget(service, clients.Gitea(service), password, context.Time);
            var kubeconfigPath = parse.GetValue(kubeconfig) is { } kc ? context.Console.ResolvePath(kc) : null;
            var engineOptions = new EngineOptions
            {
                Root = rootDir, Time = context.Time, Warn = context.Warn, RunHooks = !parse.GetValue(noHooks), Kubeconfig = kubeconfigPath, GetEnv = context.Console.GetEnv,
            };
            // A live Secret carrying the token holds a placeholder too, and a token patched in there is found (not under
            // --root: that cluster belongs to the image's system, as for apply).
            var live = rootDir is not null ? null : LiveSecretPlacement.For(manifest, credential.Name,
                () => new Services.Kubernetes.KubernetesSecretWriter(new Services.Kubernetes.KubernetesConnection(kubeconfigPath).Resolve(context.Console.GetEnv)),
                context.Warn);
            var delivery = new EngineDelivery(manifest, new ApplyEngine(state.Store, engineOptions));
            var manifestDirectory = Path.GetDirectoryName(Path.GetFullPath(manifest.File)) ?? ".";
            var store = new StoreBootstrapStore(state.Store, credential, state.Directory, manifestDirectory, context.Time, rootDir,
                context.Console.GetEnv, engineOptions.Actor + " (bootstrap)", live);
            var o = context.Console.Out;
            var printed = false;
            void Print(string instructions)
            {
                o.WriteLine();
                o.WriteLine(instructions);
                o.WriteLine();
                o.WriteLine($"(in {store.PlaceholderPath} as well, unless it holds something else)");
                o.Flush();
                printed = true;
            }
            var machine = new BootstrapMachine(target, store, delivery, context.Time, new BootstrapOptions
            {
                Wait = parse.GetValue(wait),
                Deadline = limit.Value,
                Instructions = Print,
                Rerun = Rerun(label, service.Name, Path.GetFullPath(manifest.File), parse.GetValue(CliOptions.State), rootDir),
            });

            var outcome = await machine.RunAsync(ct).ConfigureAwait(false);
            foreach (var t in outcome.Transitions) o.WriteLine($"{service.Name}: {t.From.Name()} -> {t.To.Name()}: {t.Why}");
            if (outcome.State == BootstrapState.Valid)
            {
                o.WriteLine($"{service.Name}: token stored as the active version of {credential.Name}; {outcome.Delivery}");
                return 0;
            }
            if (!printed && outcome.Instructions is not null) Print(outcome.Instructions);
            throw ErrorCodes.BootstrapNeedsHuman.Exception($"{service.Name} is '{outcome.State.Name()}': a human must act before a token exists");
        });
        return cmd;
    }

    /// <summary>The exact command that picks a placed token up, for the placeholder (no secrets: paths and names only).</summary>
    private static string Rerun(string kind, string service, string manifest, string? stateDirectory, string? root)
    {
        static string Quote(string s) => s.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '$') ? "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'" : s;
        var line = $"keyward bootstrap {kind} {Quote(service)} -f {Quote(manifest)}";
        if (stateDirectory is not null) line += $" --state {Quote(stateDirectory)}";
        if (root is not null) line += $" --root {Quote(root)}";
        return line;
    }

    /// <summary>Delivers the freshly stored token through the apply engine, to every sink that uses it.</summary>
    private sealed class EngineDelivery(KeywardManifest manifest, ApplyEngine engine) : ITokenDelivery
    {
        public async Task<string> DeliverAsync(string credential, CancellationToken cancellationToken)
        {
            var sinks = manifest.Sinks.Where(s => s.CredentialNames.Contains(credential, StringComparer.Ordinal)).ToArray();
            if (sinks.Length == 0) return "no sink uses it";
            var (files, hooks) = await engine.DeliverAsync(manifest, sinks, cancellationToken).ConfigureAwait(false);
            return $"delivered to {sinks.Length} sink(s) ({files} file(s) written, {hooks.Count} hook(s))";
        }
    }
}
