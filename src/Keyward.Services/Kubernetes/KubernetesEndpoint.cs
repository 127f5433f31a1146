using System.Diagnostics;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using YamlDotNet.RepresentationModel;

namespace Keyward.Services.Kubernetes;

/// <summary>
/// How to reach one Kubernetes API server and prove who we are: the server's URL, the CA that signs its certificate,
/// and one way to authenticate (a bearer token, a token file re-read on every request as projected service-account
/// tokens rotate, a client certificate, basic auth, or an <c>exec</c> credential plugin). Built from a kubeconfig
/// file (<see cref="FromKubeconfig"/>) or from a pod's service account (<see cref="InCluster"/>).
/// </summary>
/// <remarks>Keyward makes two calls (read a Secret, server-side apply a Secret); reaching them through the Kubernetes
/// client library put about half of the native binary's start-up data into every command (docs/design.md,
/// "Kubernetes without the client library"), so the connection is resolved here.</remarks>
public sealed class KubernetesEndpoint
{
    /// <summary>Where a pod's service account is mounted.</summary>
    public const string ServiceAccountDirectory = "/var/run/secrets/kubernetes.io/serviceaccount";

    private readonly Secret? _token;
    private readonly string? _tokenFile;
    private readonly (string User, Secret Password)? _basic;
    private readonly X509Certificate2Collection? _trusted;
    private readonly bool _insecure;
    private readonly X509Certificate2? _clientCertificate;
    private readonly string? _serverName;
    private readonly ExecPlugin? _exec;

    private KubernetesEndpoint(Uri server, Secret? token, string? tokenFile, (string, Secret)? basic, X509Certificate2Collection? trusted,
        bool insecure, X509Certificate2? clientCertificate, string? serverName, ExecPlugin? exec, string? @namespace)
    {
        Server = server;
        _token = token;
        _tokenFile = tokenFile;
        _basic = basic;
        _trusted = trusted;
        _insecure = insecure;
        _clientCertificate = clientCertificate;
        _serverName = serverName;
        _exec = exec;
        Namespace = @namespace;
    }

    public Uri Server { get; }

    /// <summary>The server as written in messages: scheme, host and port, no trailing slash.</summary>
    public string Host => Server.AbsoluteUri.TrimEnd('/');

    /// <summary>The context's default namespace, when it names one.</summary>
    public string? Namespace { get; }

    /// <summary>True when a pod's service account is mounted and the API server's address is in the environment.</summary>
    public static bool IsInCluster(Func<string, string?> getEnv, string serviceAccountDirectory = ServiceAccountDirectory) =>
        !string.IsNullOrEmpty(getEnv("KUBERNETES_SERVICE_HOST")) && !string.IsNullOrEmpty(getEnv("KUBERNETES_SERVICE_PORT"))
        && File.Exists(Path.Combine(serviceAccountDirectory, "token"));

