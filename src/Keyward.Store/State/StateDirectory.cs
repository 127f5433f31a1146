using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Store.Contract;
using Keyward.Store.Encryption;
using Keyward.Store.Sqlite;

namespace Keyward.Store;

/// <summary>
/// The state directory: <c>identity.txt</c> (age X25519 identity, 0600), <c>keyward.db</c> (the store, 0600, plus SQLite's
/// <c>-wal</c>/<c>-shm</c> files with the same mode), in a 0700 directory. See docs/store.md.
/// </summary>
public static class StateDirectory
{
    public const string IdentityFileName = "identity.txt";
    public const string DatabaseFileName = "keyward.db";

    private const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode SecretFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>True when both the identity and the store exist.</summary>
    public static bool IsInitialised(string dir) =>
        File.Exists(Path.Combine(dir, IdentityFileName)) && File.Exists(Path.Combine(dir, DatabaseFileName));

    /// <summary>Creates the state: directory 0700, a new identity (never overwriting one), the store with a fresh data key
    /// wrapped to the identity and to <paramref name="extraRecipients"/> (age1… or ssh-ed25519 keys, for recovery).</summary>
    public static Task<OpenedState> InitAsync(string dir, IReadOnlyList<string> extraRecipients, TimeProvider time, CancellationToken ct) =>
        InitAsync(dir, extraRecipients, time, AgeDataKeyWrap.Instance, ct);

    /// <summary>Opens an initialised state with its own identity file; KW0301 (hint <c>keyward init</c>) when there is none.</summary>
    public static Task<OpenedState> OpenAsync(string dir, TimeProvider time, CancellationToken ct) =>
        OpenAsync(dir, null, time, AgeDataKeyWrap.Instance, ct);

    /// <summary>Opens the state with another identity file, e.g. an operator's recovery identity that is one of the store's recipients.</summary>
    public static Task<OpenedState> OpenWithIdentityAsync(string dir, string identityPath, TimeProvider time, CancellationToken ct) =>
        OpenAsync(dir, identityPath, time, AgeDataKeyWrap.Instance, ct);

    /// <summary>Opens the state, initialising it first when the directory holds neither an identity nor a store.</summary>
    public static Task<OpenedState> OpenOrInitAsync(string dir, IReadOnlyList<string> extraRecipients, TimeProvider time, CancellationToken ct) =>
        OpenOrInitAsync(dir, extraRecipients, time, AgeDataKeyWrap.Instance, ct);

    /// <summary>
    /// Recovery after the host identity is lost: opens the store with <paramref name="recoveryIdentityPath"/> (an identity whose
    /// recipient the store was wrapped to), writes a fresh <c>identity.txt</c> and rewraps the data key to it and to every
    /// previous recipient except the lost identity's. Refuses when <c>identity.txt</c> still exists (move it away first).
    /// </summary>
    public static Task<OpenedState> RecoverAsync(string dir, string recoveryIdentityPath, TimeProvider time, CancellationToken ct) =>
        RecoverAsync(dir, recoveryIdentityPath, time, AgeDataKeyWrap.Instance, ct);

    internal static async Task<OpenedState> OpenOrInitAsync(string dir, IReadOnlyList<string> extraRecipients, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        var identity = Path.Combine(dir, IdentityFileName);
        var database = Path.Combine(dir, DatabaseFileName);
        if (!File.Exists(identity) && !File.Exists(database))
        {
            return await InitAsync(dir, extraRecipients, time, wrap, ct).ConfigureAwait(false);
        }
        return await OpenAsync(dir, null, time, wrap, ct).ConfigureAwait(false);
    }

