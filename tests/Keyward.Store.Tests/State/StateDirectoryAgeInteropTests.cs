using System.Diagnostics;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
using Keyward.Store.Sqlite;
using Keyward.Store.Tests.Support;
using Microsoft.Extensions.Time.Testing;

namespace Keyward.Store.Tests.State;

/// <summary>
/// Recovery with the real tools: the wrapped data key, extracted with the sqlite3 CLI exactly as docs/store.md says,
/// decrypts with the real <c>age -d -i</c> using the store identity, an age-keygen operator key, or an ssh-ed25519 key.
/// </summary>
[Trait("Category", "Interop")]
public sealed class StateDirectoryAgeInteropTests : IDisposable
{
    private readonly TempDirectory _temp = new();
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2025, 3, 1, 12, 0, 0, TimeSpan.Zero));

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public void Dispose() => _temp.Dispose();

    private static string Tool(string name)
    {
        foreach (var dir in new[] { "/usr/bin", "/usr/local/bin", "/bin" })
        {
            var path = Path.Combine(dir, name);
            if (File.Exists(path)) return path;
        }
        throw new InvalidOperationException($"the real '{name}' is not installed; run ./test.sh (it installs age, sqlite3 and openssh-client)");
    }

    private static async Task<(int Code, byte[] Stdout, string Stderr)> RunAsync(string tool, params string[] args)
    {
        var start = new ProcessStartInfo(Tool(tool)) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true, UseShellExecute = false };
        foreach (var a in args) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        using var stdout = new MemoryStream();
        var copy = process.StandardOutput.BaseStream.CopyToAsync(stdout, Ct);
        var stderr = process.StandardError.ReadToEndAsync(Ct);
        await process.WaitForExitAsync(Ct);
        await copy;
        return (process.ExitCode, stdout.ToArray(), await stderr);
    }

    /// <summary>The documented extraction: <c>sqlite3 keyward.db "SELECT writefile('key.age', value) FROM meta WHERE key = 'wrapped_data_key'"</c>.</summary>
    private async Task<string> ExtractWrappedKeyAsync(string dir)
    {
        var output = _temp.Combine("data-key.age");
        var (code, _, stderr) = await RunAsync("sqlite3", Path.Combine(dir, StateDirectory.DatabaseFileName),
            $"SELECT writefile('{output}', value) FROM meta WHERE key = 'wrapped_data_key';");
        Assert.True(code == 0, stderr);
        Assert.StartsWith("age-encryption.org/v1\n", await File.ReadAllTextAsync(output, Ct), StringComparison.Ordinal);
        return output;
    }

    private static async Task<byte[]> AgeDecryptAsync(string identity, string file)
    {
        var (code, stdout, stderr) = await RunAsync("age", "-d", "-i", identity, file);
        Assert.True(code == 0, $"age -d failed: {stderr}");
        return stdout;
    }

    private static byte[] DataKeyOf(OpenedState state) => ((SqliteCredentialStore)state.Store).Keys.DataKey.Reveal().ToArray();

    [Fact]
    public async Task RealAge_DecryptsTheWrappedDataKey_WithTheStoreIdentity_AndAnAgeKeygenOperatorKey()
    {
        var operatorKey = _temp.Combine("operator.txt");
        var (code, _, stderr) = await RunAsync("age-keygen", "-o", operatorKey);
        Assert.True(code == 0, stderr);
        var operatorRecipient = (await RunAsync("age-keygen", "-y", operatorKey)).Stdout;
        var recipient = System.Text.Encoding.ASCII.GetString(operatorRecipient).Trim();

        var dir = _temp.Combine("state");
        byte[] dataKey;
        await using (var state = await StateDirectory.InitAsync(dir, [recipient], _time, Ct))
        {
            dataKey = DataKeyOf(state);
            await state.Store.PutAsync(new NewVersion("k", "secret", Secret.Random(16), VersionState.Active, _time.GetUtcNow(), null, "generated", new Dictionary<string, string>()), Ct);
        }
        var wrapped = await ExtractWrappedKeyAsync(dir);
        Assert.Equal(dataKey, await AgeDecryptAsync(Path.Combine(dir, StateDirectory.IdentityFileName), wrapped));
        Assert.Equal(dataKey, await AgeDecryptAsync(operatorKey, wrapped));

        // And Keyward opens the store with the age-keygen file.
        await using var asOperator = await StateDirectory.OpenWithIdentityAsync(dir, operatorKey, _time, Ct);
        Assert.Single(await asOperator.Store.ListVersionsAsync(Ct));
    }

    [Fact]
    public async Task RealAge_DecryptsTheWrappedDataKey_WithAnSshEd25519KeyAddedLater()
    {
        var sshKey = _temp.Combine("id_ed25519");
        var (code, _, stderr) = await RunAsync("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "operator@laptop", "-f", sshKey);
        Assert.True(code == 0, stderr);
        var sshPublic = (await File.ReadAllTextAsync(sshKey + ".pub", Ct)).Trim();

        var dir = _temp.Combine("state");
        byte[] dataKey;
        await using (var state = await StateDirectory.InitAsync(dir, [], _time, Ct))
        {
            dataKey = DataKeyOf(state);
            await state.AddRecipientsAsync([sshPublic], Ct);
            Assert.StartsWith("ssh-ed25519 AAAA", state.Recipients[1], StringComparison.Ordinal);
        }
        var wrapped = await ExtractWrappedKeyAsync(dir);
        Assert.Equal(dataKey, await AgeDecryptAsync(sshKey, wrapped));
        Assert.Equal(dataKey, await AgeDecryptAsync(Path.Combine(dir, StateDirectory.IdentityFileName), wrapped));
    }

    [Fact]
    public async Task RealAgeKeygen_ReadsTheGeneratedIdentityFile()
    {
        var dir = _temp.Combine("state");
        string recipient;
        await using (var state = await StateDirectory.InitAsync(dir, [], _time, Ct)) recipient = state.Recipient;
        var (code, stdout, stderr) = await RunAsync("age-keygen", "-y", Path.Combine(dir, StateDirectory.IdentityFileName));
        Assert.True(code == 0, stderr);
        Assert.Equal(recipient, System.Text.Encoding.ASCII.GetString(stdout).Trim());
    }
}
