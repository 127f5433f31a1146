using System.Globalization;
using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Manifest;
using Keyward.Core.Secrets;
using Keyward.Sinks;

namespace Keyward.Engine.Delivery;

/// <summary>
/// The one delivery path: renders a sink (trust lists applied), describes its file write (resolving <c>--root</c> and
/// persistence roots), writes it, and answers "is this sink correct on disk?" for plan, apply and check alike.
/// Apply, rotation and bootstrap all deliver through here.
/// </summary>
public sealed class SinkDelivery(EngineOptions options, Func<ReadOnlySpan<byte>, string> fingerprint)
{
    private AtomicFileWriter? _writer;

    // The writer's one warning is "not running as root: owner and group not applied" (KW0717, not KW0008's free-space hint).
    public AtomicFileWriter Writer => _writer ??= new AtomicFileWriter(fingerprint, m => options.Warn(Core.Errors.ErrorCodes.SinkOwnerNotApplied.With(m))) { Root = options.Root, WallClock = options.FileClock };

    /// <summary>Where the bytes go: the storage path (under the persistence root when there is one), under --root.</summary>
    public string TargetPath(Sink sink) => options.Rooted(sink.StoragePath);

    /// <summary>The runtime path that must link to the storage path, for persisted sinks.</summary>
    public string? LinkPath(Sink sink) => sink.PersistRoot is null ? null : options.Rooted(sink.Path);

    /// <summary>The file write for <paramref name="sink"/>: rendered with <paramref name="trust"/> applied (see <see cref="Render"/>).</summary>
    public FileWriteRequest Request(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> values, IReadOnlyDictionary<string, IReadOnlyList<string>> trust) =>
        Request(sink, Render(sink, values, trust));

    /// <summary>The file write for <paramref name="sink"/> with bytes rendered elsewhere (an agent writing what the server rendered).</summary>
    public FileWriteRequest Request(Sink sink, byte[] content) => Request(sink, TargetPath(sink), content);

    private FileWriteRequest Request(Sink sink, string targetPath, byte[] content) =>
        new(targetPath, content, sink.Mode, sink.DirectoryMode, sink.Owner, sink.Group, LinkPath(sink))
        {
            EnforceDirectoryMode = sink.PersistRoot is not null,
        };

    /// <summary>Renders a sink with every trusted Nix signing key replaced by the public keys it stands for now
    /// (<see cref="TrustLists"/>): in a nix-conf sink's <c>trusted-public-keys</c>, and in <c>public: true</c> entries
    /// (such as <c>ATTIC_PUBLIC_KEY</c>), which carry the same keys separated by a space — the form Nix reads a list in.</summary>
    public static byte[] Render(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> values, IReadOnlyDictionary<string, IReadOnlyList<string>> trust)
    {
        var (target, resolved) = WithTrust(sink, values, trust);
        return SinkRenderer.Render(target, resolved);
    }

    private static (Sink, IReadOnlyDictionary<string, ResolvedCredential>) WithTrust(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> values,
        IReadOnlyDictionary<string, IReadOnlyList<string>> trust)
    {
        if (trust.Count == 0) return (sink, values);
        var target = sink;
        if (sink.NixConf is { } nix && nix.TrustedPublicKeys.Any(trust.ContainsKey))
        {
            var keys = nix.TrustedPublicKeys.SelectMany(k => trust.TryGetValue(k, out var list) ? list : [k]).Distinct(StringComparer.Ordinal).ToArray();
            target = sink with { NixConf = nix with { TrustedPublicKeys = keys } };
        }
        Dictionary<string, ResolvedCredential>? copy = null;
        foreach (var e in sink.Entries)
        {
            if (e.Take != EntryValue.PublicKey || !trust.TryGetValue(e.Credential, out var list) || list.Count == 0) continue;
            if (!values.TryGetValue(e.Credential, out var v)) continue;
            copy ??= new Dictionary<string, ResolvedCredential>(values, StringComparer.Ordinal);
            copy[e.Credential] = new ResolvedCredential(v.Spec, v.Value, string.Join(' ', list));
        }
        return (target, copy ?? values);
    }

