using System.Collections.Concurrent;
using System.Security.Cryptography;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Core.Time;
using Keyward.Services.Http;
using Keyward.Store.Contract;
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

/// <summary>A minimal in-memory credential store: versions, values, metadata, audit (what checks and bootstrap use).</summary>
internal sealed class MemoryStore : ICredentialStore
{
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly List<(CredentialVersion Meta, Secret Value)> _versions = [];
    private readonly object _lock = new();

    public List<AuditEvent> Audit { get; } = [];
    public string StoreId => "memory";

    public string Fingerprint(ReadOnlySpan<byte> value) => "fp:" + Convert.ToHexStringLower(HMACSHA256.HashData(_key, value))[..16];

    /// <summary>Like the real stores, values go in and come out as copies: a caller disposing its copy leaves the store's intact.</summary>
    private static Secret Copy(Secret value) => Secret.FromBytes(value.Reveal());

    /// <summary>Writes inside a transaction apply at once (this fake has no rollback; the store contract suite covers real ones).</summary>
    public Task<IStoreTransaction> BeginAsync(CancellationToken cancellationToken) => Task.FromResult<IStoreTransaction>(new NoRollback());

    private sealed class NoRollback : IStoreTransaction
    {
        public Task CommitAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    public Task<IReadOnlyList<CredentialVersion>> ListVersionsAsync(CancellationToken cancellationToken)
    {
        lock (_lock) return Task.FromResult<IReadOnlyList<CredentialVersion>>(_versions.Select(v => v.Meta).ToArray());
    }

    public Task<IReadOnlyList<CredentialVersion>> GetVersionsAsync(string name, CancellationToken cancellationToken)
    {
        lock (_lock) return Task.FromResult<IReadOnlyList<CredentialVersion>>(_versions.Where(v => v.Meta.Name == name).Select(v => v.Meta).ToArray());
    }

    public Task<CredentialVersion?> GetActiveAsync(string name, CancellationToken cancellationToken)
    {
        lock (_lock) return Task.FromResult(_versions.Where(v => v.Meta.Name == name && v.Meta.State == VersionState.Active).Select(v => v.Meta).LastOrDefault());
    }

    public Task<Secret> RevealAsync(string name, int version, CancellationToken cancellationToken)
    {
        lock (_lock)
            return Task.FromResult(Copy(_versions.FirstOrDefault(v => v.Meta.Name == name && v.Meta.Version == version).Value
                ?? throw new KeywardException(ErrorCodes.Internal.With("missing"))));
    }

    public Task<IReadOnlyDictionary<string, Secret>> RevealActiveAsync(IEnumerable<string> names, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var set = names.ToHashSet(StringComparer.Ordinal);
            return Task.FromResult<IReadOnlyDictionary<string, Secret>>(_versions.Where(v => v.Meta.State == VersionState.Active && set.Contains(v.Meta.Name))
                .GroupBy(v => v.Meta.Name).ToDictionary(g => g.Key, g => Copy(g.Last().Value), StringComparer.Ordinal));
        }
    }

    public Task<CredentialVersion> PutAsync(NewVersion v, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var next = _versions.Where(x => x.Meta.Name == v.Name).Select(x => x.Meta.Version).DefaultIfEmpty(0).Max() + 1;
            if (v.State == VersionState.Active)
                for (var i = 0; i < _versions.Count; i++)
                    if (_versions[i].Meta.Name == v.Name && _versions[i].Meta.State == VersionState.Active)
                        _versions[i] = (_versions[i].Meta with { State = VersionState.Previous }, _versions[i].Value);
            var meta = new CredentialVersion(v.Name, next, v.Kind, v.State, v.CreatedAt, v.ExpiresAt, Fingerprint(v.Value.Reveal()), v.Origin, v.Metadata);
            _versions.Add((meta, Copy(v.Value)));
            return Task.FromResult(meta);
        }
    }

    public Task<CredentialVersion> PutActive(string name, string value, DateTimeOffset? expires = null) =>
        PutAsync(new NewVersion(name, "secret", Secret.FromUtf8(value), VersionState.Active, DateTimeOffset.UnixEpoch, expires, "test",
            new Dictionary<string, string>()), CancellationToken.None);

    public Task SetStateAsync(string name, int version, VersionState state, CancellationToken cancellationToken) => throw new NotSupportedException();

    public Task SetMetadataAsync(string name, int version, IReadOnlyDictionary<string, string> metadata, DateTimeOffset? expiresAt, CancellationToken cancellationToken)
    {
        lock (_lock)
        {
            var i = _versions.FindIndex(v => v.Meta.Name == name && v.Meta.Version == version);
            _versions[i] = (_versions[i].Meta with { Metadata = metadata, ExpiresAt = expiresAt }, _versions[i].Value);
        }
        return Task.CompletedTask;
    }

    public Task RecordTokenAsync(LedgerEntry entry, CancellationToken cancellationToken) => Task.CompletedTask;
    public Task<IReadOnlyList<LedgerEntry>> ListLedgerAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<LedgerEntry>>([]);
    public Task RevokeTokenAsync(string tokenId, DateTimeOffset at, CancellationToken cancellationToken) => Task.CompletedTask;

    public Task AppendAuditAsync(AuditEvent auditEvent, CancellationToken cancellationToken)
    {
        lock (_lock) Audit.Add(auditEvent);
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<AuditRecord>> ReadAuditAsync(DateTimeOffset? since, CancellationToken cancellationToken)
    {
        lock (_lock)
            return Task.FromResult<IReadOnlyList<AuditRecord>>(Audit.Select((e, i) => new AuditRecord(i + 1, e, "", ""))
                .Where(r => since is null || r.Event.At >= since).ToArray());
    }
    public Task<IReadOnlyList<string>> VerifyAuditAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<string>>([]);
    public Task<IReadOnlyList<SinkRecord>> ListSinksAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<SinkRecord>>([]);
    public Task PutSinkAsync(SinkRecord sink, CancellationToken cancellationToken) => Task.CompletedTask;
    public Task<long> BeginJournalAsync(string operation, string intent, DateTimeOffset at, CancellationToken cancellationToken) => throw new NotSupportedException();
    public Task AppendJournalStepAsync(long journalId, string kind, string target, string status, string? data, DateTimeOffset at, CancellationToken cancellationToken) => throw new NotSupportedException();
    public Task SetJournalStatusAsync(long journalId, string status, CancellationToken cancellationToken) => throw new NotSupportedException();
    public Task<IReadOnlyList<JournalRecord>> OpenJournalsAsync(CancellationToken cancellationToken) => Task.FromResult<IReadOnlyList<JournalRecord>>([]);
    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
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
