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

    public void Save(string directory)
    {
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        var temp = path + ".tmp";
        File.WriteAllBytes(temp, JsonSerializer.SerializeToUtf8Bytes(this, AgentJson.Default.AgentState));
        File.Move(temp, path, overwrite: true);
    }
}
