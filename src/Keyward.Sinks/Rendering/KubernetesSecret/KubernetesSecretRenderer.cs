using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Keyward.Core.Errors;
using Keyward.Core.Json;

namespace Keyward.Sinks.Rendering.KubernetesSecret;

/// <summary><c>kubernetes-secret</c>: a <c>v1 Secret</c> manifest in YAML (apiVersion, kind, metadata name/namespace/
/// labels, type, base64 <c>data</c> — not <c>stringData</c>, which does not work with server-side apply). Labels are
/// sorted by key, data keys keep manifest order. Scalars are written plain only when no YAML reader could take them for
/// anything but a string; otherwise double-quoted (JSON escaping, which YAML double-quoted scalars accept).</summary>
internal static partial class KubernetesSecretRenderer
{
    public static byte[] Render(RenderContext context)
    {
        var options = context.Sink.Kubernetes
            ?? throw context.Error(ErrorCodes.SinkShape, null, "a kubernetes-secret sink needs its kubernetes options (name, namespace)");
        if (options.Name.Length > 253 || !DnsSubdomain().IsMatch(options.Name))
            throw context.Error(ErrorCodes.SinkShape, null, $"Secret name '{options.Name}' is not a DNS subdomain (lowercase letters, digits, '-' and '.')");
        if (options.Namespace.Length > 63 || !DnsLabel().IsMatch(options.Namespace))
            throw context.Error(ErrorCodes.SinkShape, null, $"namespace '{options.Namespace}' is not a DNS label (lowercase letters, digits and '-', at most 63)");
        context.RequireUnique(context.Sink.Entries.Select(e => (e, e.Key)), StringComparer.Ordinal, "data key");

        var sb = new StringBuilder();
        sb.Append("apiVersion: v1\nkind: Secret\nmetadata:\n");
        sb.Append("  name: ").Append(Scalar(options.Name)).Append('\n');
        sb.Append("  namespace: ").Append(Scalar(options.Namespace)).Append('\n');
        if (options.Labels.Count > 0)
        {
            sb.Append("  labels:\n");
            foreach (var (key, value) in options.Labels.OrderBy(l => l.Key, StringComparer.Ordinal))
                sb.Append("    ").Append(Scalar(key)).Append(": ").Append(Scalar(value)).Append('\n');
        }
        sb.Append("type: ").Append(Scalar(string.IsNullOrEmpty(options.Type) ? "Opaque" : options.Type)).Append('\n');
        if (context.Sink.Entries.Count == 0)
        {
            sb.Append("data: {}\n");
        }
        else
        {
            sb.Append("data:\n");
            foreach (var entry in context.Sink.Entries)
            {
                if (entry.Key.Length > 253 || !DataKey().IsMatch(entry.Key))
                    throw context.Error(ErrorCodes.SinkInvalidKey, entry, $"data key '{entry.Key}' must match [-._a-zA-Z0-9]+");
                var bytes = context.Bytes(entry);
                try
                {
                    sb.Append("  ").Append(Scalar(entry.Key)).Append(": ").Append(Scalar(Convert.ToBase64String(bytes))).Append('\n');
                }
                finally
                {
                    CryptographicOperations.ZeroMemory(bytes);
                }
            }
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private static readonly HashSet<string> YamlWords = new(StringComparer.OrdinalIgnoreCase)
    {
        "y", "n", "yes", "no", "on", "off", "true", "false", "null", "~",
    };

    internal static string Scalar(string s) =>
        PlainScalar().IsMatch(s) && !YamlWords.Contains(s) ? s : JsonString.Quote(s);

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")]
    private static partial Regex DnsSubdomain();

    [GeneratedRegex("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")]
    private static partial Regex DnsLabel();

    [GeneratedRegex("^[-._a-zA-Z0-9]+$")]
    private static partial Regex DataKey();

    // Starts with a letter (so never a number, .inf or an indicator), no ':' or '#' or spaces (never a mapping or comment).
    [GeneratedRegex("^[A-Za-z][A-Za-z0-9._/+=-]*$")]
    private static partial Regex PlainScalar();
}
