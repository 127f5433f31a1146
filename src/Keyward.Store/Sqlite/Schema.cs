namespace Keyward.Store.Sqlite;

/// <summary>
/// The store schema as an ordered list of migrations. Plain SQL that PostgreSQL also accepts (TEXT, INTEGER, partial
/// indexes) except the blob type and the append-only triggers, so the PostgreSQL store can keep the same shape.
/// A migration is never edited after release; changes are new entries.
/// </summary>
internal static class Schema
{
    public sealed record Migration(int Version, string Description, string Sql);

    public static readonly IReadOnlyList<Migration> Migrations =
    [
        new(1, "initial schema: meta, versions, ledger, audit, sinks, journals",
            """
            CREATE TABLE schema_version (
                version     INTEGER PRIMARY KEY,
                applied     TEXT NOT NULL,
                description TEXT NOT NULL
            );
            CREATE TABLE meta (
                key   TEXT PRIMARY KEY,
                value BLOB NOT NULL
            );
            CREATE TABLE versions (
                name        TEXT    NOT NULL,
                version     INTEGER NOT NULL,
                kind        TEXT    NOT NULL,
                state       TEXT    NOT NULL CHECK (state IN ('staged', 'active', 'previous', 'retired')),
                created     TEXT    NOT NULL,
                expires     TEXT,
                origin      TEXT    NOT NULL,
                metadata    TEXT    NOT NULL,
                nonce       BLOB    NOT NULL,
                ciphertext  BLOB    NOT NULL,
                fingerprint TEXT    NOT NULL,
                PRIMARY KEY (name, version)
            );
            CREATE UNIQUE INDEX versions_one_active ON versions (name) WHERE state = 'active';
            CREATE TABLE ledger (
                token_id          TEXT    PRIMARY KEY,
                credential        TEXT    NOT NULL,
                version           INTEGER NOT NULL,
                subject           TEXT    NOT NULL,
                permissions       TEXT    NOT NULL,
                issued            TEXT    NOT NULL,
                expires           TEXT    NOT NULL,
                fingerprint       TEXT    NOT NULL,
                signed_by         TEXT    NOT NULL,
                signed_by_version INTEGER NOT NULL,
                revoked           TEXT
            );
            CREATE INDEX ledger_credential ON ledger (credential, version);
            CREATE TABLE audit (
                seq         INTEGER PRIMARY KEY,
                at          TEXT    NOT NULL,
                actor       TEXT    NOT NULL,
                action      TEXT    NOT NULL,
                credential  TEXT    NOT NULL,
                version     INTEGER,
                fingerprint TEXT,
                detail      TEXT,
                prev_hash   TEXT    NOT NULL,
                hash        TEXT    NOT NULL
            );
            CREATE INDEX audit_at ON audit (at);
            CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
            CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
            CREATE TABLE sinks (
                name                TEXT PRIMARY KEY,
                path                TEXT NOT NULL,
                content_fingerprint TEXT NOT NULL,
                written             TEXT NOT NULL
            );
            CREATE TABLE journals (
                id        INTEGER PRIMARY KEY AUTOINCREMENT,
                operation TEXT NOT NULL,
                status    TEXT NOT NULL,
                intent    TEXT NOT NULL,
                started   TEXT NOT NULL
            );
            CREATE INDEX journals_status ON journals (status);
            CREATE TABLE journal_steps (
                journal_id INTEGER NOT NULL REFERENCES journals (id),
                step       INTEGER NOT NULL,
                kind       TEXT    NOT NULL,
                target     TEXT    NOT NULL,
                status     TEXT    NOT NULL,
                data       TEXT,
                at         TEXT    NOT NULL,
                PRIMARY KEY (journal_id, step)
            );
            """),
    ];

    public static int Latest => Migrations[^1].Version;
}
