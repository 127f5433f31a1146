using System.Security.Cryptography;
using Keyward.Core.Errors;
using Keyward.Core.Secrets;
using Keyward.Core.Store;
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

    /// <summary>Where an init builds the identity and the store before renaming them into place (see docs/store.md,
    /// "Crash safety"). Its presence means an init was interrupted; the next writer finishes or discards it.</summary>
    public const string StagingDirectoryName = ".keyward-init";

    /// <summary>True when both the identity and the store exist.</summary>
    public static bool IsInitialised(string dir) =>
        File.Exists(Path.Combine(dir, IdentityFileName)) && File.Exists(Path.Combine(dir, DatabaseFileName));

    /// <summary>Creates the state: directory 0700, a new identity (never overwriting one), the store with a fresh data key
    /// wrapped to the identity and to <paramref name="extraRecipients"/> (age1… or ssh-ed25519 keys, for recovery).
    /// A writer: the returned state holds the state lock until disposed.</summary>
    public static Task<OpenedState> InitAsync(string dir, IReadOnlyList<string> extraRecipients, TimeProvider time, CancellationToken ct) =>
        InitAsync(dir, extraRecipients, time, AgeDataKeyWrap.Instance, ct);

    /// <summary>Opens an initialised state with its own identity file, for reading: takes no lock (a writer may be
    /// running; SQLite's WAL gives a consistent snapshot per read). KW0301 (hint <c>keyward init</c>) when there is none.</summary>
    public static Task<OpenedState> OpenAsync(string dir, TimeProvider time, CancellationToken ct) =>
        OpenAsync(dir, null, time, AgeDataKeyWrap.Instance, ct);

    /// <summary>Opens an initialised state for writing: waits for the state lock (see <see cref="StateLock"/>), finishes
    /// an interrupted init, and holds the lock until the returned state is disposed.</summary>
    public static Task<OpenedState> OpenForWriteAsync(string dir, StateLockOptions lockOptions, TimeProvider time, CancellationToken ct) =>
        OpenForWriteAsync(dir, lockOptions, time, AgeDataKeyWrap.Instance, ct);

    /// <summary>Opens the state with another identity file, e.g. an operator's recovery identity that is one of the store's recipients.</summary>
    public static Task<OpenedState> OpenWithIdentityAsync(string dir, string identityPath, TimeProvider time, CancellationToken ct) =>
        OpenAsync(dir, identityPath, time, AgeDataKeyWrap.Instance, ct);

    /// <summary>Opens the state for writing, initialising it first when the directory holds neither an identity nor a store
    /// (<see cref="OpenedState.Created"/> says which). The check and the init happen under the state lock.</summary>
    public static Task<OpenedState> OpenOrInitAsync(string dir, IReadOnlyList<string> extraRecipients, TimeProvider time, CancellationToken ct) =>
        OpenOrInitAsync(dir, extraRecipients, StateLockOptions.Default, time, AgeDataKeyWrap.Instance, ct);

    /// <inheritdoc cref="OpenOrInitAsync(string, IReadOnlyList{string}, TimeProvider, CancellationToken)"/>
    public static Task<OpenedState> OpenOrInitAsync(string dir, IReadOnlyList<string> extraRecipients, StateLockOptions lockOptions, TimeProvider time, CancellationToken ct) =>
        OpenOrInitAsync(dir, extraRecipients, lockOptions, time, AgeDataKeyWrap.Instance, ct);

    /// <summary>
    /// Recovery after the host identity is lost: opens the store with <paramref name="recoveryIdentityPath"/> (an identity whose
    /// recipient the store was wrapped to), writes a fresh <c>identity.txt</c> and rewraps the data key to it and to every
    /// previous recipient except the lost identity's. Refuses when <c>identity.txt</c> still exists (move it away first).
    /// </summary>
    public static Task<OpenedState> RecoverAsync(string dir, string recoveryIdentityPath, TimeProvider time, CancellationToken ct) =>
        RecoverAsync(dir, recoveryIdentityPath, StateLockOptions.Default with { Purpose = "store recover" }, time, AgeDataKeyWrap.Instance, ct);

    /// <inheritdoc cref="RecoverAsync(string, string, TimeProvider, CancellationToken)"/>
    public static Task<OpenedState> RecoverAsync(string dir, string recoveryIdentityPath, StateLockOptions lockOptions, TimeProvider time, CancellationToken ct) =>
        RecoverAsync(dir, recoveryIdentityPath, lockOptions, time, AgeDataKeyWrap.Instance, ct);

    internal static async Task<OpenedState> OpenOrInitAsync(string dir, IReadOnlyList<string> extraRecipients, StateLockOptions lockOptions, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        var extras = extraRecipients.Select(wrap.NormaliseRecipient).ToList(); // validate before creating anything
        if (!Directory.Exists(dir)) PrepareDirectory(dir); // an existing state directory's mode is tightened by init only
        return await UnderLockAsync(dir, lockOptions, time, wrap, () =>
            !File.Exists(Path.Combine(dir, IdentityFileName)) && !File.Exists(Path.Combine(dir, DatabaseFileName))
                ? InitLockedAsync(dir, extras, time, wrap, ct)
                : OpenAsync(dir, null, time, wrap, ct), ct).ConfigureAwait(false);
    }

    /// <summary>Every writer's way in: take the state lock, finish or discard an interrupted init, then open (or create)
    /// the state, which holds the lock until it is disposed; on any failure the lock is released.</summary>
    private static async Task<OpenedState> UnderLockAsync(string dir, StateLockOptions lockOptions, TimeProvider time, IDataKeyWrap wrap,
        Func<Task<OpenedState>> open, CancellationToken ct)
    {
        var held = await StateLock.AcquireAsync(dir, lockOptions, ct).ConfigureAwait(false);
        try
        {
            await FinishInterruptedInitAsync(dir, time, wrap, ct).ConfigureAwait(false);
            var state = await open().ConfigureAwait(false);
            state.Hold(held);
            return state;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    internal static async Task<OpenedState> InitAsync(string dir, IReadOnlyList<string> extraRecipients, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(dir);
        ct.ThrowIfCancellationRequested();
        var extras = extraRecipients.Select(wrap.NormaliseRecipient).ToList(); // validate before creating anything
        PrepareDirectory(dir);
        return await UnderLockAsync(dir, StateLockOptions.Default with { Purpose = "init" }, time, wrap,
            () => InitLockedAsync(dir, extras, time, wrap, ct), ct).ConfigureAwait(false);
    }

    internal static async Task<OpenedState> OpenForWriteAsync(string dir, StateLockOptions lockOptions, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        if (!IsInitialised(dir) && !Directory.Exists(Path.Combine(dir, StagingDirectoryName)))
            return await OpenAsync(dir, null, time, wrap, ct).ConfigureAwait(false); // the reader's KW0301/KW0303, without creating a lock file
        return await UnderLockAsync(dir, lockOptions, time, wrap, () => OpenAsync(dir, null, time, wrap, ct), ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Init proper, under the state lock. Everything is built in <see cref="StagingDirectoryName"/> — the identity, then
    /// the store with its metadata committed and its WAL folded back in — fsynced, then renamed into place: the store
    /// first, then the identity that unlocks it, then the staging directory removed, fsyncing the directory after each.
    /// A process killed at any point leaves either no placed file (the staging directory is discarded by the next writer:
    /// it held no data) or a placed store whose identity is still staged (the next writer checks that it unlocks the
    /// store and moves it into place). Never a placed identity without its store, never an empty store.
    /// </summary>
    private static async Task<OpenedState> InitLockedAsync(string dir, List<string> extras, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        var identityPath = Path.Combine(dir, IdentityFileName);
        var databasePath = Path.Combine(dir, DatabaseFileName);
        foreach (var existing in new[] { identityPath, databasePath })
        {
            if (File.Exists(existing))
            {
                throw ErrorCodes.StoreAlreadyInitialised.Exception($"{existing} already exists; Keyward does not overwrite it");
            }
        }

        var staging = Path.Combine(dir, StagingDirectoryName);
        var stagedIdentity = Path.Combine(staging, IdentityFileName);
        var stagedDatabase = Path.Combine(staging, DatabaseFileName);
        PrepareDirectory(dir); // an existing (e.g. mktemp'd) directory is tightened to 0700 too
        PrepareDirectory(staging);
        try
        {
            var generated = wrap.GenerateIdentity(time.GetUtcNow());
            using (generated.FileText)
            {
                WriteNewFile(stagedIdentity, generated.FileText.Reveal());
            }
            var recipients = new List<string> { generated.Recipient };
            recipients.AddRange(extras.Where(r => !recipients.Contains(r, StringComparer.Ordinal)).Distinct(StringComparer.Ordinal));

            var storeId = "kws_" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));
            using var dataKey = Secret.Random(StoreKeys.DataKeyLength);
            var wrapped = wrap.Wrap(dataKey.Reveal(), recipients);
            using var keys = new StoreKeys(dataKey, storeId);

            WriteNewFile(stagedDatabase, []);
            await using (var connection = SqliteDatabase.Open(stagedDatabase, time))
            {
                try
                {
                    using (var tx = connection.BeginTransaction(deferred: false))
                    {
                        SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.StoreId, storeId);
                        SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.WrappedDataKey, wrapped);
                        SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.Recipients, string.Join('\n', recipients));
                        SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.KeyCheck, keys.KeyCheck);
                        SqliteDatabase.WriteMeta(connection, tx, StoreMetaKeys.CreatedAt, StoreTime.Format(time.GetUtcNow()));
                        tx.Commit();
                    }
                    // One self-contained file to rename: checkpoint the WAL into it and drop the -wal/-shm files (the next
                    // open switches back to WAL, which SQLite then records in the file header).
                    using var command = connection.CreateCommand();
                    command.CommandText = "PRAGMA journal_mode = DELETE;";
                    command.ExecuteNonQuery();
                }
                catch (Microsoft.Data.Sqlite.SqliteException e)
                {
                    throw SqliteErrors.Translate(e, databasePath);
                }
            }
            FsyncFile(stagedDatabase);
            StatePosix.FsyncDirectory(staging);
        }
        catch
        {
            // Nothing was placed: the staged files hold no data anyone has used.
            DiscardStaging(staging, wipeIdentity: true);
            throw;
        }

        // The commit: from here on a crash is finished (not discarded) by the next writer.
        Place(stagedDatabase, databasePath, dir);
        Place(stagedIdentity, identityPath, dir);
        DiscardStaging(staging, wipeIdentity: false);
        var state = await OpenAsync(dir, null, time, wrap, ct).ConfigureAwait(false);
        state.Created = true;
        return state;
    }

    /// <summary>
    /// Under the state lock: finishes or discards what an interrupted init left in <see cref="StagingDirectoryName"/>.
    /// A store already renamed into place is finished (its staged identity is moved next to it, after checking that it
    /// unlocks it); a staging directory whose store was never placed held no data and is discarded (the staged identity
    /// overwritten before it is unlinked). Anything else is left alone.
    /// </summary>
    private static async Task FinishInterruptedInitAsync(string dir, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        var staging = Path.Combine(dir, StagingDirectoryName);
        if (!Directory.Exists(staging)) return;
        var identityPath = Path.Combine(dir, IdentityFileName);
        var databasePath = Path.Combine(dir, DatabaseFileName);
        var stagedIdentity = Path.Combine(staging, IdentityFileName);
        var databasePlaced = File.Exists(databasePath);
        var identityPlaced = File.Exists(identityPath);
        var identityStaged = File.Exists(stagedIdentity);
        try
        {
            if (databasePlaced && !identityPlaced && identityStaged)
            {
                // Killed between the two renames: the placed store is wrapped to the staged identity.
                await using (await OpenAsync(dir, stagedIdentity, time, wrap, ct).ConfigureAwait(false))
                {
                    // opening proves that the staged identity unlocks the placed store (else KW0305/KW0316: left alone)
                }
                Place(stagedIdentity, identityPath, dir);
                DiscardStaging(staging, wipeIdentity: false);
            }
            else if (!databasePlaced)
            {
                // Killed before the store was placed: nothing in the staging directory was ever used.
                DiscardStaging(staging, wipeIdentity: true);
            }
            else if (!identityStaged)
            {
                DiscardStaging(staging, wipeIdentity: false); // killed after both renames
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new KeywardException(ErrorCodes.StateDirectory.With($"cannot finish the interrupted init in {staging} ({e.GetType().Name})"), e);
        }
    }

    private static void Place(string staged, string final, string dir)
    {
        try
        {
            StatePosix.Rename(staged, final);
            StatePosix.FsyncDirectory(dir);
        }
        catch (IOException e)
        {
            throw new KeywardException(ErrorCodes.StateDirectory.With($"cannot move {Path.GetFileName(final)} into {dir} ({e.Message})"), e);
        }
    }

    /// <summary>Removes the staging directory and what is in it. <paramref name="wipeIdentity"/>: the staged identity is
    /// overwritten with zeros and synced before it is unlinked (it never protected data, but it is key material).</summary>
    private static void DiscardStaging(string staging, bool wipeIdentity)
    {
        if (!Directory.Exists(staging)) return;
        foreach (var file in Directory.EnumerateFiles(staging))
        {
            if (wipeIdentity && Path.GetFileName(file) == IdentityFileName) Wipe(file);
            TryDelete(file);
        }
        try
        {
            Directory.Delete(staging);
            StatePosix.FsyncDirectory(Path.GetDirectoryName(staging)!);
        }
        catch (IOException)
        {
            // a leftover staging directory is finished or discarded by the next writer
        }
    }

    private static void Wipe(string path)
    {
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.None);
            stream.Write(new byte[stream.Length]);
            stream.Flush(flushToDisk: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // best effort: the file is unlinked next
        }
    }

    private static void FsyncFile(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.ReadWrite);
        stream.Flush(flushToDisk: true);
    }

    internal static async Task<OpenedState> OpenAsync(string dir, string? identityOverride, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        var identityPath = identityOverride ?? Path.Combine(dir, IdentityFileName);
        var databasePath = Path.Combine(dir, DatabaseFileName);
        if ((!File.Exists(databasePath) || !File.Exists(identityPath)) && Directory.Exists(Path.Combine(dir, StagingDirectoryName)))
        {
            throw ErrorCodes.StoreNotInitialised.Exception($"{dir} holds an interrupted `keyward init` ({StagingDirectoryName})",
                "run `keyward init` (or any command that writes, such as `keyward apply`): it finishes the init, or discards it when it never held data");
        }
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

        Keyward.Core.Diagnostics.PhaseTimings.Mark("open: identity, permissions");
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
                    throw ErrorCodes.StoreCorrupt.Exception($"{databasePath} has no store id or wrapped data key; it was not created by `keyward init`, or its init was killed by a Keyward older than the crash-safe init",
                        "if this state never held data, move identity.txt and keyward.db away and run `keyward init`; otherwise restore keyward.db from backup");
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
                var store = new SqliteCredentialStore(connection, keys, databasePath);
                Keyward.Core.Diagnostics.PhaseTimings.Mark("open: sqlite, unwrap data key");
                await store.VerifySealAsync(ct).ConfigureAwait(false);
                Keyward.Core.Diagnostics.PhaseTimings.Mark("open: seal check");
                return new OpenedState(store, dir, identityPath, recipient, recipients, wrap) { Warnings = permissionWarnings };
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

    internal static async Task<OpenedState> RecoverAsync(string dir, string recoveryIdentityPath, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct) =>
        await RecoverAsync(dir, recoveryIdentityPath, StateLockOptions.Default with { Purpose = "store recover" }, time, wrap, ct).ConfigureAwait(false);

    internal static async Task<OpenedState> RecoverAsync(string dir, string recoveryIdentityPath, StateLockOptions lockOptions, TimeProvider time, IDataKeyWrap wrap, CancellationToken ct)
    {
        var identityPath = Path.Combine(dir, IdentityFileName);
        if (!Directory.Exists(dir)) return await OpenAsync(dir, recoveryIdentityPath, time, wrap, ct).ConfigureAwait(false); // KW0301
        var held = await StateLock.AcquireAsync(dir, lockOptions, ct).ConfigureAwait(false);
        try
        {
            await FinishInterruptedInitAsync(dir, time, wrap, ct).ConfigureAwait(false);
            if (File.Exists(identityPath))
            {
                throw ErrorCodes.StoreAlreadyInitialised.Exception($"{identityPath} exists; recovery writes a new identity and never overwrites one", "move the old identity.txt away first");
            }
            await using (var recovered = await OpenAsync(dir, recoveryIdentityPath, time, wrap, ct).ConfigureAwait(false))
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
            var state = await OpenAsync(dir, null, time, wrap, ct).ConfigureAwait(false);
            state.Hold(held);
            return state;
        }
        catch
        {
            held.Dispose();
            throw;
        }
    }

    internal static void PrepareDirectory(string dir)
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
