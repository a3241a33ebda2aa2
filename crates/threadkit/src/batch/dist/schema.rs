//! The schema, created and migrated by the program: every name starts with `tk_`, so the
//! tables can share a database with an application's own. `tk_schema_version` holds the
//! migrations applied; each process brings the schema up to date when it connects, under a
//! transaction-level advisory lock, so two processes starting at once do not both migrate.

use postgres::Client;

/// The advisory lock key taken while migrating (`"tk-migr"` in ASCII).
const MIGRATION_LOCK: i64 = 0x0074_6b2d_6d69_6772;

/// The migrations, in order; the schema version is the number applied. Never edit one that
/// was released: add the next.
const MIGRATIONS: &[&str] = &[
    // 1: batches, jobs, the attempt tokens.
    "CREATE TABLE tk_batch (
        id text PRIMARY KEY,
        fingerprint text NOT NULL,
        total bigint NOT NULL,
        state text NOT NULL DEFAULT 'open'
            CHECK (state IN ('open', 'halting', 'cancelled', 'done')),
        halt text,
        max_attempts integer NOT NULL DEFAULT 1,
        backoff_ms bigint[] NOT NULL DEFAULT '{}',
        timeout_ms bigint,
        done bigint NOT NULL DEFAULT 0,
        failed bigint NOT NULL DEFAULT 0,
        fenced bigint NOT NULL DEFAULT 0,
        created_at timestamptz NOT NULL DEFAULT now()
    );
    CREATE SEQUENCE tk_token;
    CREATE TABLE tk_job (
        id bigserial PRIMARY KEY,
        batch text NOT NULL REFERENCES tk_batch (id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        input bytea NOT NULL,
        state text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done')),
        attempt integer NOT NULL DEFAULT 0,
        lost integer NOT NULL DEFAULT 0,
        token bigint,
        locked_until timestamptz,
        not_before timestamptz,
        worker text,
        outcome bytea,
        failed boolean,
        recorded integer NOT NULL DEFAULT 0,
        UNIQUE (batch, seq)
    );
    CREATE INDEX tk_job_claim ON tk_job (batch, state, seq);",
    // 2: blobs, large bytes beside an outcome in chunk rows (a command's output).
    "CREATE TABLE tk_blob (
        batch text NOT NULL REFERENCES tk_batch (id) ON DELETE CASCADE,
        seq bigint NOT NULL,
        token bigint NOT NULL,
        name text NOT NULL,
        n integer NOT NULL,
        bytes bytea NOT NULL,
        PRIMARY KEY (batch, seq, token, name, n)
    );",
    // 3: the token at which a batch was last reopened: outcomes claimed before it are
    // `Done::earlier` (a resumed batch's), whenever its submitter reads them.
    "ALTER TABLE tk_batch ADD COLUMN opened_token bigint;",
];

/// The schema version this build writes.
pub(super) const VERSION: i32 = MIGRATIONS.len() as i32;

/// Brings the schema up to date (idempotent; safe when several processes run it at once);
/// the version the database is at afterwards: above [`VERSION`] when a newer threadkit
/// migrated it (the caller refuses to go on: an older build must not write a newer schema).
///
/// # Errors
///
/// A database error.
pub(super) fn migrate(client: &mut Client) -> Result<i32, postgres::Error> {
    // The fast path: up to date, no lock taken.
    let found = current(client)?;
    if found >= VERSION {
        return Ok(found);
    }
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS tk_schema_version (version integer NOT NULL)")?;
    let row = tx.query_one("SELECT max(version) FROM tk_schema_version", &[])?;
    let applied = row.get::<_, Option<i32>>(0).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied.max(0) as usize) {
        tx.batch_execute(sql)?;
        tx.execute(
            "INSERT INTO tk_schema_version (version) VALUES ($1)",
            &[&(i as i32 + 1)],
        )?;
    }
    tx.commit()?;
    Ok(applied.max(VERSION))
}

/// The schema version in the database, 0 before the first migration.
fn current(client: &mut Client) -> Result<i32, postgres::Error> {
    let row = client.query_one("SELECT to_regclass('tk_schema_version') IS NOT NULL", &[])?;
    if !row.get::<_, bool>(0) {
        return Ok(0);
    }
    let row = client.query_one("SELECT max(version) FROM tk_schema_version", &[])?;
    Ok(row.get::<_, Option<i32>>(0).unwrap_or(0))
}