    internal static async Task<OpenedState> InitAsync(string dir, IReadOnlyList<string> extraRecipients, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        ct.ThrowIfCancellationRequested();
        var extras = extraRecipients.Select(wrap.NormaliseRecipient).ToList(); // validate before creating anything
        var identityPath = Path.Combine(dir, IdentityFileName);
        var databasePath = Path.Combine(dir, DatabaseFileName);
        PrepareDirectory(dir);
        foreach (var existing in new[] { identityPath, databasePath })
        {
            if (File.Exists(existing))
            {
                throw ErrorCodes.StoreAlreadyInitialised.Exception($"{existing} already exists; Keyward does not overwrite it");
            }
        }

        var created = new List<string>();
        try
        {
            var generated = wrap.GenerateIdentity(time.GetUtcNow());
            using (generated.FileText)
            {
                WriteNewFile(identityPath, generated.FileText.Reveal());
            }
            created.Add(identityPath);
            var recipients = new List<string> { generated.Recipient };
            recipients.AddRange(extras.Where(r => !recipients.Contains(r, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal));

            var storeId = "kws_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            using var dataKey = Secret.Random(StoreKeys.DataKeyLength);
            var wrapped = wrap.Wrap(dataKey.Reveal(), recipients);
            var keys = new StoreKeys(dataKey, storeId);

            WriteNewFile(databasePath, []);
            created.Add(databasePath);
            var connection = SqliteDatabase.Open(databasePath, time);
            try
            {
                using var tx = connection.BeginTransaction(deferred: false);
                SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.StoreId, storeId);
                SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.WrappedDataKey, wrapped);
                SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.Recipients, string.Join('\n', recipients));
                SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.KeyCheck, keys.KeyCheck);
                SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.CreatedAt, StoreTime.Format(time.GetUtcNow()));
                tx.Commit();
            }
            catch (Microsoft.Data.Sqlite.SqliteException e)
            {
                keys.Dispose();
                await connection.DisposeAsync().ConfigureAwait(false);
                throw SqliteErrors.Translate(e, databasePath);
            }
            return new OpenedState(new SqliteCredentialStore(connection, keys, databasePath), dir, identityPath, generated.Recipient, recipients, wrap);
        }
        catch
        {
            foreach (var path in created)
            {
                TryDelete(path);
                TryDelete(path + "-wal");
                TryDelete(path + "-shm");
            }
            throw;
        }
    }

    internal static async Task<OpenedState> OpenAsync(string dir, string? identityOverride, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var identityPath = identityOverride ?? Path.Combine(dir, IdentityFileName);
        var databasePath = Path.Combine(dir, DatabaseFileName);
        if (!File.Exists(databasePath))
        {
            throw File.Exists(Path.Combine(dir, IdentityFileName))
                ? ErrorCodes.StoreNotInitialised.Exception($"{dir} has an identity but no store ({DatabaseFileName}); restore it from backup, or move the identity away and run `keyward init`")
                : ErrorCodes.StoreNotInitialised.Exception($"{dir} is not an initialised Keyward state directory", "run `keyward init` (or pass the right --state DIR)");
        }
        if (Directory.Exists(identityPath))
        {
            throw ErrorCodes.StoreIdentityInvalid.Exception($"{identityPath} is a directory, not an identity file", "move the directory away and restore identity.txt (one AGE-SECRET-KEY-1... line) from backup");
        }
        if (!File.Exists(identityPath))
        {
            throw ErrorCodes.StoreIdentityMissing.Exception($"{identityPath} is missing; the store cannot be decrypted without it");
        }
        var permissionWarnings = identityOverride is null ? StatePermissions.Tighten(dir, identityPath) : [];

        Secret identityText;
        try
        {
            identityText = Secret.Adopt(await File.ReadAllBytesAsync(identityPath, ct).ConfigureAwait(false));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeywardException(ErrorCodes.StoreIdentityMissing.With($"{identityPath} cannot be read ({e.GetType().Name})", "check the identity file's owner and mode (0600, owned by the user running keyward)"), e);
        }

        var connection = SqliteDatabase.Open(databasePath, time);
        StoreKeys? keys = null;
        try
        {
            using (identityText)
            {
                var storeId = SqliteDatabase.ReadMeta(connection, null, StoreMetaKeys.StoreId) as string;
                var wrapped = SqliteDatabase.ReadMeta(connection, null, StoreMetaKeys.WrappedDataKey) as byte[];
                var keyCheck = SqliteDatabase.ReadMeta(connection, null, StoreMetaKeys.KeyCheck) as string;
                if (storeId is null || wrapped is null || keyCheck is null)
                {
                    throw ErrorCodes.StoreCorrupt.Exception($"{databasePath} has no store id or wrapped data key; it was not created by `keyward init`");
                }
                var recipient = wrap.RecipientOf(identityText);
                using var dataKey = wrap.Unwrap(wrapped, identityText);
                if (dataKey.Length != StoreKeys.DataKeyLength)
                {
                    throw ErrorCodes.StoreKeyMismatch.Exception($"the data key unwrapped from {databasePath} has the wrong length");
                }
                keys = new StoreKeys(dataKey, storeId);
                if (!CryptographicOperations.FixedTimeEquals(System.Text.Encoding.ASCII.GetBytes(keys.KeyCheck), System.Text.Encoding.ASCII.GetBytes(keyCheck)))
                {
                    throw ErrorCodes.StoreKeyMismatch.Exception($"the data key unwrapped from {databasePath} does not match the store's key check");
                }
                var recipients = (SqliteDatabase.ReadMeta(connection, null, StoreMetaKeys.Recipients) as string ?? "").Split('\n', StringSplitOptions.RemoveEmptyEntries);
                return new OpenedState(new SqliteCredentialStore(connection, keys, databasePath), dir, identityPath, recipient, recipients, wrap) { Warnings = permissionWarnings };
            }
        }
        catch (Microsoft.Data.Sqlite.SqliteException e)
        {
            keys?.Dispose();
            await connection.DisposeAsync().ConfigureAwait(false);
            throw SqliteErrors.Translate(e, databasePath);
        }
        catch
        {
            keys?.Dispose();
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    internal static async Task<OpenedState> RecoverAsync(string dir, string recoveryIdentityPath, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        var identityPath = Path.Combine(dir, IdentityFileName);
        if (File.Exists(identityPath))
        {
            throw ErrorCodes.StoreAlreadyInitialised.Exception($"{identityPath} exists; recovery writes a new identity and never overwrites one", "move the old identity.txt away first");
        }
        var recovered = await OpenAsync(dir, recoveryIdentityPath, time, wrap, ct).ConfigureAwait(false);
        try
        {
            var generated = wrap.GenerateIdentity(time.GetUtcNow());
            using (generated.FileText)
            {
                WriteNewFile(identityPath, generated.FileText.Reveal());
            }
            // The lost identity's recipient is dropped only if it was first (the host identity); operators' recipients stay.
            var keep = recovered.Recipients.Skip(1).ToList();
            var recipients = new List<string> { generated.Recipient };
            recipients.AddRange(keep.Where(r => r != generated.Recipient));
            await recovered.RewrapAsync(recipients, ct).ConfigureAwait(false);
        }
        finally
        {
            await recovered.DisposeAsync().ConfigureAwait(false);
        }
        return await OpenAsync(dir, null, time, wrap, ct).ConfigureAwait(false);
    }

    private static void PrepareDirectory(string dir)
    {
        try
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(dir);
            }
            else
            {
                Directory.CreateDirectory(dir, DirectoryMode);
                File.SetUnixFileMode(dir, DirectoryMode); // an existing (e.g. mktemp'd) directory is tightened too
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeywardException(ErrorCodes.StateDirectory.With($"cannot create the state directory {dir} ({e.GetType().Name})"), e);
        }
    }

    /// <summary>Creates a new file with mode 0600 from the start (never a moment with a wider mode) and fsyncs it.</summary>
    internal static void WriteNewFile(string path, ReadOnlySpan<byte> content)
    {
        if (File.Exists(path))
        {
            throw ErrorCodes.StoreAlreadyInitialised.Exception($"{path} already exists; Keyward does not overwrite it");
        }
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = SecretFileMode;
        try
        {
            using var stream = new FileStream(path, options);
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeywardException(ErrorCodes.StateDirectory.With($"cannot create {path} ({e.GetType().Name})"), e);
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // best effort: the original failure is what the caller needs to see
        }
    }
}
