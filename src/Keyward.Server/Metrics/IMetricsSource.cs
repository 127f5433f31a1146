namespace Keyward.Server.Metrics;

/// <summary>
/// Contributes metric families to <c>GET /metrics</c>. Each server area registers its own in DI
/// (<c>services.AddSingleton&lt;IMetricsSource, MyMetrics&gt;()</c> in its <c>Add…</c> line of <see cref="ServerServices"/>);
/// the endpoint asks every source at scrape time, so values are never stale. Family names must be unique across sources
/// (the writer refuses a second family of the same name), start with <c>keyward_</c>, and carry no secret value or
/// fingerprint in any label.
/// </summary>
public interface IMetricsSource
{
    void Collect(MetricsWriter writer);
}
