using System.CommandLine;
using System.Text.Json;
using Keyward.Engine;
using Keyward.Store;
using Keyward.Core.Store;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward store recipients | add-recipient RECIPIENT… | recover -i IDENTITY</c>: who can unwrap the store's
/// data key, and getting the store back after the host identity is lost. See docs/agenix.md and docs/store.md.</summary>
internal static class StoreCommands
{
    /// <summary>Audit rows about the store as a whole (not one credential) use this credential name.</summary>
    public const string AuditSubject = "(store)";

    public static Command Build(CliContext context)
    {
        var cmd = new Command("store", "Manage the store's recipients (who can unwrap its data key) and recover it after the host identity is lost");
        cmd.Subcommands.Add(Recipients(context));
        cmd.Subcommands.Add(AddRecipient(context));
        cmd.Subcommands.Add(Recover(context));
        cmd.Subcommands.Add(Copy(context));
        return cmd;
    }

    /// <summary><c>store copy --from STATE_DIR --to CONN</c> (or <c>--from CONN --to STATE_DIR</c>): see <see cref="Store.Copy.StoreCopy"/>.</summary>
    private static Command Copy(CliContext context)
    {
        var from = new Option<string>("--from") { Description = "Source: a state directory (its SQLite store) or a PostgreSQL connection string", Required = true };
        var to = new Option<string>("--to") { Description = "Target, empty: a PostgreSQL connection string or a state directory", Required = true };
        var json = CliOptions.Json();
        var cmd = new Command("copy", "Copy a store between a state directory (SQLite) and PostgreSQL, either way: every version, the ledger, sinks, journals and the audit chain, then verify the target's audit chain")
        {
            from, to, json,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var source = parse.GetValue(from)!.Trim();
            var target = parse.GetValue(to)!.Trim();
            var fromDb = Store.Postgres.PostgresConnection.LooksLikeConnection(source);
            var toDb = Store.Postgres.PostgresConnection.LooksLikeConnection(target);
            if (fromDb == toDb)
                throw Core.Errors.ErrorCodes.InvalidArgument.Exception("store copy moves a store between a state directory and PostgreSQL: give one of --from/--to as a directory and the other as a connection string");
            var lockOptions = context.LockOptions(parse, "store copy");
            Store.Copy.StoreCopyResult result;
            string targetName;
            if (toDb)
            {
                var connection = Store.Postgres.PostgresConnection.Parse(target);
                targetName = connection.Display;
                result = await Store.Copy.StoreCopy.ToPostgresAsync(context.Console.ResolvePath(source), connection, lockOptions, context.Time, ct).ConfigureAwait(false);
            }
            else
            {
                var connection = Store.Postgres.PostgresConnection.Parse(source);
                targetName = context.Console.ResolvePath(target);
                result = await Store.Copy.StoreCopy.ToDirectoryAsync(context.StateDirectory(parse), connection, targetName, lockOptions, context.Time, ct).ConfigureAwait(false);
            }
            if (parse.GetValue(json))
            {
                // Utf8JsonWriter, not the reflection serializer: the binary is NativeAOT.
                var buffer = new System.Buffers.ArrayBufferWriter<byte>();
                using (var w = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
                {
                    w.WriteStartObject();
                    w.WriteString("target", targetName);
                    w.WriteString("storeId", result.StoreId);
                    w.WriteNumber("credentials", result.Credentials);
                    w.WriteNumber("versions", result.Versions);
                    w.WriteNumber("ledger", result.LedgerEntries);
                    w.WriteNumber("audit", result.AuditEntries);
                    w.WriteNumber("sinks", result.Sinks);
                    w.WriteNumber("journals", result.Journals);
                    w.WriteBoolean("auditIntact", result.AuditProblems.Count == 0);
                    w.WriteStartArray("auditProblems");
                    foreach (var problem in result.AuditProblems) w.WriteStringValue(problem);
                    w.WriteEndArray();
                    w.WriteEndObject();
                }
                await context.Console.Out.WriteLineAsync(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan)).ConfigureAwait(false);
            }
            else
            {
                await context.Console.Out.WriteLineAsync($"copied store {result.StoreId} to {targetName}: {result.Credentials} credentials ({result.Versions} versions), {result.LedgerEntries} ledger entries, {result.Sinks} sinks, {result.Journals} journals, {result.AuditEntries} audit entries").ConfigureAwait(false);
                await context.Console.Out.WriteLineAsync(result.AuditProblems.Count == 0
                    ? $"audit verify on the target: intact ({result.AuditEntries} entries)"
                    : "audit verify on the target: " + string.Join("; ", result.AuditProblems)).ConfigureAwait(false);
            }
            return result.AuditProblems.Count == 0 ? 0 : (int)Core.Errors.ErrorKind.Failed;
        });
        return cmd;
    }

    private static Command Recipients(CliContext context)
    {
        var json = CliOptions.Json();
        var cmd = new Command("recipients", "List the public keys the store's data key is wrapped to (the host identity first)") { json };
        cmd.SetAction(async (parse, ct) =>
        {
            await using var state = await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false);
            await PrintAsync(context, state, parse.GetValue(json)).ConfigureAwait(false);
            return 0;
        });
        return cmd;
    }

    private static Command AddRecipient(CliContext context)
    {
        var recipients = new Argument<string[]>("recipient")
        {
            Description = "age1… or 'ssh-ed25519 AAAA… [comment]' public key (quote SSH keys); repeatable",
            Arity = ArgumentArity.OneOrMore,
        };
        var json = CliOptions.Json();
        var cmd = new Command("add-recipient", "Re-wrap the store's data key to extra recipients (operators' keys) so they can recover it; values are not re-encrypted")
        {
            recipients, json,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            var given = (parse.GetValue(recipients) ?? []).Select(r => r.Trim()).Where(r => r.Length > 0).ToArray();
            if (given.Length == 0) throw Core.Errors.ErrorCodes.StoreRecipientsUnchanged.Exception("no recipient given");
            await using var state = await StateInput.OpenForWriteAsync(context, parse, "store add-recipient", ct).ConfigureAwait(false);
            var before = state.Recipients.ToHashSet(StringComparer.Ordinal);
            await state.AddRecipientsAsync(given, ct).ConfigureAwait(false);
            var added = state.Recipients.Where(r => !before.Contains(r)).ToArray();
            foreach (var r in added)
                await state.Store.AppendAuditAsync(new AuditEvent(context.Time.GetUtcNow(), EngineOptions.DefaultActor(), "add-recipient", AuditSubject, null, null, r), ct).ConfigureAwait(false);
            if (!parse.GetValue(json))
                await context.Console.Err.WriteLineAsync(added.Length == 0
                    ? "keyward: every recipient given already unwraps the store; nothing changed"
                    : $"keyward: data key re-wrapped; {added.Length} recipient{(added.Length == 1 ? "" : "s")} added").ConfigureAwait(false);
            await PrintAsync(context, state, parse.GetValue(json)).ConfigureAwait(false);
            return 0;
        });
        return cmd;
    }

    private static Command Recover(CliContext context)
    {
        var identity = new Option<string>("--identity", "-i")
        {
            Description = "An operator identity the store is wrapped to: age identity file or unencrypted OpenSSH ed25519 private key",
            Required = true,
        };
        var json = CliOptions.Json();
        var cmd = new Command("recover", "After the host identity is lost: open the store with an operator identity, write a new identity.txt, re-wrap the data key")
        {
            identity, json,
        };
        cmd.SetAction(async (parse, ct) =>
        {
            if (context.StoreConnection(parse) is not null)
                throw Core.Errors.ErrorCodes.InvalidArgument.Exception("store recover works on the SQLite store of a state directory; for a PostgreSQL store, copy an identity that is one of its recipients into --state DIR (see docs/store.md, \"PostgreSQL\")");
            var dir = context.StateDirectory(parse);
            var path = context.Console.ResolvePath(parse.GetValue(identity)!);
            if (!File.Exists(path)) throw Core.Errors.ErrorCodes.FileNotFound.Exception($"identity file {path} does not exist");
            await using var state = await StateDirectory.RecoverAsync(dir, path, context.LockOptions(parse, "store recover"), context.Time, ct).ConfigureAwait(false);
            await state.Store.AppendAuditAsync(new AuditEvent(context.Time.GetUtcNow(), EngineOptions.DefaultActor(), "recover", AuditSubject, null, null,
                $"new host identity {state.Recipient}, opened with {Path.GetFileName(path)}"), ct).ConfigureAwait(false);
            if (!parse.GetValue(json))
                await context.Console.Err.WriteLineAsync($"keyward: recovered {dir}: new host identity {state.IdentityPath} ({state.Recipient}); back it up").ConfigureAwait(false);
            await PrintAsync(context, state, parse.GetValue(json)).ConfigureAwait(false);
            return 0;
        });
        return cmd;
    }

    private static async Task PrintAsync(CliContext context, OpenedState state, bool json)
    {
        if (json)
        {
            CliJson.WriteLine(context.Console.Out, new StoreRecipientsJson(
                state.IdentityPath,
                [.. state.Recipients.Select((r, i) => new StoreRecipientJson(r, i == 0 ? "host" : "operator"))]), CliJson.Context.StoreRecipientsJson);
            return;
        }
        for (var i = 0; i < state.Recipients.Count; i++)
            await context.Console.Out.WriteLineAsync($"{(i == 0 ? "host    " : "operator")}  {state.Recipients[i]}").ConfigureAwait(false);
    }
}

