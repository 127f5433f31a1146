using System.Text.Json;

namespace Keyward.Engine.Agent;

/// <summary>The agent's memory between runs (no secret in it): which server and host, the bundle version it applied,
/// when, and each sink's fingerprint. Lets an offline agent say how stale its files are.</summary>
public sealed record AgentState(string Server, string Host, string Version, DateTimeOffset DeliveredAt, DateTimeOffset? LastContact,
    IReadOnlyDictionary<string, string> Sinks)
{
    public const string FileName = "agent-state.json";

    public static AgentState? Load(string directory)
    {
        var path = Path.Combine(directory, FileName);
        try
        {
            return File.Exists(path) ? JsonSerializer.Deserialize(File.ReadAllBytes(path), AgentJson.Default.AgentState) : null;
        }
        catch (Exception e) when (e is JsonException or IOException or UnauthorizedAccessException)
        {
            return null; // an unreadable state only costs one full delivery
        }
    }

    /// <summary>Written through the one atomic writer (random temp name, fsync, rename, directory fsync), mode 0600 in a
    /// 0700 directory: a crash leaves the previous state or the new one, never a torn file.</summary>
    public void Save(string directory)
    {
        var path = Path.Combine(directory, FileName);
        var bytes = JsonSerializer.SerializeToUtf8Bytes(this, AgentJson.Default.AgentState);
        new Keyward.Sinks.AtomicFileWriter(_ => "").Write(new Keyward.Sinks.FileWriteRequest(path, bytes, 0b110_000_000, 0b111_000_000, null, null, null));
    }
}
