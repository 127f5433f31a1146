using System.Security.Cryptography;
using System.Text;
using Keyward.Core.Attic;
using Keyward.Core.Errors;
using Keyward.Core.Time;

namespace Keyward.Core.Manifest.Loading;

/// <summary>
/// The validated model of the last manifest read with a state directory, kept in that directory
/// (<c>manifest-model.cache</c>): a run over an unchanged manifest reads the model back in one pass instead of
/// decoding the YAML tree, checking every rule and building the model again (together most of a 10,000-credential
/// manifest's load).
/// <para>
/// Only a manifest that loaded with no diagnostic at all (no error, no warning) is kept, so the cached result is
/// exactly "this model, nothing to report". The entry is keyed by SHA-256 over the build of Keyward.Core (the assembly
/// that validates manifests and defines the model: any change to a rule or a field is another build), the file name (it
/// is in every location) and the manifest's text, and carries a SHA-256 of its own body. Another manifest, another
/// build, or a torn or damaged file never matches: the manifest is then loaded as if there were no cache. Validation
/// depends on nothing but the text (<see cref="ManifestReader"/> reads no file, no clock, no environment), which is
/// why a model checked once stays checked for the same text.
/// </para>
/// <para>
/// Safe to keep on disk for the same reasons as <c>manifest-tree.cache</c> (docs/store.md): it lives in the state
/// directory (0700) beside <c>identity.txt</c>, is written 0600 by the caller's atomic writer, and holds nothing the
/// manifest does not — names, paths, modes, durations; no credential value (the model has none: a credential is a
/// name and a recipe, <c>adminPassword</c> names a credential, and a literal entry's text is in the manifest as is).
/// </para>
/// <para>
/// Every field of every model type is written below, in declaration order; ManifestModelCacheTests compares a model
/// read back with the loader's own, field by field through reflection, over every manifest under tests/, and fails
/// when a model type gains a property this codec does not know.
/// </para>
/// </summary>
public static class ManifestModelCache
{
    public const string FileName = "manifest-model.cache";
    private static readonly byte[] Magic = "KWMM\u0002\0"u8.ToArray();
    private const int HashLength = 32;

    /// <summary>The model of <paramref name="text"/> from the cache in <paramref name="directory"/>, or null.</summary>
    public static KeywardManifest? TryRead(string directory, string text, string file) =>
        Build is { } build ? TryRead(directory, Key(build, text, file), file) : null;

    internal static KeywardManifest? TryRead(string directory, byte[] key, string file)
    {
        try
        {
            var path = Path.Combine(directory, FileName);
            if (!File.Exists(path)) return null;
            var bytes = File.ReadAllBytes(path);
            var header = Magic.Length + 2 * HashLength;
            if (bytes.Length < header || !bytes.AsSpan(0, Magic.Length).SequenceEqual(Magic)) return null;
            if (!bytes.AsSpan(Magic.Length, HashLength).SequenceEqual(key)) return null;
            var body = bytes.AsSpan(header);
            Span<byte> sum = stackalloc byte[HashLength];
            SHA256.HashData(body, sum);
            if (!sum.SequenceEqual(bytes.AsSpan(Magic.Length + HashLength, HashLength))) return null;
            var reader = new Reader(bytes, header, file);
            var manifest = reader.Manifest();
            return reader.AtEnd ? manifest : null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or EndOfStreamException or InvalidDataException
                                      or FormatException or ArgumentException or UriFormatException or OverflowException)
        {
            return null; // no usable entry: load from the text
        }
    }

    /// <summary>The bytes of the cache file for <paramref name="manifest"/>, the model of <paramref name="text"/>; null
    /// when this build cannot say who it is (then there is no cache).</summary>
    public static byte[]? Encode(string text, string file, KeywardManifest manifest) =>
        Build is { } build ? Encode(Key(build, text, file), manifest) : null;

