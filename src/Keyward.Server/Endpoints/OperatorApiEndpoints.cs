using System.Globalization;
using Keyward.Core.Manifest;
using Keyward.Engine;
using Keyward.Engine.Apply;
using Keyward.Server.Auth;
using Keyward.Server.Controller;
using Keyward.Engine.Checks;
using Keyward.Services;
using Keyward.Core.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Keyward.Server.Endpoints;

internal sealed record ApiVersion(int Version, string State, DateTimeOffset CreatedAt, DateTimeOffset? ExpiresAt, string Origin);

internal sealed record ApiCondition(string Type, string Status, string Reason, string Message, DateTimeOffset LastTransitionTime, DateTimeOffset? LastTrueTime);

internal sealed record ApiCredential(string Name, string Kind, int? ActiveVersion, DateTimeOffset? ExpiresAt, string Ready,
    IReadOnlyList<ApiCondition> Conditions, IReadOnlyList<ApiVersion> Versions);

internal sealed record ApiCredentialList(IReadOnlyList<ApiCredential> Credentials, DateTimeOffset? CheckedAt);

internal sealed record ApiPlanCredential(string Name, string Kind, string Action, string Reason, int? Version);

internal sealed record ApiPlanSink(string Name, string Path, string Action, string Reason);

internal sealed record ApiUpcoming(string Credential, DateTimeOffset DueAt, string Reason);

internal sealed record ApiPlan(string Manifest, long? OpenJournal, IReadOnlyList<ApiPlanCredential> Credentials, IReadOnlyList<ApiPlanSink> Sinks,
    IReadOnlyList<ApiUpcoming> Upcoming);

internal sealed record ApiAuditRecord(long Sequence, DateTimeOffset At, string Actor, string Action, string Credential, int? Version, string? Detail);

internal sealed record ApiAudit(IReadOnlyList<ApiAuditRecord> Records);

/// <summary>
/// The operator read API (<c>/api/v1/…</c>), every route behind <see cref="OperatorAuth.RequireOperator"/>: names, kinds,
/// versions, expiry and conditions — never a value (the store is asked for metadata only; no route reveals).
/// </summary>
internal static class OperatorApiEndpoints
{
    public static void Map(IEndpointRouteBuilder app)
    {
        var api = app.MapGroup("/api/v1");
        api.MapGet("/credentials", ListAsync).RequireOperator();
        api.MapGet("/credentials/{name}", OneAsync).RequireOperator();
        api.MapGet("/plan", PlanAsync).RequireOperator();
        api.MapGet("/audit", AuditAsync).RequireOperator();
    }

    private static async Task<IResult> ListAsync(ServerState state, ControllerStatus status, CancellationToken ct)
    {
        var all = await VersionsAsync(state, ct).ConfigureAwait(false);
        var manifest = state.Manifest;
        var names = (manifest?.Credentials.Select(c => c.Name) ?? []).Concat(all.Select(v => v.Name)).Distinct(StringComparer.Ordinal).ToArray();
        var list = names.Select(n => Describe(n, state, status, all)).ToArray();
        return TypedResults.Json(new ApiCredentialList(list, CheckedAt(status)), ServerJson.Default.ApiCredentialList);
    }

    private static async Task<IResult> OneAsync(string name, ServerState state, ControllerStatus status, CancellationToken ct)
    {
        var all = await VersionsAsync(state, ct).ConfigureAwait(false);
        if (state.Manifest?.FindCredential(name) is null && !all.Any(v => v.Name == name))
            return TypedResults.Json(new ApiError("not-found", $"no credential named '{name}'"), ServerJson.Default.ApiError, statusCode: StatusCodes.Status404NotFound);
        return TypedResults.Json(Describe(name, state, status, all), ServerJson.Default.ApiCredential);
    }

