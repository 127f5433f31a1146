using Keyward.Core.Errors;
using Microsoft.Data.Sqlite;

namespace Keyward.Store.Sqlite;

/// <summary>Translates SQLite failures into KW03xx at the adapter edge; SQLite's text never names a secret value.</summary>
internal static class SqliteErrors
{
    // https://www.sqlite.org/rescode.html (primary result codes)
    private const int Busy = 5;
    private const int Locked = 6;
    private const int ReadOnly = 8;
    private const int IoErr = 10;
    private const int Corrupt = 11;
    private const int Full = 13;
    private const int CantOpen = 14;
    private const int NotADb = 26;

    public static KeywardException Translate(SqliteException e, string databasePath)
    {
        var error = e.SqliteErrorCode switch
        {
            Busy or Locked => ErrorCodes.StoreLocked.With($"{databasePath} is locked by another process and stayed locked past the busy timeout"),
            Corrupt or NotADb => ErrorCodes.StoreCorrupt.With($"{databasePath} is not a readable SQLite database ({e.SqliteErrorCode}: {Short(e)})"),
            ReadOnly or CantOpen => ErrorCodes.StoreIo.With($"{databasePath} cannot be opened for writing ({Short(e)})"),
            IoErr or Full => ErrorCodes.StoreIo.With($"{databasePath}: {IoText(e, databasePath)}",
                "free space on the state directory's file system (Keyward's writes are transactional: nothing half-written is kept), then retry"),
            _ => ErrorCodes.StoreIo.With($"{databasePath}: SQLite error {e.SqliteErrorCode} ({Short(e)})"),
        };
        return new KeywardException(error, e);
    }

    public static bool IsUniqueViolation(SqliteException e) => e.SqliteErrorCode == 19 && e.SqliteExtendedErrorCode is 1555 or 2067;

    /// <summary>SQLite says "disk I/O error" for a write refused with ENOSPC; say that the file system is full when it is.</summary>
    private static string IoText(SqliteException e, string databasePath)
    {
        var text = e.SqliteErrorCode == Full ? "database or disk is full" : "disk I/O error";
        try
        {
            var free = new DriveInfo(Path.GetDirectoryName(Path.GetFullPath(databasePath))!).AvailableFreeSpace;
            if (e.SqliteErrorCode == Full || free < 64 * 1024)
                return $"{text}: the file system is full ({free} bytes free) (SQLite {e.SqliteExtendedErrorCode})";
        }
        catch (Exception x) when (x is IOException or UnauthorizedAccessException or ArgumentException)
        {
        }
        return $"{text} (SQLite {e.SqliteExtendedErrorCode})";
    }

    private static string Short(SqliteException e)
    {
        var message = e.Message;
        var marker = message.IndexOf('\'', StringComparison.Ordinal);
        return (marker > 0 ? message[..marker] : message).TrimEnd(' ', '.', ':');
    }
}