/// <summary>
/// <c>keyward token mint --signed-by NAME</c>: the signing key from a credential in the store (its active version; a
/// <c>secret</c> signs HS256, an <c>rsa-key</c> RS256), and the record of the mint in the ledger and the audit log.
/// </summary>
internal sealed class StoredSigner : IAsyncDisposable
{
    /// <summary>Ledger rows of tokens minted by hand (not by a manifest credential) use this credential name.</summary>
    public const string AdHocCredential = "(token mint)";

    private readonly OpenedState _state;
    private readonly CliContext _context;

    private StoredSigner(OpenedState state, CliContext context, string name, int version, Crypto.Attic.AtticSigningKey key)
    {
        _state = state;
        _context = context;
        Name = name;
        Version = version;
        Key = key;
    }

    public string Name { get; }
    public int Version { get; }
    public Crypto.Attic.AtticSigningKey Key { get; }

    public static async Task<StoredSigner> OpenAsync(CliContext context, ParseResult parse, string name, bool alsoSecretFile, CancellationToken ct)
    {
        if (alsoSecretFile)
            throw Core.Errors.ErrorCodes.TokenSignerUnusable.Exception("--signed-by and --secret-base64-file both name a signing key; pass one");
        var state = await StateInput.OpenForWriteAsync(context, parse, "token mint", ct).ConfigureAwait(false);
        try
        {
            var active = await state.Store.GetActiveAsync(name, ct).ConfigureAwait(false);
            if (active is null)
            {
                var any = await state.Store.GetVersionsAsync(name, ct).ConfigureAwait(false);
                throw any.Count == 0
                    ? Core.Errors.ErrorCodes.UnknownCredential.Exception($"the store has no credential '{name}'")
                    : Core.Errors.ErrorCodes.NoValueYet.Exception($"'{name}' has no active version");
            }
            using var value = await state.Store.RevealAsync(name, active.Version, ct).ConfigureAwait(false);
            var key = Crypto.Attic.AtticSigningKey.ForSigner(active.Kind, value, name);
            return new StoredSigner(state, context, name, active.Version, key);
        }
        catch
        {
            await state.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Records the minted token (fingerprint, never the value) in the ledger and the audit log, in one transaction.</summary>
    public async Task RecordAsync(Crypto.Attic.AtticTokenRequest request, Core.Secrets.Secret jwt, CancellationToken ct)
    {
        var store = _state.Store;
        var tokenId = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));
        var fingerprint = store.Fingerprint(jwt.Reveal());
        var summary = string.Join(' ', request.Grants.Select(g => $"{g.Pattern.Text}:{string.Join(',', g.Permissions.Select(p => Core.Attic.AtticPermissions.Name(p)))}"));
        await using var tx = await store.BeginAsync(ct).ConfigureAwait(false);
        await store.RecordTokenAsync(new LedgerEntry(tokenId, AdHocCredential, 0, request.Subject, summary, request.NotBefore, request.ExpiresAt,
            fingerprint, Name, Version, null), ct).ConfigureAwait(false);
        await store.AppendAuditAsync(new AuditEvent(_context.Time.GetUtcNow(), EngineOptions.DefaultActor(), "mint", AdHocCredential, null, fingerprint,
            $"token {tokenId} for sub {request.Subject}, signed by {Name} v{Version} ({Key.Algorithm}), expires {request.ExpiresAt:yyyy-MM-dd'T'HH:mm:ss'Z'}"), ct).ConfigureAwait(false);
        await tx.CommitAsync(ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        Key.Dispose();
        await _state.DisposeAsync().ConfigureAwait(false);
    }
}