    /// <summary>Writes atomically. Under <c>--root</c> (building an image on another host) an owner or group that does not
    /// exist here is a warning and the file keeps the builder's ownership; on the real system it is an error.</summary>
    public FileWriteOutcome Write(FileWriteRequest request) => WithOwnerFallback(request, Writer.Write);

    public bool IsCurrent(FileWriteRequest request) => WithOwnerFallback(request, Writer.IsCurrent);

    /// <summary>Missing, current or differing (see <see cref="AtomicFileWriter.Check"/>).</summary>
    public FileCheck Check(FileWriteRequest request) => WithOwnerFallback(request, Writer.Check);

    /// <summary>"Is this sink correct on disk?": the answer plan prints, apply acts on and check reports. A content
    /// difference names the credentials whose values differ, never the values.</summary>
    public SinkInspection Inspect(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> values, IReadOnlyDictionary<string, IReadOnlyList<string>> trust)
    {
        var warnings = new List<(string Who, KeywardError Warning)>();
        try
        {
            return Inspect(sink, values, trust, warnings, null);
        }
        finally
        {
            WarnOnce(warnings);
        }
    }

    /// <summary>Fewer sinks than this are inspected on the calling thread: handing work to other threads costs more than
    /// a few dozen inspections (each a render, a few system calls and a read of a small file).</summary>
    internal const int ParallelThreshold = 64;

    /// <summary>
    /// <see cref="Inspect(Sink, IReadOnlyDictionary{string, ResolvedCredential}, IReadOnlyDictionary{string, IReadOnlyList{string}})"/>
    /// of every sink in <paramref name="sinks"/>, on up to one thread per processor: the answers come back in the order
    /// of <paramref name="sinks"/>, and the warnings are given after all are inspected, in that order too, so the output
    /// is the same whatever thread inspected which sink. Inspection only reads (the writer's directory memory is locked,
    /// owner lookups are reentrant, fingerprints are stateless, a deferred public key is derived under a lock); a
    /// failure stops the rest and the first in sink order is thrown, as the sequential loop would have thrown it.
    /// </summary>
    public IReadOnlyList<SinkInspection> InspectAll(IReadOnlyList<Sink> sinks, IReadOnlyDictionary<string, ResolvedCredential> values,
        IReadOnlyDictionary<string, IReadOnlyList<string>> trust) => InspectAll(sinks, values, trust, Environment.ProcessorCount);

    internal IReadOnlyList<SinkInspection> InspectAll(IReadOnlyList<Sink> sinks, IReadOnlyDictionary<string, ResolvedCredential> values,
        IReadOnlyDictionary<string, IReadOnlyList<string>> trust, int parallelism)
    {
        ArgumentNullException.ThrowIfNull(sinks);
        var threads = Math.Max(1, parallelism);
        var results = new SinkInspection[sinks.Count];
        var warnings = new List<(string Who, KeywardError Warning)>?[sinks.Count];
        var failures = new Exception?[sinks.Count];
        // Each sink directory is walked once for all the sinks in it (not once per sink); its checks still come first.
        using var batch = Writer.BeginInspections();
        if (threads == 1 || sinks.Count < ParallelThreshold)
        {
            for (var i = 0; i < sinks.Count; i++)
            {
                var list = new List<(string Who, KeywardError Warning)>();
                try
                {
                    results[i] = Inspect(sinks[i], values, trust, list, batch);
                }
                finally
                {
                    WarnOnce(list);
                }
            }
            return results;
        }
        // Each worker takes the next index: sinks cost about the same, and a shared counter balances the odd slow one.
        var next = -1;
        var failed = 0;
        void Work()
        {
            int i;
            while (Volatile.Read(ref failed) == 0 && (i = Interlocked.Increment(ref next)) < sinks.Count)
            {
                var list = new List<(string Who, KeywardError Warning)>();
                try
                {
                    results[i] = Inspect(sinks[i], values, trust, list, batch);
                }
                catch (Exception e)
                {
                    failures[i] = e;
                    Volatile.Write(ref failed, 1);
                }
                warnings[i] = list;
            }
        }
        var workers = new Thread[Math.Min(threads, sinks.Count) - 1];
        for (var t = 0; t < workers.Length; t++)
        {
            workers[t] = new Thread(Work) { IsBackground = true, Name = "keyward-inspect" };
            workers[t].Start();
        }
        Work();
        foreach (var w in workers) w.Join();
        for (var i = 0; i < sinks.Count; i++)
        {
            if (warnings[i] is { } list) WarnOnce(list);
            if (failures[i] is { } e) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(e);
        }
        return results;
    }

