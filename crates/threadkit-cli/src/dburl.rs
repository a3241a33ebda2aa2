//! GNU parallel's DBURL for `--sqlmaster` / `--sqlworker` / `--sqlandworker`, PostgreSQL only:
//! `[sql:]pg://[user[:password]@][host][:port]/[database]/table` (also `postgres://` and
//! `postgresql://`; `pgs://` and GNU parallel's other TLS spellings require TLS, verified
//! against `PGSSLROOTCERT` or the system's roots), percent-escapes decoded as GNU parallel does. The table names the batch
//! in threadkit's tables (`tk_batch`, `tk_job`); the rest becomes a libpq `key=value`
//! connection string for [`threadkit::batch::dist`].

use anyhow::bail;

/// A parsed DBURL: where the database is and which batch (GNU parallel's table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DbUrl {
    /// libpq `key=value` connection string.
    pub(crate) conn: String,
    /// The batch id: GNU parallel's table.
    pub(crate) table: String,
}

impl DbUrl {
    /// Parse `url`.
    ///
    /// # Errors
    ///
    /// Not a DBURL, another database than PostgreSQL, GNU parallel's `+DBURL` (append to a
    /// table), a `?query`, or no table.
    pub(crate) fn parse(url: &str) -> anyhow::Result<DbUrl> {
        if url.starts_with('+') {
            bail!(
                "{url}: appending to a table (`+DBURL`) is not supported; use a new table, or \
                 --resume to go on with the same jobs"
            );
        }
        let body = url
            .get(..4)
            .filter(|p| p.eq_ignore_ascii_case("sql:"))
            .map_or(url, |_| &url[4..]);
        let Some((scheme, rest)) = body.split_once("://") else {
            bail!("{url} is not a valid DBURL: expected pg://[user[:password]@][host][:port]/[database]/table");
        };
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "pg" | "postgres" | "postgresql" => false,
            // GNU parallel's TLS schemes: TLS required, the server's certificate verified
            // against PGSSLROOTCERT (else the system's roots).
            "pgs" | "pgssl" | "postgress" | "postgresssl" | "postgresqls" | "postgresqlssl" => true,
            other => bail!("{url}: the {other:?} database is not supported: threadkit's SQL mode runs on PostgreSQL (pg://)"),
        };
        if rest.contains('?') {
            bail!("{url}: a ?query in the DBURL is not supported");
        }
        let (auth, rest) = match rest.split_once('@') {
            Some((a, r)) if !a.contains('/') => (Some(a), r),
            _ => (None, rest),
        };
        let (hostport, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (host, port) = hostport.split_once(':').unwrap_or((hostport, ""));
        let (database, table) = path.split_once('/').unwrap_or((path, ""));
        let table = unescape(table)?;
        if table.is_empty() || table.contains('/') {
            bail!("{url}: the DBURL names no table: pg://[user[:password]@][host][:port]/[database]/table");
        }
        let mut conn = Vec::new();
        let host = unescape(host)?;
        conn.push((
            "host",
            if host.is_empty() {
                "localhost".to_owned()
            } else {
                host
            },
        ));
        let port = unescape(port)?;
        if !port.is_empty() {
            conn.push(("port", port));
        }
        if let Some(auth) = auth {
            let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
            let (user, password) = (unescape(user)?, unescape(password)?);
            if !user.is_empty() {
                conn.push(("user", user));
            }
            if !password.is_empty() {
                conn.push(("password", password));
            }
        }
        let database = unescape(database)?;
        if !database.is_empty() {
            conn.push(("dbname", database));
        }
        if tls {
            conn.push(("sslmode", "require".to_owned()));
        }
        let conn = conn
            .iter()
            .map(|(k, v)| format!("{k}='{}'", v.replace('\\', "\\\\").replace('\'', "\\'")))
            .collect::<Vec<_>>()
            .join(" ");
        Ok(DbUrl { conn, table })
    }
}

/// `%XX` escapes decoded (GNU parallel's `uri_unescape`); the result must be UTF-8.
fn unescape(s: &str) -> anyhow::Result<String> {
    percent_encoding::percent_decode_str(s)
        .decode_utf8()
        .map(|d| d.into_owned())
        .map_err(|_| anyhow::anyhow!("{s:?}: a DBURL part decodes to bytes that are not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gnu_parallel_dburls_map_to_a_connection_and_a_batch() {
        let u = DbUrl::parse("pg://tk:s%40cret@127.0.0.1:5433/jobs/run_1").unwrap();
        assert_eq!(
            u.conn,
            "host='127.0.0.1' port='5433' user='tk' password='s@cret' dbname='jobs'"
        );
        assert_eq!(u.table, "run_1");
        let u = DbUrl::parse("sql:postgres:///db/t").unwrap();
        assert_eq!(
            (u.conn.as_str(), u.table.as_str()),
            ("host='localhost' dbname='db'", "t")
        );
        let u = DbUrl::parse("pg://o'k@h//t").unwrap();
        assert_eq!(u.conn, "host='h' user='o\\'k'");
        let u = DbUrl::parse("pgs://h/db/t").unwrap();
        assert_eq!(u.conn, "host='h' dbname='db' sslmode='require'");
        // A '%' not followed by two hex digits stays as it is, as in GNU parallel.
        let u = DbUrl::parse("pg://u:100%25%zz%+1@h/db/t").unwrap();
        assert_eq!(
            u.conn,
            "host='h' user='u' password='100%%zz%+1' dbname='db'"
        );
        for bad in [
            "pg://h/db",
            "pg://h/db/",
            "mysql://h/db/t",
            "+pg://h/db/t",
            "pg://h/db/t?x=1",
            "h/db/t",
            "pg://h/db/a/b",
            // %FF is not UTF-8: refused, not replaced.
            "pg://u:%FF@h/db/t",
        ] {
            assert!(DbUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
