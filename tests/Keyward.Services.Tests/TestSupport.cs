using System.Collections.Concurrent;
using System.Security.Cryptography;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Core.Time;
using Keyward.Services.Http;
using Keyward.Core.Store;
using Keyward.Store.Memory;
using Microsoft.Extensions.Logging;

namespace Keyward.Services.Tests;

/// <summary>Builds manifest model records without YAML (the loader is tested in Core).</summary>
internal static class M
{
    public static readonly SourceLocation At = new("keyward.yaml", 1, 1);

    public static KeywardManifest Manifest(IEnumerable<Credential> credentials, IEnumerable<Service> services, IEnumerable<Sink>? sinks = null) =>
        new("keyward.yaml", [], new Dictionary<CredentialKind, RotationPolicy>(), credentials.ToArray(), (sinks ?? []).ToArray(), services.ToArray());

    public static SecretCredential Secret(string name) => new(name, "test", "test", null, [], At, 32, ValueEncoding.Raw);

    public static NixSigningKeyCredential NixKey(string name, string keyName) => new(name, "test", "test", null, [], At, keyName);

    public static AtticTokenCredential Token(string name, string signedBy, params (string Pattern, AtticPermission[] Perms)[] grants) =>
        new(name, "test", "test", null, [], At, signedBy, "ci", HumanDuration.Parse("30d"), null,
            grants.Select(g => new CacheGrant(CacheNamePattern.Parse(g.Pattern), g.Perms, At)).ToArray(), null, []);

    public static ExternalCredential External(string name, ExternalProvider provider, ExternalSource? source = null, string? host = null) =>
        new(name, "test", "test", null, [], At, provider, host, null, source, null);

    public static AtticCacheSpec Cache(string name, bool isPublic = true, string? signingKey = null, int priority = 41,
        string storeDir = "/nix/store", string[]? upstream = null, string? retention = null) =>
        new(name, isPublic, storeDir, priority, upstream ?? [], signingKey, retention is null ? null : HumanDuration.Parse(retention), At);

    public static Service Service(string name, ServiceKind kind, Uri url, string? token = null, AtticCacheSpec[]? caches = null,
        string? adminUser = null, string? adminPassword = null, string[]? scopes = null) =>
        new(name, kind, url, token, caches ?? [], adminUser, adminPassword, scopes ?? [], At);

    public static Sink FileSink(string name, string path, int mode, SinkFormat format = SinkFormat.Raw, string? owner = null, string? group = null,
        string? persistRoot = null, int dirMode = 0b111_000_000, NixConfOptions? nix = null, string credential = "x") =>
        new(name, path, format, owner, group, mode, dirMode, persistRoot,
            format == SinkFormat.NixConf ? [] : [new SinkEntry("", credential, ValueEncoding.Raw, EntryValue.Value, null, null, null, At)], [], nix, null, null, At);

    /// <summary>Fast policy for tests: no back-off delay, short timeouts.</summary>
    public static ServiceHttpOptions FastHttp(TimeSpan? attempt = null) => new()
    {
        AttemptTimeout = attempt ?? TimeSpan.FromSeconds(5),
        TotalTimeout = TimeSpan.FromSeconds(10),
        MaxRetries = 2,
        BaseDelay = TimeSpan.Zero,
    };
}

/// <summary>The in-memory store (<see cref="MemoryCredentialStore"/>, which passes the shared store contract suite), with the
/// two conveniences the check and bootstrap tests use.</summary>
internal sealed class MemoryStore : MemoryCredentialStore
{
    /// <summary>The audit events written so far, oldest first.</summary>
    public IReadOnlyList<AuditEvent> Audit => AuditEvents;

    public Task<CredentialVersion> PutActive(string name, string value, DateTimeOffset? expires = null) =>
        PutAsync(new NewVersion(name, "secret", Secret.FromUtf8(value), VersionState.Active, DateTimeOffset.UnixEpoch, expires, "test",
            new Dictionary<string, string>()), CancellationToken.None);
}

/// <summary>Captures every log record (formatted) so tests can scan them for secrets.</summary>
internal sealed class ListLoggerFactory : ILoggerFactory
{
    public ConcurrentQueue<string> Lines { get; } = new();
    public ILogger CreateLogger(string categoryName) => new ListLogger(this, categoryName);
    public void AddProvider(ILoggerProvider provider) { }
    public void Dispose() { }

    private sealed class ListLogger(ListLoggerFactory owner, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
        public bool IsEnabled(LogLevel logLevel) => true;
        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            owner.Lines.Enqueue($"{logLevel} {category}: {formatter(state, exception)} {exception?.Message}");
    }
}

internal sealed class TempDir : IDisposable
{
    public TempDir() => Path = Directory.CreateTempSubdirectory("kw-services-").FullName;
    public string Path { get; }
    public string Sub(string relative) => System.IO.Path.Join(Path, relative);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}