    private SinkInspection Inspect(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> values, IReadOnlyDictionary<string, IReadOnlyList<string>> trust,
        List<(string Who, KeywardError Warning)> warnings, Keyward.Sinks.Files.InspectionBatch? batch)
    {
        var path = TargetPath(sink);
        if (!Renderable(sink, values, out var missing))
            return new SinkInspection(sink, path, SinkState.Pending, [new("NoValue", $"{missing} has no value")]);
        var request = Request(sink, path, Render(sink, values, trust));
        try
        {
            var writer = Writer;
            var found = WithOwnerFallback(request, r => writer.Inspect(r, batch), warnings);
            if (found.IsCurrent) return new SinkInspection(sink, path, SinkState.Current, []) { File = found };
            var state = found.Has(FileDifferences.Missing) ? SinkState.Missing : SinkState.Differs;
            return new SinkInspection(sink, path, state, Findings(sink, request, found, values, trust));
        }
        finally
        {
            CryptographicOperations.ZeroMemory(request.Content);
        }
    }

    /// <summary>
    /// <paramref name="earlier"/> (an inspection of <paramref name="sink"/> that found it current) when one <c>lstat</c>
    /// proves the file has not changed since (<see cref="AtomicFileWriter.Unchanged"/>), so its answer is still the
    /// answer; null when it may have changed or cannot be proved not to: inspect it again. The caller vouches that what
    /// the sink renders to is the same as then (the same store rows, trust lists and manifest). A persisted sink is never
    /// proved this way (its directory and runtime link are not in the one <c>lstat</c>).
    /// </summary>
    public SinkInspection? StillCurrent(Sink sink, SinkInspection earlier)
    {
        ArgumentNullException.ThrowIfNull(earlier);
        if (earlier.State != SinkState.Current || earlier.File is not { } file || !ReferenceEquals(earlier.Sink, sink) || sink.PersistRoot is not null)
            return null;
        var path = TargetPath(sink);
        return string.Equals(path, earlier.TargetPath, StringComparison.Ordinal) && Writer.Unchanged(path, file) ? earlier : null;
    }