    /// <summary>The pod's own service account: <c>https://$KUBERNETES_SERVICE_HOST:$KUBERNETES_SERVICE_PORT</c>, the
    /// mounted CA, and the mounted token (re-read on every request).</summary>
    public static KubernetesEndpoint InCluster(Func<string, string?> getEnv, string serviceAccountDirectory = ServiceAccountDirectory)
    {
        var host = getEnv("KUBERNETES_SERVICE_HOST") ?? "";
        var port = getEnv("KUBERNETES_SERVICE_PORT") ?? "";
        if (host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[')) host = $"[{host}]";
        if (!Uri.TryCreate($"https://{host}:{port}", UriKind.Absolute, out var server))
            throw Invalid($"KUBERNETES_SERVICE_HOST/KUBERNETES_SERVICE_PORT ({host}:{port}) do not make a URL");
        var ca = Path.Combine(serviceAccountDirectory, "ca.crt");
        var ns = Path.Combine(serviceAccountDirectory, "namespace");
        return new KubernetesEndpoint(server, null, Path.Combine(serviceAccountDirectory, "token"), null,
            File.Exists(ca) ? LoadCertificates(File.ReadAllText(ca), ca) : null, false, null, null, null,
            File.Exists(ns) ? File.ReadAllText(ns).Trim() : null);
    }

    /// <summary>Reads a kubeconfig: the named context (else <c>current-context</c>), its cluster and its user. Relative
    /// file names in it are relative to the kubeconfig's directory, as kubectl reads them.</summary>
    public static KubernetesEndpoint FromKubeconfig(string path, string? context = null)
    {
        YamlMappingNode root;
        try
        {
            var stream = new YamlStream();
            stream.Load(new StringReader(File.ReadAllText(path)));
            root = stream.Documents.Count == 1 && stream.Documents[0].RootNode is YamlMappingNode m
                ? m
                : throw Invalid($"kubeconfig {path} is not one YAML mapping");
        }
        catch (YamlDotNet.Core.YamlException ex)
        {
            throw Invalid($"kubeconfig {path}:{ex.Start.Line}:{ex.Start.Column}: {ex.Message}");
        }
        catch (IOException ex)
        {
            throw Invalid($"kubeconfig {path} cannot be read: {ex.Message}");
        }
        var dir = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        var contextName = context ?? Text(root, "current-context")
            ?? throw Invalid($"kubeconfig {path} has no current-context; pass a context");
        var ctx = Named(root, "contexts", contextName, "context", path);
        var clusterName = Text(ctx, "cluster") ?? throw Invalid($"kubeconfig {path}: context '{contextName}' names no cluster");
        var cluster = Named(root, "clusters", clusterName, "cluster", path);
        var userName = Text(ctx, "user");
        var user = userName is null ? new YamlMappingNode() : Named(root, "users", userName, "user", path);

        var serverText = Text(cluster, "server") ?? throw Invalid($"kubeconfig {path}: cluster '{clusterName}' has no server");
        if (!Uri.TryCreate(serverText, UriKind.Absolute, out var server) || server.Scheme is not ("https" or "http"))
            throw Invalid($"kubeconfig {path}: cluster '{clusterName}' server '{serverText}' is not an http(s) URL");

        X509Certificate2Collection? trusted = null;
        if (Text(cluster, "certificate-authority-data") is { } caData) trusted = LoadCertificates(Base64(caData, "certificate-authority-data", path), path);
        else if (Text(cluster, "certificate-authority") is { } caFile) trusted = LoadCertificates(ReadRelative(dir, caFile, path), caFile);
        var insecure = string.Equals(Text(cluster, "insecure-skip-tls-verify"), "true", StringComparison.OrdinalIgnoreCase);

        if (user.Children.ContainsKey(new YamlScalarNode("auth-provider")))
            throw Invalid($"kubeconfig {path}: user '{userName}' uses an auth-provider, which Keyward does not support",
                "use a token, a client certificate or an exec credential plugin (kubectl's own auth-provider support is deprecated)");

        Secret? token = Text(user, "token") is { Length: > 0 } t ? Secret.FromUtf8(t) : null;
        var tokenFile = Text(user, "tokenFile") is { Length: > 0 } tf ? Relative(dir, tf) : null;
        (string, Secret)? basic = Text(user, "username") is { } u && Text(user, "password") is { } p ? (u, Secret.FromUtf8(p)) : null;

        X509Certificate2? clientCertificate = null;
        var certPem = Text(user, "client-certificate-data") is { } cd ? Base64(cd, "client-certificate-data", path)
            : Text(user, "client-certificate") is { } cf ? ReadRelative(dir, cf, path) : null;
        var keyPem = Text(user, "client-key-data") is { } kd ? Base64(kd, "client-key-data", path)
            : Text(user, "client-key") is { } kf ? ReadRelative(dir, kf, path) : null;
        if (certPem is not null || keyPem is not null)
        {
            if (certPem is null || keyPem is null) throw Invalid($"kubeconfig {path}: user '{userName}' has a client certificate without its key, or a key without its certificate");
            clientCertificate = ClientCertificate(certPem, keyPem, path);
        }

        ExecPlugin? exec = user.Children.TryGetValue(new YamlScalarNode("exec"), out var e) && e is YamlMappingNode em
            ? ExecPlugin.From(em, dir, path)
            : null;

        return new KubernetesEndpoint(server, token, tokenFile, basic, trusted, insecure, clientCertificate,
            Text(cluster, "tls-server-name"), exec, Text(ctx, "namespace"));
    }

    /// <summary>An HTTP client for this server: its CA (or, when the kubeconfig says so, none), the client certificate,
    /// the TLS server name. Authentication headers come per request from <see cref="AuthorizeAsync"/>.</summary>
    public HttpClient CreateClient(TimeSpan timeout)
    {
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
        if (_serverName is not null) handler.SslOptions.TargetHost = _serverName;
        if (_clientCertificate is not null) handler.SslOptions.ClientCertificates = [_clientCertificate];
#pragma warning disable CA5359 // the kubeconfig says insecure-skip-tls-verify: true, and kubectl honours it the same way
        if (_insecure) handler.SslOptions.RemoteCertificateValidationCallback = static (_, _, _, _) => true;
#pragma warning restore CA5359
        else if (_trusted is not null)
        {
            var trusted = _trusted;
            handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
            {
                // The name must still match; only the chain is judged against the kubeconfig's CA instead of the system's.
                if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.AddRange(trusted);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                using var leaf = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
                return chain.Build(leaf);
            };
        }
        return new HttpClient(handler) { BaseAddress = Server, Timeout = timeout };
    }

    /// <summary>Sets the request's Authorization header from the token, token file, basic auth or exec plugin.</summary>
    public async Task AuthorizeAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Secret? token = _token;
        if (token is null && _tokenFile is not null)
        {
            try
            {
                token = Secret.FromUtf8((await File.ReadAllTextAsync(_tokenFile, cancellationToken).ConfigureAwait(false)).Trim());
            }
            catch (IOException ex)
            {
                throw Invalid($"the Kubernetes token file {_tokenFile} cannot be read: {ex.Message}");
            }
        }
        if (token is null && _exec is not null) token = await _exec.TokenAsync(cancellationToken).ConfigureAwait(false);
        if (token is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token.RevealString());
        else if (_basic is { } b)
            request.Headers.Authorization = new AuthenticationHeaderValue("Basic",
                Convert.ToBase64String(Encoding.UTF8.GetBytes($"{b.User}:{b.Password.RevealString()}")));
    }

    internal static KeywardException Invalid(string message, string? hint = null) => ErrorCodes.KubeConfigInvalid.Exception(message, hint);

    private static string? Text(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var v) && v is YamlScalarNode s ? s.Value : null;

    /// <summary>The entry called <paramref name="name"/> of a kubeconfig list (<c>contexts</c>, <c>clusters</c>,
    /// <c>users</c>), returning its inner mapping (<c>context</c>, <c>cluster</c>, <c>user</c>).</summary>
    private static YamlMappingNode Named(YamlMappingNode root, string list, string name, string inner, string path)
    {
        if (root.Children.TryGetValue(new YamlScalarNode(list), out var l) && l is YamlSequenceNode seq)
            foreach (var item in seq)
                if (item is YamlMappingNode m && Text(m, "name") == name)
                    return m.Children.TryGetValue(new YamlScalarNode(inner), out var i) && i is YamlMappingNode im ? im : new YamlMappingNode();
        throw Invalid($"kubeconfig {path}: no {inner} named '{name}' in {list}");
    }

    private static string Relative(string dir, string file) => Path.IsPathRooted(file) ? file : Path.Combine(dir, file);

    private static string ReadRelative(string dir, string file, string kubeconfig)
    {
        var full = Relative(dir, file);
        try
        {
            return File.ReadAllText(full);
        }
        catch (IOException ex)
        {
            throw Invalid($"kubeconfig {kubeconfig}: {full} cannot be read: {ex.Message}");
        }
    }

    private static string Base64(string text, string field, string path)
    {
        try
        {
            return Encoding.UTF8.GetString(Convert.FromBase64String(text));
        }
        catch (FormatException)
        {
            throw Invalid($"kubeconfig {path}: {field} is not base64");
        }
    }

    private static X509Certificate2Collection LoadCertificates(string pem, string source)
    {
        var all = new X509Certificate2Collection();
        try
        {
            all.ImportFromPem(pem);
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            throw Invalid($"the CA certificate in {source} cannot be read: {ex.Message}");
        }
        if (all.Count == 0) throw Invalid($"{source} holds no PEM certificate");
        return all;
    }

    private static X509Certificate2 ClientCertificate(string certPem, string keyPem, string path)
    {
        try
        {
            return X509Certificate2.CreateFromPem(certPem, keyPem);
        }
        catch (System.Security.Cryptography.CryptographicException ex)
        {
            throw Invalid($"kubeconfig {path}: the client certificate and key cannot be used together: {ex.Message}");
        }
    }

    /// <summary>A client-go <c>exec</c> credential plugin: runs the command with <c>KUBERNETES_EXEC_INFO</c> set and
    /// reads an <c>ExecCredential</c> from its standard output; the token is kept until its
    /// <c>expirationTimestamp</c> (or for the life of this endpoint when it has none).</summary>
    private sealed class ExecPlugin(string command, IReadOnlyList<string> args, IReadOnlyList<(string Name, string Value)> env, string apiVersion, string source)
    {
        private (Secret Token, DateTimeOffset? Expires)? _cached;

        public static ExecPlugin From(YamlMappingNode exec, string dir, string path)
        {
            var command = Text(exec, "command") is { Length: > 0 } c ? c : throw Invalid($"kubeconfig {path}: exec has no command");
            // kubectl: a command with a path separator is relative to the kubeconfig's directory; a bare name is found on PATH.
            if (command.Contains('/', StringComparison.Ordinal)) command = Relative(dir, command);
            var args = new List<string>();
            if (exec.Children.TryGetValue(new YamlScalarNode("args"), out var a) && a is YamlSequenceNode aseq)
                args.AddRange(aseq.OfType<YamlScalarNode>().Select(s => s.Value ?? ""));
            var env = new List<(string, string)>();
            if (exec.Children.TryGetValue(new YamlScalarNode("env"), out var e) && e is YamlSequenceNode eseq)
                foreach (var item in eseq.OfType<YamlMappingNode>())
                    if (Text(item, "name") is { } n) env.Add((n, Text(item, "value") ?? ""));
            return new ExecPlugin(command, args, env, Text(exec, "apiVersion") ?? "client.authentication.k8s.io/v1", path);
        }

        /// <summary>The cached token while it has more than 30 s left, else a new one from the plugin (two concurrent
        /// callers may both run it; the later answer is kept).</summary>
        public async Task<Secret> TokenAsync(CancellationToken cancellationToken)
        {
            if (_cached is { } c && (c.Expires is null || c.Expires > TimeProvider.System.GetUtcNow().AddSeconds(30))) return c.Token;
            var fresh = await RunAsync(cancellationToken).ConfigureAwait(false);
            _cached = fresh;
            return fresh.Item1;
        }

        private async Task<(Secret, DateTimeOffset?)> RunAsync(CancellationToken cancellationToken)
        {
            var start = new ProcessStartInfo(command) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
            foreach (var a in args) start.ArgumentList.Add(a);
            foreach (var (n, v) in env) start.Environment[n] = v;
            start.Environment["KUBERNETES_EXEC_INFO"] = new System.Text.Json.Nodes.JsonObject
            {
                ["kind"] = "ExecCredential", ["apiVersion"] = apiVersion, ["spec"] = new System.Text.Json.Nodes.JsonObject { ["interactive"] = false },
            }.ToJsonString();
            Process process;
            try
            {
                process = Process.Start(start) ?? throw new InvalidOperationException();
            }
            catch (Exception ex) when (ex is System.ComponentModel.Win32Exception or InvalidOperationException)
            {
                throw Invalid($"kubeconfig {source}: the exec credential plugin '{command}' cannot be started: {ex.Message}",
                    "install the plugin the kubeconfig names, or give a token or client certificate instead");
            }
            using (process)
            {
                process.StandardInput.Close();
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(60));
                var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
                var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
                try
                {
                    await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
                {
                    try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
                    throw Invalid($"kubeconfig {source}: the exec credential plugin '{command}' did not answer within 60 s");
                }
                var output = await stdout.ConfigureAwait(false);
                _ = await stderr.ConfigureAwait(false); // not shown: a plugin may print the token there
                if (process.ExitCode != 0) throw Invalid($"kubeconfig {source}: the exec credential plugin '{command}' exited with {process.ExitCode}");
                try
                {
                    using var doc = JsonDocument.Parse(output);
                    var status = doc.RootElement.GetProperty("status");
                    var token = status.TryGetProperty("token", out var t) && t.GetString() is { Length: > 0 } tv
                        ? Secret.FromUtf8(tv)
                        : throw Invalid($"kubeconfig {source}: the exec credential plugin '{command}' returned no status.token",
                            "Keyward uses exec plugins that return a token; for client certificates put them in the kubeconfig");
                    DateTimeOffset? expires = status.TryGetProperty("expirationTimestamp", out var x) && x.ValueKind == JsonValueKind.String
                        && DateTimeOffset.TryParse(x.GetString(), System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out var when)
                        ? when : null;
                    return (token, expires);
                }
                catch (Exception ex) when (ex is JsonException or KeyNotFoundException or InvalidOperationException)
                {
                    throw Invalid($"kubeconfig {source}: the exec credential plugin '{command}' did not print an ExecCredential");
                }
            }
        }
    }
}
