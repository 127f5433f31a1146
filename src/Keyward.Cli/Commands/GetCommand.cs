using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Core.Store;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward get NAME [--reveal] [--version N] [--public]</c>: the value on stdout, for pipes.</summary>
internal static class GetCommand
{
    public static Command Build(CliContext context)
    {
        var name = new Argument<string>("name") { Description = "Credential name" };
        var reveal = new Option<bool>("--reveal") { Description = "Allow printing the value to a terminal" };
        var version = new Option<int?>("--version") { Description = "A specific version (default: the active one)" };
        var pub = new Option<bool>("--public") { Description = "The public half of a key (nix-signing-key, rsa-key) instead of the secret" };
        var cmd = new Command("get", "Print a credential's value to stdout (refuses a terminal unless --reveal); every reveal is audited") { name, reveal, version, pub };
        cmd.SetAction(async (parse, ct) =>
        {
            var n = parse.GetValue(name)!;
            var wantPublic = parse.GetValue(pub);
            if (context.Console.OutIsTerminal && !parse.GetValue(reveal) && !wantPublic)
                throw ErrorCodes.RefuseTerminal.Exception($"'{n}' is a secret and stdout is a terminal");
            await using var state = await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false);
            var versions = await state.Store.GetVersionsAsync(n, ct).ConfigureAwait(false);
            if (versions.Count == 0) throw ErrorCodes.UnknownCredential.Exception($"the store has no credential '{n}'");
            var requested = parse.GetValue(version);
            var v = requested is { } rv
                ? versions.FirstOrDefault(x => x.Version == rv) ?? throw ErrorCodes.UnknownCredential.Exception($"'{n}' has no version {rv}", $"versions: {string.Join(", ", versions.Select(x => x.Version))}")
                : versions.FirstOrDefault(x => x.State == VersionState.Active) ?? throw ErrorCodes.NoValueYet.Exception($"'{n}' has no active version");
            using var value = await state.Store.RevealAsync(n, v.Version, ct).ConfigureAwait(false);
            if (wantPublic)
            {
                var kind = v.Kind;
                Core.Manifest.Credential spec = kind switch
                {
                    "nix-signing-key" => new Core.Manifest.NixSigningKeyCredential(n, "", "", null, [], new SourceLocation("", 0, 0), ""),
                    "rsa-key" => new Core.Manifest.RsaKeyCredential(n, "", "", null, [], new SourceLocation("", 0, 0), 0, Core.Manifest.RsaKeyFormat.Pkcs1),
                    _ => throw ErrorCodes.InvalidArgument.Exception($"'{n}' is a {kind}; only nix-signing-key and rsa-key have a public half"),
                };
                context.Console.Out.WriteLine(Engine.Delivery.CredentialValues.PublicKeyOf(spec, value));
                return 0;
            }
            await state.Store.AppendAuditAsync(new AuditEvent(context.Time.GetUtcNow(), Engine.EngineOptions.DefaultActor(), "reveal", n, v.Version, v.Fingerprint, "keyward get"), ct).ConfigureAwait(false);
            context.Console.Out.Flush();
            context.Console.StdOut.Write(value.Reveal());
            context.Console.StdOut.Flush();
            return 0;
        });
        return cmd;
    }
}
