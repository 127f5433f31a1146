using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Services.Kubernetes;
using Keyward.Services.Tests.ContractServers;

namespace Keyward.Services.Tests;

/// <summary>
/// Reaching the API server the way kubectl does, without the client library: kubeconfig contexts, relative file names,
/// token files re-read per request, exec credential plugins (a real process printing an ExecCredential), a pod's
/// service account, and TLS against the kubeconfig's own CA and with a client certificate (a real TLS server with
/// certificates made in the test). Bad configurations are KW1005.
/// </summary>
public sealed class KubernetesEndpointTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly KubernetesSecretOptions Options = new("app-token", "apps", "Opaque", new Dictionary<string, string>(), Live: true);

    private const string SecretJson = """{"apiVersion":"v1","kind":"Secret","metadata":{"name":"app-token","namespace":"apps","resourceVersion":"7"},"data":{"token":"c2VjcmV0"}}""";

    private string Write(string name, string text)
    {
        var path = _dir.Sub(name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, text);
        return path;
    }

    private static string Config(string server, string user, string clusterExtra = "", string context = "main") => $"""
        apiVersion: v1
        kind: Config
        current-context: {context}
        clusters:
        - name: main
          cluster:
            server: {server}
        {clusterExtra}
        contexts:
        - name: main
          context: {"{"} cluster: main, user: u, namespace: apps {"}"}
        - name: other
          context: {"{"} cluster: main, user: v {"}"}
        users:
        - name: u
          user:
        {user}
        - name: v
          user: {"{"} token: token-of-v {"}"}
        """;

    private static ContractServer SecretServer() =>
        new(r => r.Method == "GET" && r.Path == "/api/v1/namespaces/apps/secrets/app-token"
            ? ContractResponse.Json(200, SecretJson)
            : ContractResponse.Json(404, """{"kind":"Status","status":"Failure","reason":"NotFound","code":404}"""));

    [Fact]
    public async Task Kubeconfig_CurrentContextOrTheNamedOne_PicksItsUserAndNamespace()
    {
        await using var api = SecretServer();
        var path = Write("kube/config", Config(api.Url.AbsoluteUri, "    token: token-of-u"));

        var current = new KubernetesConnection(path).Resolve(_ => null);
        Assert.Equal("apps", current.Namespace);
        var data = await new KubernetesSecretWriter(current).GetAsync(Options, Ct);
        Assert.Equal("secret", data!["token"].RevealString());
        Assert.Equal("Bearer token-of-u", api.Requests.Last().Header("Authorization"));

        await new KubernetesSecretWriter(new KubernetesConnection(path, "other").Resolve(_ => null)).GetAsync(Options, Ct);
        Assert.Equal("Bearer token-of-v", api.Requests.Last().Header("Authorization"));

        var ex = Assert.Throws<KeywardException>(() => new KubernetesConnection(path, "nope").Resolve(_ => null));
        Assert.Equal(ErrorCodes.KubeConfigInvalid, ex.First.Code);
        Assert.Contains("no context named 'nope'", ex.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TokenFile_IsRelativeToTheKubeconfig_AndReadAgainForEveryRequest()
    {
        await using var api = SecretServer();
        var path = Write("kube/config", Config(api.Url.AbsoluteUri, "    tokenFile: tokens/sa"));
        Write("kube/tokens/sa", "first-token\n");
        var writer = new KubernetesSecretWriter(new KubernetesConnection(path).Resolve(_ => null));

        await writer.GetAsync(Options, Ct);
        Assert.Equal("Bearer first-token", api.Requests.Last().Header("Authorization"));
        Write("kube/tokens/sa", "rotated-token\n"); // a projected service-account token is replaced in place
        await writer.GetAsync(Options, Ct);
        Assert.Equal("Bearer rotated-token", api.Requests.Last().Header("Authorization"));
    }

    [Fact]
    public async Task ExecPlugin_RunsWithExecInfo_AndItsTokenIsSent()
    {
        await using var api = SecretServer();
        var seen = _dir.Sub("exec-info");
        var plugin = Write("kube/bin/credential", $$$"""
            #!/bin/sh
            printf '%s' "$KUBERNETES_EXEC_INFO" > '{{{seen}}}'
            printf '%s' "$1 $PLUGIN_ENV" >> '{{{seen}}}'
            echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"exec-token-42"}}'
            """);
        File.SetUnixFileMode(plugin, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = Write("kube/config", Config(api.Url.AbsoluteUri, """
                exec:
                  apiVersion: client.authentication.k8s.io/v1
                  command: ./bin/credential
                  args: [get-token]
                  env: [{ name: PLUGIN_ENV, value: from-kubeconfig }]
            """));

        var writer = new KubernetesSecretWriter(new KubernetesConnection(path).Resolve(_ => null));
        await writer.GetAsync(Options, Ct);
        await writer.GetAsync(Options, Ct);

        Assert.All(api.Requests, r => Assert.Equal("Bearer exec-token-42", r.Header("Authorization")));
        var info = File.ReadAllText(seen);
        Assert.Contains("\"kind\":\"ExecCredential\"", info, StringComparison.Ordinal);
        Assert.Contains("\"interactive\":false", info, StringComparison.Ordinal);
        Assert.EndsWith("get-token from-kubeconfig", info, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ExecPlugin_ThatFails_IsKW1005WithoutItsOutput()
    {
        var plugin = Write("kube/fail", "#!/bin/sh\necho 'leaky-secret-output'\nexit 3\n");
        File.SetUnixFileMode(plugin, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var path = Write("kube/config", Config("http://127.0.0.1:1", $"      exec: {{ command: {plugin} }}"));

        var ex = await Assert.ThrowsAsync<KeywardException>(() =>
            new KubernetesSecretWriter(new KubernetesConnection(path).Resolve(_ => null)).GetAsync(Options, Ct));
        Assert.Equal(ErrorCodes.KubeConfigInvalid, ex.First.Code);
        Assert.Contains("exited with 3", ex.First.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("leaky-secret-output", ex.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("      auth-provider: { name: oidc }", "auth-provider")]
    [InlineData("      client-certificate-data: bm90LWEtY2VydA==", "without its key")]
    [InlineData("      token: t\n      client-key: missing.key\n      client-certificate: missing.crt", "cannot be read")]
    public void UnusableUser_IsKW1005(string user, string expected)
    {
        var path = Write("kube/config", Config("https://127.0.0.1:6443", user));
        var ex = Assert.Throws<KeywardException>(() => new KubernetesConnection(path).Resolve(_ => null));
        Assert.Equal(ErrorCodes.KubeConfigInvalid, ex.First.Code);
        Assert.Contains(expected, ex.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BrokenYaml_IsKW1005WithItsPosition()
    {
        var path = Write("kube/config", "apiVersion: v1\nclusters: [\n");
        var ex = Assert.Throws<KeywardException>(() => new KubernetesConnection(path).Resolve(_ => null));
        Assert.Equal(ErrorCodes.KubeConfigInvalid, ex.First.Code);
        Assert.Contains(path + ":", ex.First.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void InCluster_UsesTheServiceAccountMount_AndBracketsAnIPv6Host()
    {
        var sa = _dir.Sub("sa");
        Directory.CreateDirectory(sa);
        File.WriteAllText(Path.Combine(sa, "token"), "pod-token");
        File.WriteAllText(Path.Combine(sa, "namespace"), "keyward\n");
        var env = new Dictionary<string, string> { ["KUBERNETES_SERVICE_HOST"] = "fd00::1", ["KUBERNETES_SERVICE_PORT"] = "443" };

        var endpoint = new KubernetesConnection().Resolve(n => env.GetValueOrDefault(n), sa);
        Assert.Equal("https://[fd00::1]", endpoint.Host);
        Assert.Equal("keyward", endpoint.Namespace);

        env.Remove("KUBERNETES_SERVICE_HOST"); // not in a pod, no kubeconfig anywhere
        var ex = Assert.Throws<KeywardException>(() => new KubernetesConnection().Resolve(n => env.GetValueOrDefault(n), sa));
        Assert.Equal(ErrorCodes.KubeConfigInvalid, ex.First.Code);
    }

    [Fact]
    public async Task Tls_TrustsTheKubeconfigsCa_RefusesAnyOther_AndPresentsTheClientCertificate()
    {
        using var ca = Authority("keyward-test-ca");
        using var otherCa = Authority("someone-else");
        using var serverCert = Issue(ca, "apiserver", server: true);
        using var clientCert = Issue(ca, "system:admin", server: false);
        await using var tls = new TlsApiServer(serverCert, SecretJson);

        static string Pem(X509Certificate2 c) => c.ExportCertificatePem();
        string B64(string s) => Convert.ToBase64String(Encoding.UTF8.GetBytes(s));
        var keyPem = clientCert.GetECDsaPrivateKey()!.ExportPkcs8PrivateKeyPem();
        var user = $"      client-certificate-data: {B64(Pem(clientCert))}\n      client-key-data: {B64(keyPem)}";

        // The kubeconfig's CA: the GET succeeds and the server saw our client certificate.
        var trusted = Write("kube/trusted", Config($"https://127.0.0.1:{tls.Port}", user, $"    certificate-authority-data: {B64(Pem(ca))}"));
        var data = await new KubernetesSecretWriter(new KubernetesConnection(trusted).Resolve(_ => null)).GetAsync(Options, Ct);
        Assert.Equal("secret", data!["token"].RevealString());
        Assert.Equal(clientCert.Thumbprint, tls.ClientThumbprints.Last());

        // A CA file relative to the kubeconfig works the same way.
        Write("kube/ca.crt", Pem(ca));
        var relative = Write("kube/relative", Config($"https://127.0.0.1:{tls.Port}", user, "    certificate-authority: ca.crt"));
        Assert.NotNull(await new KubernetesSecretWriter(new KubernetesConnection(relative).Resolve(_ => null)).GetAsync(Options, Ct));

        // Another CA, or none (the system's roots): the server is not trusted and nothing is sent.
        foreach (var extra in new[] { $"    certificate-authority-data: {B64(Pem(otherCa))}", "" })
        {
            var path = Write("kube/untrusted", Config($"https://127.0.0.1:{tls.Port}", user, extra));
            var before = tls.Requests;
            var ex = await Assert.ThrowsAsync<KeywardException>(() =>
                new KubernetesSecretWriter(new KubernetesConnection(path).Resolve(_ => null)).GetAsync(Options, Ct));
            Assert.Equal(ErrorCodes.ServiceUnreachable, ex.First.Code);
            Assert.Equal(before, tls.Requests);
        }
    }

    private static X509Certificate2 Authority(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
    }

    private static X509Certificate2 Issue(X509Certificate2 ca, string name, bool server)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(server ? "1.3.6.1.5.5.7.3.1" : "1.3.6.1.5.5.7.3.2")], false));
        if (server)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
        }
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(ca, true, false));
        var serial = RandomNumberGenerator.GetBytes(12);
        using var signed = request.Create(ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(7), serial);
        return signed.CopyWithPrivateKey(key);
    }

    /// <summary>A TLS server on loopback that answers every request with one JSON body and records the client
    /// certificates it was shown; a handshake the client refuses is not a request.</summary>
    private sealed class TlsApiServer : IAsyncDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;
        private int _requests;

        public TlsApiServer(X509Certificate2 certificate, string body)
        {
            _listener.Start();
            _loop = Task.Run(async () =>
            {
                while (!_stop.IsCancellationRequested)
                {
                    TcpClient client;
                    try { client = await _listener.AcceptTcpClientAsync(_stop.Token); }
                    catch (OperationCanceledException) { return; }
                    _ = Task.Run(() => ServeAsync(client, certificate, body));
                }
            });
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public int Requests => Volatile.Read(ref _requests);

        public List<string> ClientThumbprints { get; } = [];

        private async Task ServeAsync(TcpClient client, X509Certificate2 certificate, string body)
        {
            using (client)
            {
                try
                {
                    await using var ssl = new SslStream(client.GetStream(), false, (_, cert, _, _) =>
                    {
                        if (cert is null) return false; // the API server of this test requires a client certificate
                        lock (ClientThumbprints) ClientThumbprints.Add(cert.GetCertHashString());
                        return true;
                    });
                    await ssl.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
                    {
                        ServerCertificate = certificate,
                        ClientCertificateRequired = true,
                    }, _stop.Token);
                    var buffer = new byte[8192];
                    var seen = new StringBuilder();
                    while (!seen.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        var n = await ssl.ReadAsync(buffer, _stop.Token);
                        if (n == 0) return;
                        seen.Append(Encoding.ASCII.GetString(buffer, 0, n));
                    }
                    Interlocked.Increment(ref _requests);
                    var payload = Encoding.UTF8.GetBytes(body);
                    await ssl.WriteAsync(Encoding.ASCII.GetBytes(
                        $"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {payload.Length}\r\nConnection: close\r\n\r\n"), _stop.Token);
                    await ssl.WriteAsync(payload, _stop.Token);
                }
                catch (Exception ex) when (ex is IOException or AuthenticationException or OperationCanceledException)
                {
                    // the client refused our certificate, or went away
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _loop;
            _stop.Dispose();
        }
    }
}
