using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Core.Time;
using Keyward.Engine;
using Keyward.Engine.Operators;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward operator-token create NAME [--expires 90d] [--reveal]</c>: a bearer token for the server's operator
/// API, printed once; the store keeps only its keyed fingerprint in the ledger (<c>keyward tokens</c> lists it,
/// <c>keyward revoke operator:NAME</c> or its id revokes it).</summary>
internal static class OperatorTokenCommand
{
    public static Command Build(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "Who uses the token (the audit log's actor for its calls)" };
        var expires = new Option<string>("--expires") { Description = "How long the token is valid", DefaultValueFactory = _ => "90d" };
        var reveal = new Option<bool>("--reveal") { Description = "Print the token even when stdout is a terminal" };
        var create = new Command("create", "Mint an operator API token, print it once, store only its fingerprint") { name, expires, reveal };
        create.SetAction(async (parse, ct) =>
        {
            var who = parse.GetValue(name)!;
            OperatorTokens.ValidateName(who);
            if (!HumanDuration.TryParse(parse.GetValue(expires)!, out var validity, out var error) || validity.Value <= TimeSpan.Zero)
                throw ErrorCodes.InvalidArgument.Exception($"--expires: {error ?? "must be longer than zero"}");
            if (context.Console.OutIsTerminal && !parse.GetValue(reveal))
                throw ErrorCodes.RefuseTerminal.Exception("the operator token is a bearer secret and stdout is a terminal", "pipe it to a file or program, or pass --reveal");
            await using var state = await StateInput.OpenForWriteAsync(context, parse, "operator-token create", ct).ConfigureAwait(false);
            var created = await new OperatorTokens(state.Store, new EngineOptions { Time = context.Time }).CreateAsync(who, validity.Value, ct).ConfigureAwait(false);
            using (created.Token)
                context.Console.Out.WriteLine(created.Token.RevealString());
            context.Console.Err.WriteLine($"keyward: operator token {created.Entry.TokenId} for '{who}', expires {created.Entry.ExpiresAt:yyyy-MM-dd HH:mm}Z " +
                                          $"(revoke: `keyward revoke {created.Entry.TokenId}`)");
            return 0;
        });
        return new Command("operator-token", "Bearer tokens for the operator API of `keyward serve`") { create };
    }
}