    internal static byte[]? Encode(byte[] key, KeywardManifest manifest)
    {
        using var body = new MemoryStream();
        try
        {
            // The strings first, each once (names, paths, owners: a large manifest repeats many), then the model
            // referring to them by index: reading back is one decode per distinct string and no lookups.
            using var model = new MemoryStream();
            var strings = new Dictionary<string, int>(StringComparer.Ordinal);
            using (var writer = new BinaryWriter(model, Encoding.UTF8, leaveOpen: true)) new Writer(writer, manifest.File, strings).Manifest(manifest);
            using var w = new BinaryWriter(body, Encoding.UTF8, leaveOpen: true);
            var table = new string[strings.Count];
            foreach (var (text, index) in strings) table[index] = text;
            w.Write7BitEncodedInt(table.Length);
            foreach (var text in table) w.Write(text);
            w.Write(model.GetBuffer(), 0, (int)model.Length);
        }
        catch (NotCacheableException)
        {
            return null;
        }
        var length = (int)body.Length;
        var result = new byte[Magic.Length + 2 * HashLength + length];
        Magic.CopyTo(result, 0);
        key.CopyTo(result, Magic.Length);
        SHA256.HashData(body.GetBuffer().AsSpan(0, length), result.AsSpan(Magic.Length + HashLength, HashLength));
        body.GetBuffer().AsSpan(0, length).CopyTo(result.AsSpan(Magic.Length + 2 * HashLength));
        return result;
    }

    /// <summary>What identifies the build of the rules and the model (null when the runtime cannot say: no cache).</summary>
    private static readonly byte[]? Build = BuildId();

    private static byte[]? BuildId()
    {
        try
        {
            var assembly = typeof(ManifestModelCache).Assembly;
            return Encoding.UTF8.GetBytes($"model|{assembly.FullName}|{assembly.ManifestModule.ModuleVersionId:N}");
        }
        catch (Exception e) when (e is NotSupportedException or InvalidOperationException)
        {
            return null;
        }
    }

    /// <summary>The key of a manifest given as text (its UTF-8 bytes).</summary>
    internal static byte[]? KeyOf(string text, string file) => Build is { } build ? Key(build, Encoding.UTF8.GetBytes(text), file) : null;

    /// <summary>The key of a manifest file's bytes as read (<see cref="ManifestLoader.Load(string)"/>: no need to decode
    /// the text to know whether the kept model is its model).</summary>
    internal static byte[]? KeyOf(ReadOnlySpan<byte> bytes, string file) => Build is { } build ? Key(build, bytes, file) : null;

    private static byte[] Key(byte[] build, string text, string file) => Key(build, Encoding.UTF8.GetBytes(text), file);

