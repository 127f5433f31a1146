using System.Globalization;
using Keyward.Core.Errors;
using Npgsql;

namespace Keyward.Store.Postgres;

/// <summary>
/// Where a PostgreSQL store lives: parsed from <c>--store</c> / <c>KEYWARD_STORE</c>, either a URI
/// (<c>postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE[?sslmode=…]</c>) or Npgsql key=value pairs
/// (<c>Host=…;Port=…;Username=…;Database=…</c>). The password never appears in <see cref="ToString"/> or in an error:
/// messages name the store by <see cref="Display"/> only. Without a password in the string, Npgsql reads
/// <c>PGPASSWORD</c> or <c>~/.pgpass</c>, as libpq does.
/// </summary>
public sealed class PostgresConnection
{
    private static readonly string[] UriSchemes = ["postgres://", "postgresql://"];

    /// <summary>URI query parameters understood, with the Npgsql keyword each sets.</summary>
    private static readonly Dictionary<string, string> UriQueryKeys = new(StringComparer.Ordinal)
    {
        ["sslmode"] = "SSL Mode",
        ["connect_timeout"] = "Timeout",
        ["application_name"] = "Application Name",
        ["host"] = "Host", // a unix socket directory: postgres://user@/db?host=/run/postgresql
        ["port"] = "Port",
        ["sslrootcert"] = "Root Certificate",
        ["sslcert"] = "SSL Certificate",
        ["sslkey"] = "SSL Key",
        ["user"] = "Username",
        ["password"] = "Password",
        ["dbname"] = "Database",
    };

    private readonly string _connectionString;

    private PostgresConnection(NpgsqlConnectionStringBuilder builder)
    {
        // One connection per store, owned and closed by it: a pooled close would keep the session (and its advisory
        // locks) alive in the pool (Npgsql resets a pooled session only on its next use).
        builder.Pooling = false;
        builder.Multiplexing = false;
        // The store runs a handful of statements thousands of times (put, audit append): let Npgsql prepare them
        // server-side after a second use (parse and plan once per session). Unpooled, so no reset ever discards them.
        if (builder.MaxAutoPrepare == 0) builder.MaxAutoPrepare = 64;
        builder.AutoPrepareMinUsages = 2;
        if (string.IsNullOrEmpty(builder.ApplicationName)) builder.ApplicationName = "keyward";
        _connectionString = builder.ConnectionString;
        Display = string.Create(CultureInfo.InvariantCulture,
            $"postgres://{(string.IsNullOrEmpty(builder.Username) ? "" : Uri.EscapeDataString(builder.Username) + "@")}{builder.Host}:{builder.Port}/{builder.Database}");
    }

    /// <summary><c>postgres://user@host:port/db</c>: safe to print, never the password.</summary>
    public string Display { get; }

    public override string ToString() => Display;

    /// <summary>True when <paramref name="text"/> names a PostgreSQL store rather than a directory.</summary>
    public static bool LooksLikeConnection(string text) =>
        UriSchemes.Any(s => text.StartsWith(s, StringComparison.OrdinalIgnoreCase)) || text.Contains('=', StringComparison.Ordinal);