    private List<SinkFinding> Findings(Sink sink, FileWriteRequest request, FileInspection found,
        IReadOnlyDictionary<string, ResolvedCredential> values, IReadOnlyDictionary<string, IReadOnlyList<string>> trust)
    {
        var list = new List<SinkFinding>();
        if (found.Has(FileDifferences.Missing))
            list.Add(new("Missing", $"{sink.StoragePath} does not exist"));
        if (found.Has(FileDifferences.NotRegularFile))
            list.Add(new("NotRegularFile", $"{sink.StoragePath} is not a regular file (a symlink, directory or device)"));
        if (found.Has(FileDifferences.Content))
        {
            var (names, literals) = DifferingCredentials(sink, request, values, trust);
            var parts = new List<string>();
            if (names.Count > 0)
                parts.Add($"{string.Join(", ", names)} on disk {(names.Count == 1 ? "is" : "are")} not the stored {(names.Count == 1 ? "value" : "values")}");
            if (literals.Count > 0)
                parts.Add($"{string.Join(", ", literals)} on disk {(literals.Count == 1 ? "is" : "are")} not the manifest's literal {(literals.Count == 1 ? "value" : "values")}");
            list.Add(new("ContentDiffers", parts.Count > 0
                ? $"content differs from what Keyward renders: {string.Join("; ", parts)}"
                : "content differs from what Keyward renders (edited outside the credentials' values)"));
        }
        if (found.Has(FileDifferences.Mode))
        {
            var worldReadable = sink.Format.CarriesSecrets() && (found.Mode & 0b000_000_100) != 0;
            list.Add(new(worldReadable ? "WorldReadable" : "ModeMismatch",
                $"mode {Octal(found.Mode ?? 0)}, declared {Octal(sink.Mode)}{(worldReadable ? " (it carries secrets and is world-readable)" : "")}"));
        }
        if (found.Has(FileDifferences.Owner)) list.Add(new("OwnerMismatch", $"owner uid {found.Uid}, declared {sink.Owner}"));
        if (found.Has(FileDifferences.Group)) list.Add(new("GroupMismatch", $"group gid {found.Gid}, declared {sink.Group}"));
        if (found.Has(FileDifferences.DirectoryMode))
            list.Add(new("PersistDirMode", $"persisted directory {Path.GetDirectoryName(sink.StoragePath)} has mode {(found.DirectoryMode is { } d ? Octal(d) : "(missing)")}, declared {Octal(sink.DirectoryMode)}"));
        if (found.Has(FileDifferences.LinkMissing))
            list.Add(new("RuntimeLinkMissing", $"{sink.Path} does not exist (it must be a symlink to {sink.StoragePath})"));
        if (found.Has(FileDifferences.LinkWrong))
            list.Add(found.LinkTarget is { } t
                ? new("RuntimeLinkWrong", $"{sink.Path} points at {t}, expected {sink.StoragePath}")
                : new("RuntimeNotLinked", $"{sink.Path} is not a symlink to {sink.StoragePath}: it will not survive a reboot of an impermanent host"));
        return list;
    }

    /// <summary>Which credentials' lines of the rendered file are not on disk, and which literal entries' (by key). A line
    /// depends on a credential or literal when rendering with a stand-in value for it changes that line; lines are compared
    /// by keyed fingerprint, so no value is kept as a string.</summary>
    private (List<string> Credentials, List<string> Literals) DifferingCredentials(Sink sink, FileWriteRequest request, IReadOnlyDictionary<string, ResolvedCredential> values,
        IReadOnlyDictionary<string, IReadOnlyList<string>> trust)
    {
        byte[] disk;
        try
        {
            disk = File.ReadAllBytes(request.Path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return ([], []);
        }
        try
        {
            var onDisk = LineFingerprints(disk);
            var expected = LineFingerprints(request.Content);
            var absent = expected.Where(l => !onDisk.Contains(l)).ToHashSet(StringComparer.Ordinal);
            var result = new List<string>();
            var literals = new List<string>();
            if (absent.Count == 0) return (result, literals);
            foreach (var name in sink.CredentialNames.Where(values.ContainsKey))
            {
                byte[] perturbed;
                try
                {
                    perturbed = Render(sink, StandIn(values, name), StandIn(trust, name));
                }
                catch (KeywardException)
                {
                    continue; // the format refuses the stand-in: this credential cannot be singled out
                }
                var changed = LineFingerprints(perturbed);
                CryptographicOperations.ZeroMemory(perturbed);
                if (expected.Any(l => !changed.Contains(l) && absent.Contains(l))) result.Add(name);
            }
            foreach (var literal in sink.Entries.Where(e => e.IsLiteral))
            {
                var standIn = sink with { Entries = [.. sink.Entries.Select(e => ReferenceEquals(e, literal) ? e with { Literal = "keyward-stand-in-value" } : e)] };
                var perturbed = Render(standIn, values, trust);
                var changed = LineFingerprints(perturbed);
                CryptographicOperations.ZeroMemory(perturbed);
                if (expected.Any(l => !changed.Contains(l) && absent.Contains(l))) literals.Add(literal.Key);
            }
            return (result, literals);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(disk);
        }
    }

    private HashSet<string> LineFingerprints(ReadOnlySpan<byte> content)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        while (content.Length > 0)
        {
            var end = content.IndexOf((byte)'\n');
            var line = end < 0 ? content : content[..end];
            set.Add(fingerprint(line));
            content = end < 0 ? [] : content[(end + 1)..];
        }
        return set;
    }

