using System.CommandLine;
using Keyward.Engine;
using Keyward.Engine.Ledger;
using Keyward.Core.Store;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward tokens [NAME] [--json]</c> and <c>keyward revoke NAME|TOKEN-ID</c>: the ledger of minted Attic tokens.</summary>
internal static class LedgerCommands
{
    public static Command BuildTokens(CliContext context)
    {
        var name = new Argument<string?>("name") { Description = "Only the tokens of this credential", Arity = ArgumentArity.ZeroOrOne };
        var json = CliOptions.Json();
        var cmd = new Command("tokens", "List every Attic token Keyward minted (the ledger): id, credential, subject, grants, issued, expires, revoked") { name, json };
        cmd.SetAction(async (parse, ct) =>
        {
            await using var state = await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false);
            var tokens = await new TokenLedger(state.Store, new EngineOptions { Time = context.Time }).ListAsync(parse.GetValue(name), ct).ConfigureAwait(false);
            var now = context.Time.GetUtcNow();
            if (parse.GetValue(json))
            {
                CliJson.WriteLine(context.Console.Out, tokens.Select(t => new TokenJson(
                    t.TokenId, t.Credential, t.Version, t.Subject, t.PermissionsSummary, t.IssuedAt, t.ExpiresAt, t.RevokedAt,
                    Status(t, now), t.SignedBy, t.SignedByVersion, t.Fingerprint)).ToArray(), CliJson.Context.TokenJsonArray);
                return 0;
            }
            var o = context.Console.Out;
            if (tokens.Count == 0)
            {
                o.WriteLine("no tokens in the ledger (Keyward records every attic-token it mints with `keyward apply`)");
                return 0;
            }
            var idW = tokens.Max(t => t.TokenId.Length);
            var credW = Math.Max(10, tokens.Max(t => $"{t.Credential} v{t.Version}".Length));
            var subW = Math.Max(7, tokens.Max(t => t.Subject.Length));
            o.WriteLine($"{"ID".PadRight(idW)}  {"CREDENTIAL".PadRight(credW)}  {"SUBJECT".PadRight(subW)}  {"EXPIRES",-16}  {"STATUS",-28}  GRANTS");
            foreach (var t in tokens)
                o.WriteLine($"{t.TokenId.PadRight(idW)}  {$"{t.Credential} v{t.Version}".PadRight(credW)}  {t.Subject.PadRight(subW)}  {t.ExpiresAt:yyyy-MM-dd HH:mm}  {Status(t, now),-28}  {t.PermissionsSummary}");
            return 0;
        });
        return cmd;
    }

    public static Command BuildRevoke(CliContext context)
    {
        var target = new Argument<string>("token") { Description = "A token id from `keyward tokens`, or a credential name (its active version's token)" };
        var json = CliOptions.Json();
        var cmd = new Command("revoke", "Mark a minted Attic token revoked in the ledger (audited); enforced where requests are checked against the ledger") { target, json };
        cmd.SetAction(async (parse, ct) =>
        {
            await using var state = await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false);
            var ledger = new TokenLedger(state.Store, new EngineOptions { Time = context.Time });
            var r = await ledger.RevokeAsync(parse.GetValue(target)!, ct).ConfigureAwait(false);
            var t = r.Token;
            if (parse.GetValue(json))
            {
                CliJson.WriteLine(context.Console.Out, 
                    new RevokeJson(t.TokenId, t.Credential, t.Version, t.Subject, t.RevokedAt, r.AlreadyRevoked), CliJson.Context.RevokeJson);
                return 0;
            }
            context.Console.Out.WriteLine(r.AlreadyRevoked
                ? $"already revoked: token {t.TokenId} ({t.Credential} v{t.Version}, subject {t.Subject}) at {t.RevokedAt:yyyy-MM-dd HH:mm:ss}"
                : $"revoked token {t.TokenId} ({t.Credential} v{t.Version}, subject {t.Subject})");
            context.Console.Out.WriteLine($"note: Attic keeps no revocation list; until requests pass Keyward's auth gate the token still works there. To make it useless now, re-mint it: keyward rotate {t.Credential}");
            return 0;
        });
        return cmd;
    }

    private static string Status(LedgerEntry t, DateTimeOffset now) =>
        t.RevokedAt is { } r ? $"revoked {r:yyyy-MM-dd HH:mm}" : t.ExpiresAt <= now ? "expired" : "valid";
}
