using System.CommandLine;
using Keyward.Core.Manifest;
using Keyward.Core.Store;
using Spectre.Console;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward list [-f FILE] [--json]</c>: what the store holds (never values).</summary>
internal static class ListCommand
{
    public static Command Build(CliContext context)
    {
        var file = new Option<string?>("--file", "-f") { Description = "Manifest, to show which sinks each credential feeds (default: keyward.yaml when present)" };
        var json = CliOptions.Json();
        var all = new Option<bool>("--all") { Description = "Show every version, not only the active ones" };
        var wide = new Option<bool>("--wide", "-w") { Description = "The key authority table from the manifest: kind, owner, purpose, secret, consumers, rotation rule (also credentials not stored yet)" };
        var cmd = new Command("list", "List stored credentials: name, kind, version, created, expires, sinks") { file, json, all, wide };
        cmd.SetAction(async (parse, ct) =>
        {
            await using var state = await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false);
            var versions = await state.Store.ListVersionsAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(wide))
                return Taxonomy.Print(context, LoadManifest(context, parse.GetValue(file), required: true)!, versions, parse.GetValue(json));
            var rows = versions.Where(v => parse.GetValue(all) || v.State == VersionState.Active)
                .OrderBy(v => v.Name, StringComparer.Ordinal).ThenByDescending(v => v.Version).ToArray();
            var sinks = SinksByCredential(context, parse.GetValue(file));
            if (parse.GetValue(json))
            {
                var doc = rows.Select(v => new ListRowJson(v.Name, v.Kind, v.Version, v.State.ToString().ToLowerInvariant(), v.CreatedAt, v.ExpiresAt,
                    v.Fingerprint, v.Origin, sinks.GetValueOrDefault(v.Name) ?? [])).ToArray();
                CliJson.WriteLine(context.Console.Out, doc, CliJson.Context.ListRowJsonArray);
                return 0;
            }
            var now = context.Time.GetUtcNow();
            if (context.Console.OutIsTerminal)
            {
                var table = new Table().AddColumns("name", "kind", "version", "created", "expires", "sinks");
                foreach (var v in rows)
                    table.AddRow(Markup.Escape(v.Name), v.Kind, Version(v), v.CreatedAt.ToString("yyyy-MM-dd HH:mm"), Markup.Escape(Expires(v, now)),
                        Markup.Escape(string.Join(", ", sinks.GetValueOrDefault(v.Name) ?? [])));
                var console = AnsiConsole.Create(new AnsiConsoleSettings { Out = new AnsiConsoleOutput(context.Console.Out) });
                console.Write(table);
            }
            else
            {
                var w = rows.Select(r => r.Name.Length).DefaultIfEmpty(4).Max();
                context.Console.Out.WriteLine($"{"NAME".PadRight(w)}  {"KIND",-15}  {"VERSION",-10}  {"CREATED",-16}  {"EXPIRES",-28}  SINKS");
                foreach (var v in rows)
                    context.Console.Out.WriteLine($"{v.Name.PadRight(w)}  {v.Kind,-15}  {Version(v),-10}  {v.CreatedAt:yyyy-MM-dd HH:mm}  {Expires(v, now),-28}  {string.Join(", ", sinks.GetValueOrDefault(v.Name) ?? [])}");
            }
            return 0;
        });
        return cmd;
    }

    private static string Version(CredentialVersion v) => v.State == VersionState.Active ? $"v{v.Version}" : $"v{v.Version} ({v.State.ToString().ToLowerInvariant()})";

    private static string Expires(CredentialVersion v, DateTimeOffset now) =>
        v.ExpiresAt is { } e ? $"{e:yyyy-MM-dd} ({Core.Time.HumanDuration.InWords(e - now)})" : "-";

    private static KeywardManifest? LoadManifest(CliContext context, string? file, bool required)
    {
        var path = context.Console.ResolvePath(file ?? "keyward.yaml");
        if (!File.Exists(path))
            return required ? throw Core.Errors.ErrorCodes.FileNotFound.Exception($"manifest {path} does not exist", "--wide reads the manifest: pass it with -f PATH") : null;
        var loaded = ManifestLoader.Load(path);
        if (loaded.Manifest is null && required) throw new Core.Errors.KeywardException([.. loaded.Errors, Core.Errors.ErrorCodes.ManifestInvalid.With($"{path} could not be loaded")]);
        return loaded.Manifest;
    }

    private static Dictionary<string, string[]> SinksByCredential(CliContext context, string? file)
    {
        var manifest = LoadManifest(context, file, required: false);
        if (manifest is null) return [];
        return manifest.Sinks
            .SelectMany(s => s.CredentialNames.Select(c => (c, s.Name)))
            .GroupBy(x => x.c, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => g.Select(x => x.Name).ToArray(), StringComparer.Ordinal);
    }
}