    private const string StandInKey = "keyward-stand-in:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

    private static Dictionary<string, ResolvedCredential> StandIn(IReadOnlyDictionary<string, ResolvedCredential> values, string name)
    {
        var copy = new Dictionary<string, ResolvedCredential>(values, StringComparer.Ordinal);
        var v = values[name];
        copy[name] = new ResolvedCredential(v.Spec, Secret.FromUtf8("keyward-stand-in-value"), StandInKey);
        return copy;
    }

    private static Dictionary<string, IReadOnlyList<string>> StandIn(IReadOnlyDictionary<string, IReadOnlyList<string>> trust, string name)
    {
        var copy = new Dictionary<string, IReadOnlyList<string>>(trust, StringComparer.Ordinal);
        if (copy.ContainsKey(name)) copy[name] = [StandInKey];
        return copy;
    }

    private static string Octal(int mode) => Convert.ToString(mode, 8).PadLeft(4, '0').ToString(CultureInfo.InvariantCulture);

    private readonly HashSet<string> _warnedOwners = new(StringComparer.Ordinal);
    private readonly Lock _warnedLock = new();

    private T WithOwnerFallback<T>(FileWriteRequest request, Func<FileWriteRequest, T> action)
    {
        var warnings = new List<(string Who, KeywardError Warning)>(0);
        try
        {
            return WithOwnerFallback(request, action, warnings);
        }
        finally
        {
            WarnOnce(warnings);
        }
    }

    /// <param name="warnings">Receives the unknown-owner warning (with the owner:group it is about) instead of it being
    /// given here: <see cref="WarnOnce"/> gives it, once per owner:group, when the caller's order says.</param>
    private T WithOwnerFallback<T>(FileWriteRequest request, Func<FileWriteRequest, T> action, List<(string Who, KeywardError Warning)> warnings)
    {
        try
        {
            return action(request);
        }
        catch (Core.Errors.KeywardException ex) when (options.Root is not null && ex.First.Code == Core.Errors.ErrorCodes.SinkUnknownOwner)
        {
            warnings.Add(($"{request.Owner}:{request.Group}",
                ex.First with { Message = ex.First.Message + $" (under --root the file keeps this host's ownership; {request.Owner ?? "-"}:{request.Group ?? "-"} applies on the target system)" }));
            return action(request with { Owner = null, Group = null });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // The writer translates failures of the write itself; a failed look at the target or its parents (statx:
            // "File name too long" under a long --root, EACCES) is the same failure to the user, not an internal error.
            throw new Core.Errors.KeywardException(Core.Errors.ErrorCodes.SinkWriteFailed.With($"cannot write '{request.Path}': {Core.Errors.IoErrorText.Describe(ex)}"), ex);
        }
    }

    /// <summary>Gives each warning whose owner:group has not been warned about yet by this delivery.</summary>
    private void WarnOnce(List<(string Who, KeywardError Warning)> warnings)
    {
        foreach (var (who, warning) in warnings)
        {
            bool first;
            lock (_warnedLock) first = _warnedOwners.Add(who);
            if (first) options.Warn(warning);
        }
    }

