using Keyward.Core.Errors;
using Npgsql;

namespace Keyward.Store.Postgres;

/// <summary>Translates Npgsql failures into KW03xx at the adapter edge. Messages name the store by its display form
/// (no password) and the server's SQLSTATE; a server message never carries a parameter value (the values are
/// ciphertexts anyway).</summary>
internal static class PostgresErrors
{
    public const string UniqueViolation = "23505";

    public static bool IsTranslatable(Exception e) => e is NpgsqlException or TimeoutException;

    public static KeywardException Translate(Exception e, string display)
    {
        var error = e switch
        {
            PostgresException p when p.SqlState is "3D000" => ErrorCodes.StoreUnreachable.With($"{display}: the database does not exist", "create it (createdb) or fix the database name"),
            PostgresException p when p.SqlState is "28P01" or "28000" => ErrorCodes.StoreUnreachable.With($"{display}: the server refused the login ({p.SqlState})", "check the role and its password (PGPASSWORD, ~/.pgpass or the connection string) and pg_hba.conf"),
            PostgresException p when p.SqlState.StartsWith("57P", StringComparison.Ordinal) => ErrorCodes.StoreUnreachable.With($"{display}: the server ended the session ({p.SqlState}: {p.MessageText})"),
            PostgresException p => ErrorCodes.StoreIo.With($"{display}: PostgreSQL error {p.SqlState} ({p.MessageText})", "check the server log; the store's rows are unchanged by a failed transaction"),
            NpgsqlException { InnerException: TimeoutException } or TimeoutException => ErrorCodes.StoreUnreachable.With($"{display}: timed out talking to the server"),
            _ => ErrorCodes.StoreUnreachable.With($"{display}: cannot reach the server or the connection broke ({e.GetType().Name})"),
        };
        return new KeywardException(error, e);
    }
}
