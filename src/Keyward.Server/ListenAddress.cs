using System.Globalization;
using System.Net;
using Keyward.Core.Errors;

namespace Keyward.Server;

/// <summary>A <c>--listen HOST:PORT</c> value: an IP literal (IPv6 in brackets) or <c>localhost</c>; port 0 picks a free one.</summary>
public sealed record ListenAddress(IPAddress Address, int Port, string Text)
{
    public bool IsLoopback => IPAddress.IsLoopback(Address);

    public override string ToString() => Text;

    public static ListenAddress Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
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
        return new ListenAddress(address, port, text);
    }
}
