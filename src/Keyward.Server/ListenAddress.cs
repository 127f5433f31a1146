using System.Globalization;
using System.Net;
using System.Text;
using Keyward.Core.Errors;

namespace Keyward.Server;

/// <summary>A <c>--listen</c> value: <c>HOST:PORT</c> (an IP literal, IPv6 in brackets, or <c>localhost</c>; port 0 picks
/// a free one) or <c>unix:/ABSOLUTE/PATH</c>, a Unix domain socket on this host.</summary>
public sealed record ListenAddress
{
    private const string UnixPrefix = "unix:";

    /// <summary>The longest socket path Linux takes: <c>sun_path</c> is 108 bytes with the terminating NUL.</summary>
    internal const int MaxSocketPathBytes = 107;

    private ListenAddress(IPAddress? address, int port, string? socketPath, string text)
    {
        Address = address;
        Port = port;
        SocketPath = socketPath;
        Text = text;
    }

    /// <summary>The IP address of a TCP listener; null for a Unix socket.</summary>
    public IPAddress? Address { get; }

    public int Port { get; }

    /// <summary>The absolute path of a Unix domain socket; null for TCP.</summary>
    public string? SocketPath { get; }

    public string Text { get; }

    public bool IsUnixSocket => SocketPath is not null;

    public bool IsLoopback => Address is not null && IPAddress.IsLoopback(Address);

    /// <summary>Reachable from this host only: a loopback address or a Unix socket (no network path leads to either).
    /// The one rule behind plain HTTP without TLS (KW1202) and the dashboard without a login.</summary>
    public bool IsLocal => IsUnixSocket || IsLoopback;

    public override string ToString() => Text;

    public static ListenAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.StartsWith(UnixPrefix, StringComparison.Ordinal)) return ParseUnix(text);
        var colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
            throw ErrorCodes.ListenAddressInvalid.Exception($"'{text}' has no port");
        var host = text[..colon];
        var portText = text[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port > 65535)
            throw ErrorCodes.ListenAddressInvalid.Exception($"'{portText}' is not a port number (0-65535)");
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':'))
            throw ErrorCodes.ListenAddressInvalid.Exception($"'{text}': write an IPv6 address in brackets, e.g. [::1]:{port}");
        IPAddress address;
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) address = IPAddress.Loopback;
        else if (!IPAddress.TryParse(host, out address!))
            throw ErrorCodes.ListenAddressInvalid.Exception($"'{host}' is not an IP address (host names other than localhost are not resolved)");
        return new ListenAddress(address, port, null, text);
    }

    private static ListenAddress ParseUnix(string text)
    {
        var path = text[UnixPrefix.Length..];
        if (path.Length == 0)
            throw ErrorCodes.ListenAddressInvalid.Exception($"'{text}' names no socket path");
        if (!path.StartsWith('/'))
            throw ErrorCodes.ListenAddressInvalid.Exception($"'{text}': the socket path must be absolute");
        if (path.EndsWith('/') || path.Contains('\0', StringComparison.Ordinal))
            throw ErrorCodes.ListenAddressInvalid.Exception($"'{text}' is not a file path");
        if (Encoding.UTF8.GetByteCount(path) > MaxSocketPathBytes)
            throw ErrorCodes.ListenAddressInvalid.Exception($"'{text}': a Unix socket path is at most {MaxSocketPathBytes} bytes");
        return new ListenAddress(null, 0, Path.GetFullPath(path), text);
    }
}
