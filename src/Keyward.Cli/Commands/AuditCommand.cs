using System.CommandLine;
using System.Globalization;
using Keyward.Core.Errors;
using Keyward.Core.Time;

namespace Keyward.Cli.Commands;

/// <summary><c>keyward audit [--since DURATION|DATE] [--json]</c> and <c>keyward audit verify</c>.</summary>
internal static class AuditCommand
{
    public static Command Build(CliContext context)
    {
        var since = new Option<string?>("--since") { Description = "Only entries newer than a duration ago (24h, 7d) or a date (2025-01-31, ISO 8601)" };
        var json = CliOptions.Json();
        var cmd = new Command("audit", "List the audit log: mints, rotations, retirements, reveals and imports (fingerprints, never values)") { since, json };
        cmd.SetAction(async (parse, ct) =>
        {
            var from = ParseSince(parse.GetValue(since), context.Time.GetUtcNow());
            await using var state = await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false);
            var rows = await state.Store.ReadAuditAsync(from, ct).ConfigureAwait(false);
            var o = context.Console.Out;
            if (parse.GetValue(json))
            {
                CliJson.WriteLine(o, rows.Select(r => new AuditRowJson(
                    r.Sequence, r.Event.At, r.Event.Actor, r.Event.Action, r.Event.Credential,
                    r.Event.Version, r.Event.Fingerprint, r.Event.Detail, r.Hash)).ToArray(), CliJson.Context.AuditRowJsonArray);
                return 0;
            }
            foreach (var r in rows)
            {
                var e = r.Event;
                o.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{r.Sequence,5}  {e.At.UtcDateTime:yyyy-MM-dd'T'HH:mm:ss'Z'}  {e.Actor}  {e.Action,-8} {e.Credential}{(e.Version is { } v ? $" v{v}" : "")}{(e.Fingerprint is null ? "" : $"  {e.Fingerprint}")}{(e.Detail is null ? "" : $"  ({e.Detail})")}"));
            }
            if (rows.Count == 0) o.WriteLine("no audit entries");
            return 0;
        });

        var verify = new Command("verify", "Recompute the audit hash chain: detects edited, reordered or deleted entries");
        verify.SetAction(async (parse, ct) =>
        {
            await using var state = await StateInput.OpenAsync(context, parse, ct).ConfigureAwait(false);
            var problems = await state.Store.VerifyAuditAsync(ct).ConfigureAwait(false);
            if (problems.Count == 0)
            {
                var count = (await state.Store.ReadAuditAsync(null, ct).ConfigureAwait(false)).Count;
                context.Console.Out.WriteLine($"audit log intact: {count} entries, hash chain verified");
                return 0;
            }
            throw new KeywardException(problems.Select(p => ErrorCodes.AuditTampered.With(p)).ToList());
        });
        cmd.Subcommands.Add(verify);
        return cmd;
    }

    internal static DateTimeOffset? ParseSince(string? text, DateTimeOffset now)
    {
        if (string.IsNullOrWhiteSpace(text)) return null;
        if (HumanDuration.TryParse(text, out var d, out _)) return now - d.Value;
        if (DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var at)) return at;
        throw ErrorCodes.InvalidSince.Exception($"'{text}' is neither a duration nor a date");
    }
}
