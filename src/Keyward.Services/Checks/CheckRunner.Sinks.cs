using System.Globalization;
using Keyward.Core.Manifest;

namespace Keyward.Services.Checks;

public sealed partial class CheckRunner
{
    /// <summary>`keyward bootstrap coder NAME` for the token of a Coder or Gitea service (what obtains it), else null.</summary>
    private string? BootstrapCommandFor(string credential) =>
        _manifest.Services.FirstOrDefault(s => s.Token == credential && s.Kind is ServiceKind.Coder or ServiceKind.Gitea) is { } s
            ? $"`keyward bootstrap {s.Kind.ToString().ToLowerInvariant()} {s.Name}`"
            : null;

    private List<Observation> CheckSink(Sink sink, AccountNames accounts)
    {
        var storage = _options.Resolve(sink.StoragePath);
        var st = FileStatus.Lstat(storage);
        if (st is null || st.IsDirectory)
            return [Observation.False(ConditionTypes.Ready, "Missing", $"{sink.StoragePath} does not exist: run " +
                (sink.CredentialNames.Select(BootstrapCommandFor).FirstOrDefault(b => b is not null) is { } bootstrap
                    ? $"{bootstrap} (it delivers the token once one is valid), or `keyward apply` if the token is stored already"
                    : "`keyward apply`"))];
        var ready = Observation.True(ConditionTypes.Ready, "Present", $"{sink.StoragePath} exists");
        var problems = new List<string>();
        var reason = "MatchesManifest";
        void Problem(string r, string text) { problems.Add(text); if (reason == "MatchesManifest") reason = r; }

        if (st.IsSymlink) Problem("UnexpectedSymlink", $"{sink.StoragePath} is a symlink, expected a regular file");
        if (st.Mode != sink.Mode) Problem("ModeMismatch", $"mode {Octal(st.Mode)}, declared {Octal(sink.Mode)}");
        if (sink.Format.CarriesSecrets() && (st.Mode & 0b000_000_100) != 0) Problem("WorldReadable", $"{sink.StoragePath} carries secrets and is world-readable ({Octal(st.Mode)})");
        if (sink.Owner is { } owner && accounts.User(owner) is var uid && uid != st.Uid)
            Problem("OwnerMismatch", $"owner uid {st.Uid}, declared {owner}{(uid is null ? " (unknown user)" : $" ({uid})")}");
        if (sink.Group is { } group && accounts.Group(group) is var gid && gid != st.Gid)
            Problem("GroupMismatch", $"group gid {st.Gid}, declared {group}{(gid is null ? " (unknown group)" : $" ({gid})")}");

        if (sink.PersistRoot is not null)
        {
            var dir = Path.GetDirectoryName(storage)!;
            var ds = FileStatus.Lstat(dir);
            if (ds is null || ds.Mode != sink.DirectoryMode)
                Problem("PersistDirMode", $"persisted directory {Path.GetDirectoryName(sink.StoragePath)} has mode {(ds is null ? "(missing)" : Octal(ds.Mode))}, declared {Octal(sink.DirectoryMode)}");
            var runtime = _options.Resolve(sink.Path);
            var rs = FileStatus.Lstat(runtime);
            if (rs is null) Problem("RuntimeLinkMissing", $"{sink.Path} does not exist (it must be a symlink to {sink.StoragePath})");
            else if (!rs.IsSymlink) Problem("RuntimeNotLinked", $"{sink.Path} is not a symlink to {sink.StoragePath}: it will not survive a reboot of an impermanent host");
            else
            {
                var target = new FileInfo(runtime).LinkTarget ?? "";
                var resolved = target.StartsWith('/') ? _options.Resolve(target) : Path.GetFullPath(target, Path.GetDirectoryName(runtime)!);
                if (!string.Equals(Path.GetFullPath(resolved), Path.GetFullPath(storage), StringComparison.Ordinal))
                    Problem("RuntimeLinkWrong", $"{sink.Path} points at {target}, expected {sink.StoragePath}");
            }
        }
        if (sink.NixConf is { } nix) CheckNixConsumer(sink, nix, Problem);

        return
        [
            ready,
            problems.Count == 0
                ? Observation.True(ConditionTypes.Verified, reason, $"mode {Octal(st.Mode)}, uid {st.Uid}, gid {st.Gid}{(sink.PersistRoot is null ? "" : $", persisted under {sink.PersistRoot}")}")
                : Observation.False(ConditionTypes.Verified, reason, string.Join("; ", problems)),
        ];
    }

    /// <summary>Every sink that makes Nix use an Attic cache as a substituter must also make it trust the cache's key.</summary>
    private void CheckNixConsumer(Sink sink, NixConfOptions nix, Action<string, string> problem)
    {
        foreach (var (service, cache) in AtticCaches())
        {
            var url = new Uri(service.Url, cache.Name).AbsoluteUri.TrimEnd('/');
            if (!nix.Substituters.Any(s => string.Equals(s.TrimEnd('/'), url, StringComparison.Ordinal))) continue;
            var trusted = nix.TrustedPublicKeys;
            var ok = cache.SigningKey is { } key && trusted.Contains(key, StringComparer.Ordinal);
            if (!ok && cache.SigningKey is { } k2 && _values.TryGetValue(k2, out var sk))
            {
                try
                {
                    using var parsed = Crypto.Nix.NixSecretKey.Parse(sk);
                    ok = trusted.Contains(parsed.PublicKey.ToString(), StringComparer.Ordinal);
                }
                catch (Core.Errors.KeywardException) { /* reported on the key itself */ }
            }
            if (!ok) problem("MissingCachePublicKey", $"substituter {url} is configured without the cache's public key ({cache.SigningKey ?? "undeclared signing key"}) in trusted-public-keys");
        }
    }

    private static string Octal(int mode) => Convert.ToString(mode, 8).PadLeft(4, '0').ToString(CultureInfo.InvariantCulture);
}
