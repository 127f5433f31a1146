using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Core.Time;
using Keyward.Server;
using Keyward.Server.RateLimiting;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward serve -f FILE [--listen HOST:PORT|unix:PATH]… [--socket-mode 0660] [--interval 5m] [--tls-cert F --tls-key F | --insecure-listen]
/// [--rate-limit N/PERIOD|off] [--trusted-proxy IP]…</c>.</summary>
internal static class ServeCommand
{
    public static Command Build(CliContext context)
    {
        var file = CliOptions.ManifestFile();
        var listen = new Option<string[]>("--listen")
        {
            Description = "HOST:PORT or unix:/ABSOLUTE/PATH to listen on (repeatable; plain HTTP only on loopback or a Unix socket; a Unix socket is always plain HTTP)",
            Arity = ArgumentArity.OneOrMore,
            DefaultValueFactory = _ => ["127.0.0.1:8420"],
        };
        var socketMode = new Option<string>("--socket-mode") { Description = "Octal mode of a --listen unix: socket (connecting needs write permission)", DefaultValueFactory = _ => "0660" };
        var interval = new Option<string>("--interval") { Description = "How often the controller loop runs", DefaultValueFactory = _ => "5m" };
        var tlsCert = new Option<string?>("--tls-cert") { Description = "PEM certificate (chain) to serve HTTPS with" };
        var tlsKey = new Option<string?>("--tls-key") { Description = "PEM private key of --tls-cert (unencrypted)" };
        var insecure = new Option<bool>("--insecure-listen") { Description = "Allow plain HTTP on a non-loopback address (a TLS-terminating proxy in front)" };
        var root = new Option<string?>("--root") { Description = "Prefix every sink path with DIR, as apply --root (hooks are not run)" };
        var noHooks = new Option<bool>("--no-hooks") { Description = "Do not run onChange hooks when the loop changes a sink" };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "kubeconfig for live kubernetes-secret sinks (default: $KUBECONFIG, else in-cluster)" };
        var warnBefore = new Option<string>("--warn-before") { Description = "ExpiresSoon turns true this long before expiry", DefaultValueFactory = _ => "7d" };
        var dashboardLogin = new Option<bool>("--dashboard-login") { Description = "Ask for an operator token on the dashboard even on loopback" };
        var rateLimit = new Option<string>("--rate-limit") { Description = "Per-client bound on the unauthenticated endpoints (CI exchange, dashboard login, agent challenge, refused operator calls): N/PERIOD or off", DefaultValueFactory = _ => "30/1m" };
        var trustedProxy = new Option<string[]>("--trusted-proxy") { Description = "IP address of a proxy in front whose X-Forwarded-For names the client (repeatable)", Arity = ArgumentArity.ZeroOrMore };
        var cmd = new Command("serve", "Run the authority as a service: controller loop, metrics, health and the API")
        {
            file, listen, socketMode, interval, tlsCert, tlsKey, insecure, root, noHooks, kubeconfig, warnBefore, dashboardLogin, rateLimit, trustedProxy,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var options = new ServeOptions
            {
                ManifestPath = context.Console.ResolvePath(parse.GetValue(file)!),
                StateDirectory = context.StateDirectory(parse),
                StoreConnection = context.StoreConnection(parse),
                Listen = [.. parse.GetValue(listen)!.Select(ListenAddress.Parse)],
                SocketMode = SocketMode(parse.GetValue(socketMode)!),
                Interval = Duration(parse.GetValue(interval)!, "--interval"),
                TlsCertificatePath = parse.GetValue(tlsCert) is { } c ? context.Console.ResolvePath(c) : null,
                TlsKeyPath = parse.GetValue(tlsKey) is { } k ? context.Console.ResolvePath(k) : null,
                InsecureListen = parse.GetValue(insecure),
                DashboardLogin = parse.GetValue(dashboardLogin),
                RateLimit = RateLimitOptions.Parse(parse.GetValue(rateLimit)!, [.. (parse.GetValue(trustedProxy) ?? []).Select(RateLimitOptions.ParseProxy)]),
                Root = parse.GetValue(root) is { Length: > 0 } r ? context.Console.ResolvePath(r) : null,
                RunHooks = !parse.GetValue(noHooks),
                Kubeconfig = parse.GetValue(kubeconfig) is { } kc ? context.Console.ResolvePath(kc) : null,
                WarnBefore = Duration(parse.GetValue(warnBefore)!, "--warn-before"),
                Log = line => context.Console.Err.WriteLine("keyward: " + line),
                Time = context.Time,
                GetEnv = context.Console.GetEnv,
                Warn = context.Warn,
            };
            await KeywardServer.RunAsync(options, address => context.Console.Err.WriteLine($"keyward: serving on {address}"), ct).ConfigureAwait(false);
            return 0;
        });
        return cmd;
    }

    /// <summary>Three or four octal digits, permission bits only (no setuid, setgid or sticky bit: meaningless on a socket).</summary>
    private static UnixFileMode SocketMode(string text) =>
        text.Length is 3 or 4 && text.All(c => c is >= '0' and <= '7') && Convert.ToInt32(text, 8) is var mode and <= 0x1FF
            ? (UnixFileMode)mode
            : throw ErrorCodes.InvalidArgument.Exception($"--socket-mode '{text}': give octal permission bits, e.g. 0660 (owner and group) or 0600 (owner only)");

    private static TimeSpan Duration(string text, string option) =>
        HumanDuration.TryParse(text, out var d, out var error) && d.Value > TimeSpan.Zero ? d.Value
            : throw ErrorCodes.InvalidArgument.Exception($"{option}: {error ?? "must be longer than zero"}");
}
