using Keyward.Core.Manifest;
using Keyward.Services.Checks;
using Keyward.Services.Http;

namespace Keyward.Services.Tests;

public sealed class SinkFileCheckTests : IDisposable
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;
    private readonly TempDir _root = new();

    public void Dispose() => _root.Dispose();

    private async Task<Condition> Run(Sink sink, string type = ConditionTypes.Verified)
    {
        var manifest = M.Manifest([M.Secret("x")], [], [sink]);
        var clients = new ServiceClients(ServiceHttp.CreateClient(), M.FastHttp(), TimeProvider.System);
        var reports = await new CheckRunner(manifest, new StoreCheckState(new MemoryStore(), _root.Sub("state")), clients, new CheckOptions { Root = _root.Path }).RunAsync(Ct);
        return reports.Single(r => r.Kind == SubjectKind.Sink).Conditions.Single(c => c.Type == type);
    }

    private string Write(string relative, int mode)
    {
        var path = _root.Sub(relative);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, "value");
        File.SetUnixFileMode(path, (UnixFileMode)mode);
        return path;
    }

    [Fact]
    public async Task Missing_IsReadyFalse() =>
        Assert.Equal("Missing", (await Run(M.FileSink("s", "/run/keyward/token", 0b110_000_000), ConditionTypes.Ready)).Reason);

    [Fact]
    public async Task WrongOwner_IsOwnerMismatch()
    {
        Write("run/keyward/token", 0b110_000_000);
        var v = await Run(M.FileSink("s", "/run/keyward/token", 0b110_000_000, owner: "54321"));
        Assert.Equal((ConditionStatus.False, "OwnerMismatch"), (v.Status, v.Reason));
    }

    [Fact]
    public async Task PersistedWithoutLink_IsRuntimeNotLinked_AndLooseDirectoryIsReported()
    {
        Write("persist/etc/op/token", 0b110_000_000);
        File.SetUnixFileMode(_root.Sub("persist/etc/op"), (UnixFileMode)0b111_101_101);
        Write("etc/op/token", 0b110_000_000); // a plain file where the link should be
        var v = await Run(M.FileSink("s", "/etc/op/token", 0b110_000_000, owner: "root", group: "root", persistRoot: "/persist"));
        Assert.Equal(ConditionStatus.False, v.Status);
        Assert.Equal("PersistDirMode", v.Reason);
        Assert.Contains("is not a symlink", v.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PersistedWithLinkElsewhere_IsRuntimeLinkWrong()
    {
        Write("persist/etc/op/token", 0b110_000_000);
        File.SetUnixFileMode(_root.Sub("persist/etc/op"), (UnixFileMode)0b111_000_000);
        Write("elsewhere/token", 0b110_000_000);
        Directory.CreateDirectory(_root.Sub("etc/op"));
        File.CreateSymbolicLink(_root.Sub("etc/op/token"), "/elsewhere/token");
        var v = await Run(M.FileSink("s", "/etc/op/token", 0b110_000_000, persistRoot: "/persist"));
        Assert.Equal((ConditionStatus.False, "RuntimeLinkWrong"), (v.Status, v.Reason));
    }

    [Fact]
    public async Task NixConfMayBeWorldReadable_SecretsMayNot()
    {
        Write("etc/nix/keyward.conf", 0b110_100_100);
        Assert.Equal(ConditionStatus.True, (await Run(M.FileSink("s", "/etc/nix/keyward.conf", 0b110_100_100, SinkFormat.NixConf,
            nix: new NixConfOptions([], [], null, [])))).Status);
        Write("etc/secret.env", 0b110_100_100);
        Assert.Equal("WorldReadable", (await Run(M.FileSink("s", "/etc/secret.env", 0b110_100_100, SinkFormat.Env))).Reason);
    }
}
