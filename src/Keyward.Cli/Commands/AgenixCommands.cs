using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Crypto.Age;
using Keyward.Engine;
using Keyward.Engine.Agenix;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward export agenix DIR -f FILE [--armor]</c> and <c>keyward import agenix DIR -i IDENTITY… [-f FILE]</c>.
/// See docs/agenix.md.</summary>
internal static class AgenixCommands
{
    public static Command BuildExport(CliContext context)
    {
        var cmd = new Command("export", "Export the store's credentials for other tools (agenix, sops)");
        var dir = new Argument<string>("dir") { Description = "Directory for the NAME.age files and secrets.nix (created if missing)" };
        var file = CliOptions.ManifestFile();
        var armor = new Option<bool>("--armor", "-a") { Description = "ASCII-armored .age files (and armor = true; in secrets.nix)" };
        var json = CliOptions.Json();
        var agenix = new Command("agenix", "Write one NAME.age per credential with recipients (encrypted to them with its active value) and an agenix secrets.nix")
        {
            dir, file, armor, json,
        };
        agenix.SetAction(async (parse, ct) =>
        {
            var manifest = ManifestInput.Load(context, parse, file);
            await using var state = await StateInput.OpenForWriteAsync(context, parse, "export agenix", ct).ConfigureAwait(false);
            var exporter = new AgenixExporter(state.Store, Options(context));
            var report = await exporter.ExportAsync(manifest, context.Console.ResolvePath(parse.GetValue(dir)!), parse.GetValue(armor), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                CliJson.WriteLine(context.Console.Out, new AgenixExportJson(
                    report.Directory,
                    report.SecretsNixPath,
                    report.SecretsNixWritten,
                    [.. report.Files.Select(f => new AgenixExportFileJson(f.Credential, f.Path, f.Version, f.Fingerprint, f.Recipients, f.Written))],
                    [.. report.Skipped.Select(s => new SkippedJson(s.Credential, s.Reason))]), CliJson.Context.AgenixExportJson);
                return 0;
            }
            var o = context.Console.Out;
            foreach (var f in report.Files)
                await o.WriteLineAsync($"{(f.Written ? "exported " : "unchanged")}  {f.Credential} v{f.Version} ({f.Fingerprint}) -> {f.Path}, {f.Recipients.Count} recipient{(f.Recipients.Count == 1 ? "" : "s")}").ConfigureAwait(false);
            foreach (var s in report.Skipped)
                await o.WriteLineAsync($"skipped    {s.Credential}: {s.Reason}").ConfigureAwait(false);
            await o.WriteLineAsync($"{(report.SecretsNixWritten ? "wrote" : "unchanged")} {report.SecretsNixPath} ({report.Files.Count} file{(report.Files.Count == 1 ? "" : "s")})").ConfigureAwait(false);
            return 0;
        });
        cmd.Subcommands.Add(agenix);
        cmd.Subcommands.Add(SopsCommands.BuildExport(context));
        return cmd;
    }

    public static Command BuildImport(CliContext context)
    {
        var cmd = new Command("import", "Import credentials from other tools (agenix, sops)");
        var dir = new Argument<string>("dir") { Description = "Directory holding NAME.age files (an agenix secrets directory)" };
        var identities = new Option<string[]>("--identity", "-i")
        {
            Description = "Identity file: AGE-SECRET-KEY-1… lines or an OpenSSH ed25519 private key (e.g. /etc/ssh/ssh_host_ed25519_key); repeatable",
            Arity = ArgumentArity.OneOrMore,
            Required = true,
        };
        var file = new Option<string?>("--file", "-f") { Description = "Import only the credentials this manifest declares, checked against their kinds" };
        var skipForeign = new Option<bool>("--skip-foreign") { Description = "Skip files none of the identities can decrypt (secrets of other hosts) instead of failing" };
        var json = CliOptions.Json();
        var agenix = new Command("agenix", "Decrypt every NAME.age in DIR and store it as the new active version of credential NAME (unchanged values are not re-stored)")
        {
            dir, identities, file, skipForeign, json,
        };
        agenix.SetAction(async (parse, ct) =>
        {
            var manifest = parse.GetValue(file) is null ? null : ManifestInput.Load(context, parse, file!);
            var ids = LoadIdentities(context, parse.GetValue(identities) ?? []);
            await using var state = await StateInput.OpenForWriteAsync(context, parse, "import agenix", ct).ConfigureAwait(false);
            var importer = new AgenixImporter(state.Store, Options(context));
            var report = await importer.ImportAsync(context.Console.ResolvePath(parse.GetValue(dir)!), ids, manifest, parse.GetValue(skipForeign), ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                CliJson.WriteLine(context.Console.Out, new AgenixImportJson(
                    report.Directory,
                    [.. report.Files.Select(f => new AgenixImportFileJson(
                        f.File, f.Credential, f.Action.ToString().ToLowerInvariant(), f.Kind,
                        f.Version, f.Fingerprint, f.Reason))]), CliJson.Context.AgenixImportJson);
                return 0;
            }
            foreach (var f in report.Files)
            {
                var line = f.Action switch
                {
                    AgenixImportAction.Imported => $"imported   {f.Credential} v{f.Version} ({f.Kind}, {f.Fingerprint}) from {f.File}: {f.Reason}",
                    AgenixImportAction.Unchanged => $"unchanged  {f.Credential} v{f.Version} ({f.Fingerprint}): {f.Reason}",
                    _ => $"skipped    {f.File}: {f.Reason}",
                };
                await context.Console.Out.WriteLineAsync(line).ConfigureAwait(false);
            }
            return 0;
        });
        cmd.Subcommands.Add(agenix);
        cmd.Subcommands.Add(SopsCommands.BuildImport(context));
        return cmd;
    }

    private static EngineOptions Options(CliContext context) => new()
    {
        Time = context.Time,
        GetEnv = context.Console.GetEnv,
        Warn = context.Warn,
        RunHooks = false,
    };

    /// <summary>Reads identity files; errors name the file, never its content.</summary>
    internal static IReadOnlyList<IAgeIdentity> LoadIdentities(CliContext context, IEnumerable<string> files)
    {
        var list = new List<IAgeIdentity>();
        foreach (var f in files)
        {
            var path = context.Console.ResolvePath(f);
            string text;
            try { text = File.ReadAllText(path); }
            catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { throw ErrorCodes.FileNotFound.Exception($"identity file {path} does not exist"); }
            catch (Exception e) when (e is UnauthorizedAccessException or IOException) { throw ErrorCodes.FileUnreadable.Exception($"identity file {path} cannot be read"); }
            try { list.AddRange(AgeKeys.ParseIdentities(text)); }
            catch (KeywardException ex) { throw ex.First.Code.Exception($"{f}: {ex.First.Message}", ex.First.Hint); }
        }
        return list;
    }
}