    private static byte[] Key(byte[] build, ReadOnlySpan<byte> content, string file)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        Span<byte> length = stackalloc byte[8];
        var name = Encoding.UTF8.GetBytes(file);
        foreach (var part in new[] { build, name })
        {
            System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(length, part.Length);
            hash.AppendData(length);
            hash.AppendData(part);
        }
        System.Buffers.Binary.BinaryPrimitives.WriteInt64BigEndian(length, content.Length);
        hash.AppendData(length);
        hash.AppendData(content);
        return hash.GetHashAndReset();
    }

    /// <summary>A model this codec has no form for (a type it does not know, a location in another file): not cached.</summary>
    private sealed class NotCacheableException : Exception;

    // Tags of the abstract records' cases.
    private const byte SecretTag = 1, RsaTag = 2, NixTag = 3, AtticTag = 4, ExternalTag = 5;
    private const byte FileSourceTag = 1, EnvSourceTag = 2, JsonMapSourceTag = 3, SopsSourceTag = 4;
    private const byte RestartTag = 1, ReloadTag = 2, CommandTag = 3;

    private sealed class Writer(BinaryWriter w, string file, Dictionary<string, int> strings)
    {
        public void Manifest(KeywardManifest m)
        {
            Strings(m.Recipients);
            w.Write7BitEncodedInt(m.KindDefaults.Count);
            foreach (var (kind, policy) in m.KindDefaults)
            {
                Enum((int)kind);
                Rotation(policy);
            }
            List(m.Credentials, Credential);
            List(m.Sinks, Sink);
            List(m.Services, Service);
            List(m.Hosts, Host);
            List(m.HostSinks, Sink);
            List(m.TrustedPublishers, Publisher);
            Enum((int)m.Gate.ForeignTokens);
            w.Write(m.Gate.AllowAnonymous);
            w.Write(m.Gate.CheckPermissions);
        }

        private void Credential(Credential c)
        {
            w.Write(c switch
            {
                SecretCredential => SecretTag,
                RsaKeyCredential => RsaTag,
                NixSigningKeyCredential => NixTag,
                AtticTokenCredential => AtticTag,
                ExternalCredential => ExternalTag,
                _ => throw new NotCacheableException(),
            });
            String(c.Name);
            String(c.Owner);
            String(c.Purpose);
            OptionalRotation(c.Rotation);
            Strings(c.Recipients);
            Location(c.Location);
            switch (c)
            {
                case SecretCredential s:
                    w.Write(s.Bytes);
                    Enum((int)s.Encoding);
                    break;
                case RsaKeyCredential r:
                    w.Write(r.Bits);
                    Enum((int)r.Format);
                    break;
                case NixSigningKeyCredential n:
                    String(n.KeyName);
                    break;
                case AtticTokenCredential a:
                    String(a.SignedBy);
                    String(a.Subject);
                    Duration(a.Validity);
                    OptionalDuration(a.RenewBefore);
                    List(a.Caches, Grant);
                    OptionalString(a.Issuer);
                    Strings(a.Audiences);
                    break;
                case ExternalCredential e:
                    Enum((int)e.Provider);
                    OptionalString(e.Host);
                    OptionalString(e.Username);
                    switch (e.Source)
                    {
                        case null: w.Write((byte)0); break;
                        case FileSource f: w.Write(FileSourceTag); String(f.Path); Location(f.Location); break;
                        case EnvSource v: w.Write(EnvSourceTag); String(v.Variable); Location(v.Location); break;
                        case JsonMapSource j: w.Write(JsonMapSourceTag); String(j.Path); String(j.Key); Location(j.Location); break;
                        case SopsSource s: w.Write(SopsSourceTag); String(s.Path); String(s.Key); Location(s.Location); break;
                        default: throw new NotCacheableException();
                    }
                    w.Write(e.Expires.HasValue);
                    if (e.Expires is { } expires)
                    {
                        w.Write(expires.UtcTicks);
                        w.Write((short)expires.Offset.TotalMinutes);
                    }
                    break;
            }
        }

        private void Grant(CacheGrant g)
        {
            String(g.Pattern.Text);
            w.Write7BitEncodedInt(g.Permissions.Count);
            foreach (var p in g.Permissions) Enum((int)p);
            Location(g.Location);
        }

        private void Sink(Sink s)
        {
            String(s.Name);
            String(s.Path);
            Enum((int)s.Format);
            OptionalString(s.Owner);
            OptionalString(s.Group);
            w.Write(s.Mode);
            w.Write(s.DirectoryMode);
            OptionalString(s.PersistRoot);
            List(s.Entries, Entry);
            List(s.OnChange, Hook);
            w.Write(s.NixConf is not null);
            if (s.NixConf is { } n)
            {
                Strings(n.Substituters);
                Strings(n.TrustedPublicKeys);
                OptionalString(n.NetrcFile);
                Strings(n.Includes);
            }
            w.Write(s.Kubernetes is not null);
            if (s.Kubernetes is { } k)
            {
                String(k.Name);
                String(k.Namespace);
                String(k.Type);
                w.Write7BitEncodedInt(k.Labels.Count);
                foreach (var (key, value) in k.Labels)
                {
                    String(key);
                    String(value);
                }
                w.Write(k.Live);
            }
            w.Write(s.AtticConfig is not null);
            if (s.AtticConfig is { } a) OptionalString(a.DefaultServer);
            Location(s.Location);
            Strings(s.Hosts);
        }

        private void Entry(SinkEntry e)
        {
            String(e.Key);
            String(e.Credential);
            Enum((int)e.Encoding);
            Enum((int)e.Take);
            OptionalString(e.Username);
            OptionalString(e.Endpoint);
            OptionalString(e.TokenFile);
            Location(e.Location);
            OptionalString(e.Literal);
        }

        private void Hook(Hook h)
        {
            switch (h)
            {
                case RestartUnitHook r: w.Write(RestartTag); String(r.Unit); break;
                case ReloadUnitHook r: w.Write(ReloadTag); String(r.Unit); break;
                case CommandHook c: w.Write(CommandTag); Strings(c.Argv); break;
                default: throw new NotCacheableException();
            }
            Location(h.Location);
            Strings(h.PassEnv);
        }

        private void Service(Service s)
        {
            String(s.Name);
            Enum((int)s.Kind);
            String(s.Url.OriginalString);
            OptionalString(s.Token);
            List(s.Caches, Cache);
            OptionalString(s.AdminUser);
            OptionalString(s.AdminPassword);
            Strings(s.Scopes);
            Location(s.Location);
        }

        private void Cache(AtticCacheSpec c)
        {
            String(c.Name);
            w.Write(c.IsPublic);
            String(c.StoreDir);
            w.Write(c.Priority);
            Strings(c.UpstreamCacheKeyNames);
            OptionalString(c.SigningKey);
            OptionalDuration(c.RetentionPeriod);
            Location(c.Location);
        }

        private void Host(HostSpec h)
        {
            String(h.Name);
            w.Write(h.SshKey is not null);
            if (h.SshKey is { } key)
            {
                w.Write7BitEncodedInt(key.Wire.Length);
                w.Write(key.Wire);
            }
            OptionalString(h.AgeRecipient);
            Location(h.Location);
        }

        private void Publisher(TrustedPublisher p)
        {
            String(p.Name);
            String(p.Issuer.OriginalString);
            String(p.Audience);
            String(p.SignedBy);
            List(p.Claims, c =>
            {
                String(c.Claim);
                Strings(c.Values);
                Location(c.Location);
            });
            List(p.Caches, Grant);
            Duration(p.Validity);
            Location(p.Location);
        }

        private void OptionalRotation(RotationPolicy? r)
        {
            w.Write(r is not null);
            if (r is not null) Rotation(r);
        }

        private void Rotation(RotationPolicy r)
        {
            OptionalDuration(r.MaxAge);
            OptionalDuration(r.RenewBefore);
            OptionalDuration(r.Overlap);
            w.Write((byte)(r.AutoContinue is null ? 0 : r.AutoContinue.Value ? 2 : 1));
            w.Write(r.Location is not null);
            if (r.Location is not null) Location(r.Location);
            OptionalDuration(r.HostDeadline);
        }

        private void Duration(HumanDuration d)
        {
            w.Write(d.Value.Ticks);
            String(d.Text);
        }

        private void OptionalDuration(HumanDuration? d)
        {
            w.Write(d.HasValue);
            if (d is { } value) Duration(value);
        }

        // Every location of a manifest is in that manifest's file: only line and column are kept.
        private void Location(SourceLocation l)
        {
            if (l.File != file) throw new NotCacheableException();
            w.Write7BitEncodedInt(l.Line);
            w.Write7BitEncodedInt(l.Column);
        }

        private void Enum(int value) => w.Write7BitEncodedInt(value);

        private void String(string s)
        {
            if (!strings.TryGetValue(s, out var index)) strings.Add(s, index = strings.Count);
            w.Write7BitEncodedInt(index);
        }

        private void OptionalString(string? s)
        {
            w.Write(s is not null);
            if (s is not null) String(s);
        }

        private void Strings(IReadOnlyList<string> list)
        {
            w.Write7BitEncodedInt(list.Count);
            foreach (var s in list) String(s);
        }

        private void List<T>(IReadOnlyList<T> list, Action<T> item)
        {
            w.Write7BitEncodedInt(list.Count);
            foreach (var x in list) item(x);
        }
    }

    /// <summary>Reads what <see cref="Writer"/> wrote (the layout of <see cref="BinaryWriter"/>: little-endian numbers,
    /// 7-bit encoded counts and indexes, UTF-8 strings with a 7-bit length) straight from the file's bytes. Lists come
    /// back as arrays (an empty one shared), and a cache pattern once per distinct text: the model is most of what a
    /// cached load allocates, and every object saved is memory that need not be touched and collected.</summary>
    private sealed class Reader(byte[] data, int start, string file)
    {
        private int _at = start;
        private string[] _strings = [];
        private CacheNamePattern?[] _patterns = [];

        public bool AtEnd => _at == data.Length;

        public KeywardManifest Manifest()
        {
            _strings = new string[Count()];
            for (var i = 0; i < _strings.Length; i++)
            {
                var length = Count();
                _strings[i] = Encoding.UTF8.GetString(Take(length));
            }
            _patterns = new CacheNamePattern?[_strings.Length];
            var recipients = Strings();
            var defaults = new Dictionary<CredentialKind, RotationPolicy>();
            for (int i = 0, n = Count(); i < n; i++) defaults[Enum<CredentialKind>()] = Rotation();
            var credentials = List(Credential);
            var sinks = List(Sink);
            var services = List(Service);
            var hosts = List(Host);
            var hostSinks = List(Sink);
            var publishers = List(Publisher);
            var gate = new AtticGateSettings(Enum<ForeignTokens>(), Bool(), Bool());
            return new KeywardManifest(file, recipients, defaults, credentials, sinks, services)
            {
                Hosts = hosts,
                HostSinks = hostSinks,
                TrustedPublishers = publishers,
                Gate = gate == AtticGateSettings.Default ? AtticGateSettings.Default : gate,
            };
        }

        private Credential Credential()
        {
            var tag = Byte();
            var name = String();
            var owner = String();
            var purpose = String();
            var rotation = Bool() ? Rotation() : null;
            var recipients = Strings();
            var location = Location();
            switch (tag)
            {
                case SecretTag:
                    return new SecretCredential(name, owner, purpose, rotation, recipients, location, Int32(), Enum<ValueEncoding>());
                case RsaTag:
                    return new RsaKeyCredential(name, owner, purpose, rotation, recipients, location, Int32(), Enum<RsaKeyFormat>());
                case NixTag:
                    return new NixSigningKeyCredential(name, owner, purpose, rotation, recipients, location, String());
                case AtticTag:
                {
                    var signedBy = String();
                    var subject = String();
                    var validity = Duration();
                    var renewBefore = OptionalDuration();
                    var caches = List(Grant);
                    var issuer = OptionalString();
                    return new AtticTokenCredential(name, owner, purpose, rotation, recipients, location, signedBy, subject, validity, renewBefore,
                        caches, issuer, Strings());
                }
                case ExternalTag:
                {
                    var provider = Enum<ExternalProvider>();
                    var host = OptionalString();
                    var username = OptionalString();
                    ExternalSource? source = Byte() switch
                    {
                        0 => null,
                        FileSourceTag => new FileSource(String(), Location()),
                        EnvSourceTag => new EnvSource(String(), Location()),
                        JsonMapSourceTag => new JsonMapSource(String(), String(), Location()),
                        SopsSourceTag => new SopsSource(String(), String(), Location()),
                        _ => throw new InvalidDataException("unknown source"),
                    };
                    DateTimeOffset? expires = null;
                    if (Bool())
                    {
                        var ticks = Int64();
                        var offset = TimeSpan.FromMinutes(Int16());
                        expires = new DateTimeOffset(ticks + offset.Ticks, offset);
                    }
                    return new ExternalCredential(name, owner, purpose, rotation, recipients, location, provider, host, username, source, expires);
                }
                default:
                    throw new InvalidDataException("unknown credential kind");
            }
        }

        private CacheGrant Grant()
        {
            var pattern = Pattern();
            var permissions = new AtticPermission[Count()];
            for (var i = 0; i < permissions.Length; i++) permissions[i] = Enum<AtticPermission>();
            return new CacheGrant(pattern, permissions, Location());
        }

        // One pattern per distinct text (immutable: sharing it is as good as parsing it again), still checked once.
        private CacheNamePattern Pattern()
        {
            var index = Index();
            return _patterns[index] ??= CacheNamePattern.TryParse(_strings[index], out var p) ? p : throw new InvalidDataException("bad cache pattern");
        }

        private Sink Sink()
        {
            var name = String();
            var path = String();
            var format = Enum<SinkFormat>();
            var owner = OptionalString();
            var group = OptionalString();
            var mode = Int32();
            var directoryMode = Int32();
            var persistRoot = OptionalString();
            var entries = List(Entry);
            var hooks = List(Hook);
            NixConfOptions? nixConf = null;
            if (Bool()) nixConf = new NixConfOptions(Strings(), Strings(), OptionalString(), Strings());
            KubernetesSecretOptions? kubernetes = null;
            if (Bool())
            {
                var kname = String();
                var ns = String();
                var type = String();
                var labels = new Dictionary<string, string>(StringComparer.Ordinal);
                for (int i = 0, n = Count(); i < n; i++) labels.Add(String(), String());
                kubernetes = new KubernetesSecretOptions(kname, ns, type, labels, Bool());
            }
            AtticConfigOptions? attic = Bool() ? new AtticConfigOptions(OptionalString()) : null;
            var location = Location();
            return new Sink(name, path, format, owner, group, mode, directoryMode, persistRoot, entries, hooks, nixConf, kubernetes, attic, location)
            {
                Hosts = Strings(),
            };
        }

        private SinkEntry Entry()
        {
            var key = String();
            var credential = String();
            var encoding = Enum<ValueEncoding>();
            var take = Enum<EntryValue>();
            var username = OptionalString();
            var endpoint = OptionalString();
            var tokenFile = OptionalString();
            var location = Location();
            return new SinkEntry(key, credential, encoding, take, username, endpoint, tokenFile, location) { Literal = OptionalString() };
        }

        private Hook Hook()
        {
            var tag = Byte();
            Hook hook = tag switch
            {
                RestartTag => new RestartUnitHook(String(), Location()),
                ReloadTag => new ReloadUnitHook(String(), Location()),
                CommandTag => new CommandHook(Strings(), Location()),
                _ => throw new InvalidDataException("unknown hook"),
            };
            return hook with { PassEnv = Strings() };
        }

        private Service Service()
        {
            var name = String();
            var kind = Enum<ServiceKind>();
            var url = new Uri(String(), UriKind.Absolute);
            var token = OptionalString();
            var caches = List(Cache);
            var adminUser = OptionalString();
            var adminPassword = OptionalString();
            return new Service(name, kind, url, token, caches, adminUser, adminPassword, Strings(), Location());
        }

        private AtticCacheSpec Cache()
        {
            var name = String();
            var isPublic = Bool();
            var storeDir = String();
            var priority = Int32();
            var upstream = Strings();
            var signingKey = OptionalString();
            var retention = OptionalDuration();
            return new AtticCacheSpec(name, isPublic, storeDir, priority, upstream, signingKey, retention, Location());
        }

        private HostSpec Host()
        {
            var name = String();
            HostKey? key = null;
            if (Bool())
            {
                var length = Count();
                key = HostKey.FromWire(Take(length).ToArray()) ?? throw new InvalidDataException("bad host key");
            }
            return new HostSpec(name, key, OptionalString(), Location());
        }

        private TrustedPublisher Publisher()
        {
            var name = String();
            var issuer = new Uri(String(), UriKind.Absolute);
            var audience = String();
            var signedBy = String();
            var claims = List(() => new ClaimMatcher(String(), Strings(), Location()));
            var caches = List(Grant);
            return new TrustedPublisher(name, issuer, audience, signedBy, claims, caches, Duration(), Location());
        }

        private RotationPolicy Rotation()
        {
            var maxAge = OptionalDuration();
            var renewBefore = OptionalDuration();
            var overlap = OptionalDuration();
            bool? autoContinue = Byte() switch
            {
                0 => null,
                1 => false,
                2 => true,
                _ => throw new InvalidDataException("bad flag"),
            };
            var location = Bool() ? Location() : null;
            return new RotationPolicy(maxAge, renewBefore, overlap, autoContinue, location, OptionalDuration());
        }

        private HumanDuration Duration() => new(new TimeSpan(Int64()), String());

        private HumanDuration? OptionalDuration() => Bool() ? Duration() : null;

        private SourceLocation Location()
        {
            var line = Int7();
            return new SourceLocation(file, line, Int7());
        }

        private T Enum<T>() where T : struct, Enum
        {
            var value = Int7();
            var e = System.Runtime.CompilerServices.Unsafe.As<int, T>(ref value);
            return System.Enum.IsDefined(e) ? e : throw new InvalidDataException($"bad {typeof(T).Name}");
        }

        private string String() => _strings[Index()];

        private int Index()
        {
            var index = Int7();
            return (uint)index < (uint)_strings.Length ? index : throw new InvalidDataException("bad string index");
        }

        private string? OptionalString() => Bool() ? String() : null;

        private string[] Strings()
        {
            var n = Count();
            if (n == 0) return [];
            var list = new string[n];
            for (var i = 0; i < list.Length; i++) list[i] = String();
            return list;
        }

        private T[] List<T>(Func<T> item)
        {
            var n = Count();
            if (n == 0) return [];
            var list = new T[n];
            for (var i = 0; i < n; i++) list[i] = item();
            return list;
        }

        private int Count()
        {
            var count = Int7();
            // Every item takes at least one byte: a count beyond what is left is damage, not a list to allocate.
            return count < 0 || count > data.Length - _at ? throw new InvalidDataException("bad count") : count;
        }

        private ReadOnlySpan<byte> Take(int length)
        {
            if (length < 0 || length > data.Length - _at) throw new EndOfStreamException();
            var span = data.AsSpan(_at, length);
            _at += length;
            return span;
        }

        private byte Byte() => _at < data.Length ? data[_at++] : throw new EndOfStreamException();

        private bool Bool() => Byte() != 0;

        private short Int16() => System.Buffers.Binary.BinaryPrimitives.ReadInt16LittleEndian(Take(2));

        private int Int32() => System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(Take(4));

        private long Int64() => System.Buffers.Binary.BinaryPrimitives.ReadInt64LittleEndian(Take(8));

        /// <summary>As <see cref="BinaryReader.Read7BitEncodedInt"/>: at most five bytes, the fifth with at most four bits.</summary>
        private int Int7()
        {
            uint result = 0;
            for (var shift = 0; shift < 35; shift += 7)
            {
                var b = Byte();
                if (shift == 28 && b > 0b1111) throw new InvalidDataException("bad 7-bit number");
                result |= (uint)(b & 0x7F) << shift;
                if (b < 0x80) return (int)result;
            }
            throw new InvalidDataException("bad 7-bit number");
        }
    }
}