    /// <summary>Parses a URI or key=value connection string; KW0321 with a hint when malformed (never echoing the input).</summary>
    public static PostgresConnection Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        text = text.Trim();
        if (text.Length == 0) throw Invalid("the connection string is empty");
        var builder = UriSchemes.Any(s => text.StartsWith(s, StringComparison.OrdinalIgnoreCase)) ? ParseUri(text) : ParseKeyValue(text);
        if (string.IsNullOrWhiteSpace(builder.Host)) throw Invalid("it names no host (Host=… or postgres://USER@HOST/DATABASE)");
        if (string.IsNullOrWhiteSpace(builder.Database)) throw Invalid("it names no database (Database=… or the /DATABASE part of the URI)");
        if (builder.Port is <= 0 or > 65535) throw Invalid("its port is not between 1 and 65535");
        return new PostgresConnection(builder);
    }

    private static NpgsqlConnectionStringBuilder ParseUri(string text)
    {
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || uri.Scheme is not ("postgres" or "postgresql"))
            throw Invalid("it starts like a postgres:// URI but is not a valid URI (percent-encode '@', ':', '/' and '?' inside the password)");
        var builder = new NpgsqlConnectionStringBuilder();
        if (!string.IsNullOrEmpty(uri.UserInfo))
        {
            var colon = uri.UserInfo.IndexOf(':', StringComparison.Ordinal);
            builder.Username = Uri.UnescapeDataString(colon < 0 ? uri.UserInfo : uri.UserInfo[..colon]);
            if (colon >= 0) builder.Password = Uri.UnescapeDataString(uri.UserInfo[(colon + 1)..]);
        }
        if (!string.IsNullOrEmpty(uri.Host)) builder.Host = uri.Host.Trim('[', ']');
        builder.Port = uri.IsDefaultPort || uri.Port < 0 ? 5432 : uri.Port;
        var path = uri.AbsolutePath.Trim('/');
        if (path.Contains('/', StringComparison.Ordinal)) throw Invalid("the URI path must be one database name (postgres://USER@HOST:PORT/DATABASE)");
        if (path.Length > 0) builder.Database = Uri.UnescapeDataString(path);
        var query = uri.Query.TrimStart('?');
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            if (!UriQueryKeys.TryGetValue(key, out var keyword))
                throw Invalid($"the URI parameter '{Printable(key)}' is not supported (supported: {string.Join(", ", UriQueryKeys.Keys.Order(StringComparer.Ordinal))})");
            try
            {
                builder[keyword] = keyword == "SSL Mode" ? SslMode(value) : value;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException)
            {
                throw Invalid($"the URI parameter '{key}' has a value Npgsql does not accept");
            }
        }
        return builder;
    }

    /// <summary>libpq spells SSL modes in lower case with dashes (verify-full); Npgsql's enum has VerifyFull.</summary>
    private static string SslMode(string value) => value switch
    {
        "disable" => "Disable",
        "allow" => "Allow",
        "prefer" => "Prefer",
        "require" => "Require",
        "verify-ca" => "VerifyCA",
        "verify-full" => "VerifyFull",
        _ => throw Invalid("sslmode is one of disable, allow, prefer, require, verify-ca, verify-full"),
    };

    private static NpgsqlConnectionStringBuilder ParseKeyValue(string text)
    {
        try
        {
            return new NpgsqlConnectionStringBuilder(text);
        }
        catch (Exception e) when (e is ArgumentException or FormatException or InvalidCastException or KeyNotFoundException)
        {
            // Npgsql's message may quote part of the string (a password among it): name only the keys.
            var keys = text.Split(';', StringSplitOptions.RemoveEmptyEntries)
                .Select(p => p.Split('=', 2)[0].Trim())
                .Where(k => k.Length is > 0 and < 40 && k.All(c => char.IsAsciiLetterOrDigit(c) || c == ' ' || c == '_'))
                .ToList();
            throw Invalid(keys.Count == 0
                ? "it is neither a postgres:// URI nor Npgsql key=value pairs"
                : $"Npgsql does not accept it as key=value pairs (keys given: {string.Join(", ", keys)}; an unknown key or a value of the wrong type)");
        }
    }

    private static string Printable(string key) => key.Length <= 40 && key.All(char.IsAsciiLetterOrDigit) ? key : "…";

    private static KeywardException Invalid(string why) =>
        ErrorCodes.StoreConnectionInvalid.Exception($"the store connection string is not valid: {why}");

    /// <summary>A data source for one store or lock connection (slim: only the types the store uses; AOT-friendly).</summary>
    internal NpgsqlDataSource CreateDataSource() => new NpgsqlSlimDataSourceBuilder(_connectionString).EnableArrays().Build();

    /// <summary>The same server, another database (tests and <c>store copy</c> create throwaway databases).</summary>
    internal PostgresConnection WithDatabase(string database) =>
        new(new NpgsqlConnectionStringBuilder(_connectionString) { Database = database });
}
