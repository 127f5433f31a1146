using System.CommandLine;
using System.Diagnostics;
using Keyward.Core.Errors;
using Keyward.Core.Graph;
using Keyward.Core.Rotation;
using Keyward.Core.Store;
using Keyward.Engine.Rotation;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward graph -f FILE [--format text|dot|mermaid|json|svg] [--focus NAME] [-o FILE]</c>.</summary>
internal static class GraphCommand
{
    public static Command Build(CliContext context)
    {
        var file = CliOptions.ManifestFile();
        var format = new Option<string>("--format") { Description = "text, dot, mermaid, json, or svg (runs Graphviz `dot -Tsvg`)", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "dot", "mermaid", "json", "svg");
        var focus = new Option<string?>("--focus") { Description = "Show one credential's blast radius (and what it is derived from)" };
        var output = new Option<string?>("--output", "-o") { Description = "Write to FILE instead of stdout" };
        var cmd = new Command("graph", "Render the credential graph: credentials, derivations, sinks, hooks, services and checks") { file, format, focus, output };
        cmd.SetAction(async (parse, ct) =>
        {
            var manifest = ManifestInput.Load(context, parse, file);
            var facts = await FactsAsync(context, parse, ct).ConfigureAwait(false);
            var graph = GraphBuilder.Build(manifest, facts, context.Time.GetUtcNow());
            if (parse.GetValue(focus) is { } name)
            {
                var node = graph.Find(NodeKind.Credential, name)
                    ?? throw ErrorCodes.NotInManifest.Exception($"no credential named '{name}' in the manifest");
                graph = graph.Focus(node.Id);
            }
            var fmt = parse.GetValue(format)!;
            var text = fmt == "svg" ? await SvgAsync(GraphRenderer.Dot(graph), ct).ConfigureAwait(false)
                : GraphRenderer.Render(graph, fmt switch { "dot" => GraphFormat.Dot, "mermaid" => GraphFormat.Mermaid, "json" => GraphFormat.Json, _ => GraphFormat.Text });
            if (parse.GetValue(output) is { } path)
                await File.WriteAllTextAsync(context.Console.ResolvePath(path), text, ct).ConfigureAwait(false);
            else
                await context.Console.Out.WriteAsync(text).ConfigureAwait(false);
            return 0;
        });
        return cmd;
    }

    /// <summary>Store facts when a state exists (ledger tokens join the graph); none otherwise — the graph needs no store.</summary>
    internal static async Task<StoreFacts> FactsAsync(CliContext context, ParseResult parse, CancellationToken ct)
    {
        if (!StateInput.Exists(context, parse)) return StoreFacts.Empty;
        var dir = context.StateDirectory(parse);
        await using var state = context.StoreConnection(parse) is { } store
            ? await Store.Postgres.PostgresState.OpenAsync(dir, store, context.Time, ct).ConfigureAwait(false)
            : await Store.StateDirectory.OpenAsync(dir, context.Time, ct).ConfigureAwait(false);
        return await StoreFacts.ReadAsync(state.Store, ct).ConfigureAwait(false);
    }

    private static async Task<string> SvgAsync(string dot, CancellationToken ct)
    {
        var exe = (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
            .Select(d => Path.Combine(d, "dot")).FirstOrDefault(File.Exists)
            ?? throw ErrorCodes.GraphvizMissing.Exception("`dot` was not found on PATH");
        var psi = new ProcessStartInfo(exe, ["-Tsvg"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var p = Process.Start(psi) ?? throw ErrorCodes.GraphvizMissing.Exception("`dot` could not be started");
        var stdout = p.StandardOutput.ReadToEndAsync(ct);
        var stderr = p.StandardError.ReadToEndAsync(ct);
        await p.StandardInput.WriteAsync(dot).ConfigureAwait(false);
        p.StandardInput.Close();
        await p.WaitForExitAsync(ct).ConfigureAwait(false);
        if (p.ExitCode != 0) throw ErrorCodes.GraphvizFailed.Exception($"dot exited with {p.ExitCode}: {(await stderr.ConfigureAwait(false)).Trim()}");
        return await stdout.ConfigureAwait(false);
    }
}