    private static async Task<IResult> PlanAsync(ServerState state, CancellationToken ct)
    {
        var manifest = state.Manifest;
        if (manifest is null)
            return TypedResults.Json(new ApiError("manifest-invalid", "no valid manifest loaded"), ServerJson.Default.ApiError, statusCode: StatusCodes.Status503ServiceUnavailable);
        await using var opened = await state.OpenForReadAsync(ct).ConfigureAwait(false);
        var o = state.Options;
        var engine = new ApplyEngine(opened.Store, new EngineOptions
        {
            Root = o.Root, Time = o.Time, GetEnv = o.GetEnv, Kubeconfig = o.Kubeconfig, RunHooks = false, SopsIdentityFiles = [opened.IdentityPath],
        });
        var plan = await engine.PlanAsync(manifest, ct).ConfigureAwait(false);
        return TypedResults.Json(new ApiPlan(manifest.File, plan.OpenJournal,
            plan.Credentials.Select(c => new ApiPlanCredential(c.Credential.Name, c.Credential.Kind.Name(), Word(c.Action), c.Reason, c.CurrentVersion)).ToArray(),
            plan.Sinks.Select(s => new ApiPlanSink(s.Sink.Name, s.TargetPath, Word(s.Action), s.Reason)).ToArray(),
            plan.Upcoming.Select(u => new ApiUpcoming(u.Credential, u.DueAt, u.Reason)).ToArray()), ServerJson.Default.ApiPlan);
    }

    private static async Task<IResult> AuditAsync(ServerState state, string? since, int? limit, CancellationToken ct)
    {
        DateTimeOffset? from = null;
        if (since is not null)
        {
            if (!DateTimeOffset.TryParse(since, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var parsed))
                return TypedResults.Json(new ApiError("bad-request", "since is an ISO 8601 time, e.g. 2026-12-01T00:00:00Z"), ServerJson.Default.ApiError, statusCode: StatusCodes.Status400BadRequest);
            from = parsed;
        }
        var take = Math.Clamp(limit ?? 1000, 1, 10000);
        await using var opened = await state.OpenForReadAsync(ct).ConfigureAwait(false);
        var records = await opened.Store.ReadAuditAsync(from, ct).ConfigureAwait(false);
        return TypedResults.Json(new ApiAudit(records.TakeLast(take).Select(r => new ApiAuditRecord(r.Sequence, r.Event.At, r.Event.Actor, r.Event.Action,
            r.Event.Credential, r.Event.Version, r.Event.Detail)).ToArray()), ServerJson.Default.ApiAudit);
    }

    private static async Task<IReadOnlyList<CredentialVersion>> VersionsAsync(ServerState state, CancellationToken ct)
    {
        await using var opened = await state.OpenForReadAsync(ct).ConfigureAwait(false);
        return await opened.Store.ListVersionsAsync(ct).ConfigureAwait(false);
    }

    private static DateTimeOffset? CheckedAt(ControllerStatus status) => status.LastRun;

    private static ApiCredential Describe(string name, ServerState state, ControllerStatus status, IReadOnlyList<CredentialVersion> all)
    {
        var versions = all.Where(v => v.Name == name).OrderBy(v => v.Version).ToArray();
        var active = versions.LastOrDefault(v => v.State == VersionState.Active);
        var kind = state.Manifest?.FindCredential(name)?.Kind.Name() ?? active?.Kind ?? versions.LastOrDefault()?.Kind ?? "unknown";
        var report = status.Snapshot.Reports.FirstOrDefault(r => r.Kind == SubjectKind.Credential && r.Name == name);
        return new ApiCredential(name, kind, active?.Version, active?.ExpiresAt, Metrics.ControllerMetrics.Readiness(report),
            report?.Conditions.Select(c => new ApiCondition(c.Type, c.Status.ToString(), c.Reason, c.Message, c.LastTransitionTime, c.LastTrueTime)).ToArray() ?? [],
            versions.Select(v => new ApiVersion(v.Version, v.State.ToString(), v.CreatedAt, v.ExpiresAt, v.Origin)).ToArray());
    }

    private static string Word(ChangeAction a) => a switch
    {
        ChangeAction.Create => "create",
        ChangeAction.Update => "update",
        ChangeAction.Pending => "pending",
        _ => "unchanged",
    };
}