    /// <summary>True when the sink can be rendered now (every credential it needs has a value).</summary>
    public static bool Renderable(Sink sink, IReadOnlyDictionary<string, ResolvedCredential> values, out string? missing)
    {
        // sink.CredentialNames in its order (entries' credentials, then trusted keys), without building the distinct
        // list: the first name without a value is the same whether or not repeats are skipped.
        foreach (var e in sink.Entries)
        {
            if (e.IsLiteral || HasValue(values, e.Credential)) continue;
            // An entry's credential is only exempt when the same name is also a literal trusted key (as before).
            if (IsLiteralTrustedKey(sink, e.Credential)) continue;
            missing = e.Credential;
            return false;
        }
        if (sink.NixConf is { } nix)
        {
            foreach (var name in nix.TrustedPublicKeys)
            {
                if (HasValue(values, name) || name.Contains(':', StringComparison.Ordinal)) continue;
                missing = name;
                return false;
            }
        }
        missing = null;
        return true;
    }

    private static bool HasValue(IReadOnlyDictionary<string, ResolvedCredential> values, string name) =>
        values.TryGetValue(name, out var v) && v.Value is not null;

    // Literal trusted keys ("name:base64") are not credential references.
    private static bool IsLiteralTrustedKey(Sink sink, string name) =>
        sink.NixConf is not null && sink.NixConf.TrustedPublicKeys.Contains(name) && name.Contains(':', StringComparison.Ordinal);

    public static IReadOnlyDictionary<string, ResolvedCredential> ResolveAll(KeywardManifest manifest, IReadOnlyDictionary<string, Secret> values)
    {
        var result = new Dictionary<string, ResolvedCredential>(manifest.Credentials.Count, StringComparer.Ordinal); // sized once, not grown
        foreach (var c in manifest.Credentials)
            result[c.Name] = CredentialValues.Resolve(c, values.GetValueOrDefault(c.Name));
        return result;
    }
}

public enum SinkState
{
    /// <summary>A credential the sink needs has no value yet: nothing can be rendered or compared.</summary>
    Pending,
    Missing,
    Current,
    Differs,
}

/// <summary>One way a sink is not as Keyward would leave it: a CamelCase reason (check's condition reason) and a sentence.</summary>
public sealed record SinkFinding(string Reason, string Message);

/// <summary>What a plan found of the sinks, with what it rendered them against: the store's version list (as the store
/// handed it out: the same list object only while the stored state seal is unchanged) and the trust lists. A check run
/// later in the same controller pass proves its answers still hold (<see cref="SinkDelivery.StillCurrent"/>) instead of
/// inspecting every sink again.</summary>
public sealed record PlannedInspections(IReadOnlyList<Keyward.Core.Store.CredentialVersion> Versions,
    IReadOnlyDictionary<string, IReadOnlyList<string>> Trust, IReadOnlyDictionary<Sink, SinkInspection> BySink)
{
    /// <summary>The active values the plan revealed (of the credentials its sinks render), when the planner was asked to
    /// keep them; whoever asked disposes them (<see cref="DisposeValues"/>). A check run of the same pass takes them
    /// instead of decrypting them again while the store hands out the same <see cref="Versions"/>.</summary>
    public IReadOnlyDictionary<string, Secret>? Values { get; init; }

    public void DisposeValues()
    {
        foreach (var v in Values?.Values ?? []) v.Dispose();
    }
}

/// <summary>The shared answer to "is this sink correct?".</summary>
public sealed record SinkInspection(Sink Sink, string TargetPath, SinkState State, IReadOnlyList<SinkFinding> Findings)
{
    /// <summary>What the file inspection found, for a current sink (<see cref="SinkDelivery.StillCurrent"/>).</summary>
    public FileInspection? File { get; init; }

    public string Summary => string.Join("; ", Findings.Select(f => f.Message));
}
