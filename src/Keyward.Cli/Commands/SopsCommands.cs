using System.CommandLine;
using Keyward.Core.Errors;
using Keyward.Crypto.Age;
using Keyward.Engine;
using Keyward.Engine.Sops;
using Keyward.Store;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward import sops FILE [-i IDENTITY…] [-f FILE]</c> and <c>keyward export sops FILE [NAME…] [-r RECIPIENT…]</c>.
/// See docs/sops.md.</summary>
internal static class SopsCommands
{
    public static Command BuildImport(CliContext context)
    {
        var file = new Argument<string>("file") { Description = "A SOPS-encrypted YAML or JSON file with age recipients" };
        var identities = new Option<string[]>("--identity", "-i")
        {
            Description = "age identity file (AGE-SECRET-KEY-1… lines); repeatable. Default: the host identity (the state directory's identity.txt), $SOPS_AGE_KEY_FILE and $SOPS_AGE_KEY",
            Arity = ArgumentArity.OneOrMore,
        };
        var manifestFile = new Option<string?>("--file", "-f") { Description = "Import the credentials this manifest declares (and the keys their `source: { sops: … }` name), checked against their kinds" };
        var json = CliOptions.Json();
        var sops = new Command("sops", "Decrypt a SOPS file (verifying its MAC) and store the values it names as new active versions (unchanged values are not re-stored)")
        {
            file, identities, manifestFile, json,
        };
        sops.SetAction(async (parse, ct) =>
        {
            var manifest = parse.GetValue(manifestFile) is null ? null : ManifestInput.Load(context, parse, manifestFile!);
            await using var state = await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false);
            var given = parse.GetValue(identities) ?? [];
            var ids = given.Length > 0 ? AgenixCommands.LoadIdentities(context, given) : HostIdentities(context, state);
            var progress = new ProgressLine(context.Console);
            var importer = new SopsImporter(state.Store, Options(context, parse.GetValue(json) ? null : progress.Report));
            var report = await importer.ImportAsync(context.Console.ResolvePath(parse.GetValue(file)!), ids, manifest, ct).ConfigureAwait(false);
            progress.Done();
            if (parse.GetValue(json))
            {
                CliJson.WriteLine(context.Console.Out, new SopsImportJson(
                    report.File,
                    report.Recipients,
                    [.. report.Keys.Select(k => new SopsImportKeyJson(
                        k.Key, k.Credential, k.Action.ToString().ToLowerInvariant(), k.Kind,
                        k.Version, k.Fingerprint, k.Reason))]), CliJson.Context.SopsImportJson);
                return 0;
            }
            foreach (var k in report.Keys)
            {
                var line = k.Action switch
                {
                    SopsImportAction.Imported => $"imported   {k.Credential} v{k.Version} ({k.Kind}, {k.Fingerprint}) from key {k.Key}: {k.Reason}",
                    SopsImportAction.Unchanged => $"unchanged  {k.Credential} v{k.Version} ({k.Fingerprint}): {k.Reason}",
                    _ => $"skipped    key {k.Key}: {k.Reason}",
                };
                await context.Console.Out.WriteLineAsync(line).ConfigureAwait(false);
            }
            return 0;
        });
        return sops;
    }

    public static Command BuildExport(CliContext context)
    {
        var file = new Argument<string>("file") { Description = "The SOPS file to write (.json writes JSON, anything else YAML)" };
        var names = new Argument<string[]>("name") { Description = "Credentials to export (default: every credential of the manifest with an active value)", Arity = ArgumentArity.ZeroOrMore };
        var manifestFile = CliOptions.ManifestFile();
        var recipients = new Option<string[]>("--recipient", "-r")
        {
            Description = "age1… recipient to encrypt to; repeatable. Default: the host identity's recipient and the manifest's top-level age1… recipients",
            Arity = ArgumentArity.OneOrMore,
        };
        var format = new Option<string?>("--format") { Description = "yaml or json (default: from the file name)" };
        format.AcceptOnlyFromAmong("yaml", "json");
        var json = CliOptions.Json();
        var sops = new Command("sops", "Write the credentials' active values into one SOPS file (age recipients) that sops, sops-nix and other SOPS tools decrypt")
        {
            file, names, manifestFile, recipients, format, json,
        };
        sops.SetAction(async (parse, ct) =>
        {
            var manifest = ManifestInput.Load(context, parse, manifestFile);
            await using var state = await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false);
            var given = parse.GetValue(recipients) ?? [];
            IReadOnlyList<string> to = given.Length > 0 ? given
                : new[] { state.Recipient }.Concat(manifest.Recipients.Where(r => r.StartsWith("age1", StringComparison.Ordinal))).Distinct(StringComparer.Ordinal).ToArray();
            var exporter = new SopsExporter(state.Store, Options(context, null));
            var fmt = parse.GetValue(format);
            var report = await exporter.ExportAsync(manifest, context.Console.ResolvePath(parse.GetValue(file)!), parse.GetValue(names) ?? [], to,
                HostIdentities(context, state, required: false), fmt is null ? null : fmt == "json", ct).ConfigureAwait(false);
            if (parse.GetValue(json))
            {
                CliJson.WriteLine(context.Console.Out, new SopsExportJson(
                    report.File,
                    report.Written,
                    report.Recipients,
                    [.. report.Keys.Select(k => new SopsExportKeyJson(k.Credential, k.Key, k.Version, k.Fingerprint))],
                    report.Skipped), CliJson.Context.SopsExportJson);
                return 0;
            }
            var o = context.Console.Out;
            foreach (var k in report.Keys)
                await o.WriteLineAsync($"{(report.Written ? "exported " : "unchanged")}  {k.Credential} v{k.Version} ({k.Fingerprint}) -> key {k.Key}").ConfigureAwait(false);
            foreach (var s in report.Skipped) await o.WriteLineAsync($"skipped    {s}").ConfigureAwait(false);
            await o.WriteLineAsync($"{(report.Written ? "wrote" : "unchanged")} {report.File} ({report.Keys.Count} key{(report.Keys.Count == 1 ? "" : "s")}, {report.Recipients.Count} recipient{(report.Recipients.Count == 1 ? "" : "s")})").ConfigureAwait(false);
            return 0;
        });
        return sops;
    }

    private static EngineOptions Options(CliContext context, Action<string>? progress) => new()
    {
        Time = context.Time,
        GetEnv = context.Console.GetEnv,
        Warn = context.Warn,
        Progress = progress,
        RunHooks = false,
    };

    /// <summary>The host identity (the state directory's identity.txt), then sops's <c>$SOPS_AGE_KEY_FILE</c> and <c>$SOPS_AGE_KEY</c>.</summary>
    private static IReadOnlyList<IAgeIdentity> HostIdentities(CliContext context, OpenedState state, bool required = true)
    {
        var files = new List<string> { state.IdentityPath };
        if (context.Console.GetEnv("SOPS_AGE_KEY_FILE") is { Length: > 0 } keyFile) files.Add(keyFile);
        var list = AgenixCommands.LoadIdentities(context, files.Where(f => File.Exists(context.Console.ResolvePath(f)))).ToList();
        if (context.Console.GetEnv("SOPS_AGE_KEY") is { Length: > 0 } keys)
        {
            try { list.AddRange(AgeKeys.ParseIdentities(keys)); }
            catch (KeywardException e) { throw e.First.Code.Exception($"$SOPS_AGE_KEY: {e.First.Message}", e.First.Hint); }
        }
        if (list.Count == 0 && required)
            throw ErrorCodes.SopsNoAgeKey.Exception("no age identity to open the SOPS file with", "pass --identity FILE, or set SOPS_AGE_KEY_FILE");
        return list;
    }
}
