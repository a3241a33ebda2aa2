//! One connection to the database that comes back: a lost connection (the server restarted,
//! the network went away) is reopened with backoff and the operation run again, for as long
//! as the reconnect budget allows. Every operation given to [`Conn::run`] is one statement or
//! one transaction, so running it again after a failure is safe (see the callers).

use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use std::sync::Arc;

use postgres::config::SslMode;
use std::collections::HashMap;
use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;

use postgres::{Client, NoTls, Statement};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::{schema, DistError};

/// The first pause before a reconnect; doubled up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(50);
/// The longest pause between two reconnect attempts.
const MAX_PAUSE: Duration = Duration::from_secs(2);

/// The channel every threadkit notification goes on; the payload is the batch id.
pub(super) const CHANNEL: &str = "tk_jobs";

/// Where to connect and how long a lost connection may take to come back.
#[derive(Debug, Clone)]
pub(super) struct Target {
    pub(super) config: postgres::Config,
    pub(super) reconnect_for: Duration,
    /// The server ends a session that sits this long inside a transaction
    /// (`idle_in_transaction_session_timeout`): a process stopped in the middle of one (SIGSTOP,
    /// a partition) must not hold its row locks (the batch's counters) over everyone else.
    pub(super) idle_in_transaction: Duration,
    /// TLS, when the URL (or `PGSSLMODE`) says `sslmode=require`: rustls, verifying the
    /// server's certificate and host name.
    pub(super) tls: Option<Arc<rustls::ClientConfig>>,
}

impl Target {
    /// Parses `url` (`postgres://user@host:port/db` or `key=value` pairs).
    pub(super) fn parse(url: &str) -> Result<Target, DistError> {
        let (url, root) = take_tls_params(url);
        let mut config: postgres::Config = url.parse().map_err(|e| DistError::Connect {
            message: format!("invalid database URL: {e}"),
        })?;
        if !url.contains("sslmode=") {
            // libpq's variable, for URLs that cannot say it (the command's DBURLs).
            if let Ok("require" | "verify-ca" | "verify-full") =
                std::env::var("PGSSLMODE").as_deref()
            {
                config.ssl_mode(SslMode::Require);
            }
        }
        let tls = match config.get_ssl_mode() {
            SslMode::Require => Some(tls_connector(root)?),
            // `prefer` (the default) is plain here: TLS only when asked for, and then verified.
            _ => {
                config.ssl_mode(SslMode::Disable);
                None
            }
        };
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("threadkit");
        Ok(Target {
            config,
            reconnect_for: Duration::from_secs(300),
            idle_in_transaction: Duration::from_secs(5),
            tls,
        })
    }
}

/// `url` without `sslrootcert` (which the client's parser does not know) and with libpq's
/// `sslmode=verify-ca` / `verify-full` as `require` (threadkit always verifies), and the root
/// certificate file it named.
fn take_tls_params(url: &str) -> (String, Option<OsString>) {
    let mut root = None;
    let kv = !(url.starts_with("postgres://") || url.starts_with("postgresql://"));
    let mut keep = |param: &str| -> Option<String> {
        match param.split_once('=') {
            Some(("sslrootcert", v)) => {
                root = Some(if kv {
                    OsString::from(unquote(v))
                } else {
                    // Bytes, not text: a path need not be UTF-8.
                    OsString::from_vec(percent_encoding::percent_decode_str(v).collect())
                });
                None
            }
            Some(("sslmode", "verify-ca" | "verify-full")) => Some("sslmode=require".into()),
            _ => Some(param.to_owned()),
        }
    };
    let url = if !kv {
        match url.split_once('?') {
            Some((base, query)) => {
                let kept: Vec<String> = query.split('&').filter_map(&mut keep).collect();
                if kept.is_empty() {
                    base.to_owned()
                } else {
                    format!("{base}?{}", kept.join("&"))
                }
            }
            None => url.to_owned(),
        }
    } else if url.contains("sslrootcert") || url.contains("sslmode=verify") {
        let kept: Vec<String> = words(url).into_iter().filter_map(&mut keep).collect();
        kept.join(" ")
    } else {
        url.to_owned()
    };
    (url, root)
}

/// The `key=value` words of a libpq connection string, each verbatim (a quoted value may hold
/// spaces and `\'`).
fn words(s: &str) -> Vec<&str> {
    let (mut out, mut start, mut quoted, mut escaped) = (Vec::new(), None, false, false);
    for (i, c) in s.char_indices() {
        match (c, quoted, escaped) {
            (_, _, true) => escaped = false,
            ('\\', true, _) => escaped = true,
            ('\'', _, _) => quoted = !quoted,
            (c, false, _) if c.is_whitespace() => {
                if let Some(a) = start.take() {
                    out.push(&s[a..i]);
                }
                continue;
            }
            _ => {}
        }
        start.get_or_insert(i);
    }
    if let Some(a) = start {
        out.push(&s[a..]);
    }
    out
}

/// A libpq value without its quotes and escapes (`'a \' b'` is `a ' b`).
fn unquote(v: &str) -> String {
    let Some(inner) = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) else {
        return v.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

/// A rustls connector trusting the certificates in `root` (else `PGSSLROOTCERT`, else the
/// system's roots).
fn tls_connector(root: Option<OsString>) -> Result<Arc<rustls::ClientConfig>, DistError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let fail = |message: String| DistError::Connect { message };
    let mut roots = rustls::RootCertStore::empty();
    match root.or_else(|| std::env::var_os("PGSSLROOTCERT")) {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(&path)
                .and_then(|it| it.collect::<Result<Vec<_>, _>>())
                .map_err(|e| fail(format!("cannot read the root certificate {path:?}: {e}")))?;
            if certs.is_empty() {
                return Err(fail(format!(
                    "no certificate in the root certificate file {path:?}"
                )));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| fail(format!("a bad root certificate in {path:?}: {e}")))?;
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            for c in found.certs {
                let _ = roots.add(c);
            }
            if roots.is_empty() {
                return Err(fail(
                    "sslmode=require and no root certificate: give one with sslrootcert=FILE \
                     (or PGSSLROOTCERT), or install the system's CA certificates"
                        .into(),
                ));
            }
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| fail(format!("cannot set up TLS: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A connection, reopened when lost. With `listen`, it listens on [`CHANNEL`] (again after
/// each reconnect).
pub(super) struct Conn {
    target: Target,
    client: Option<Client>,
    listen: bool,
    /// Statements prepared on `client` (cleared with it): parsing and planning a claim took
    /// longer than running it, on every call.
    prepared: HashMap<&'static str, Statement>,
}

impl std::fmt::Debug for Conn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Conn")
            .field("connected", &self.client.is_some())
            .field("listen", &self.listen)
            .finish()
    }
}

impl Conn {
    /// Connects now (a typed error when the database cannot be reached at all: a wrong URL
    /// should not wait for a reconnect budget) and brings the schema up to date.
    pub(super) fn open(target: &Target, listen: bool) -> Result<Conn, DistError> {
        let mut conn = Conn {
            target: target.clone(),
            client: None,
            listen,
            prepared: HashMap::new(),
        };
        let client = conn.fresh().map_err(|e| DistError::Connect {
            message: with_causes(&e),
        })?;
        conn.client = Some(client);
        let found = conn.run(schema::migrate)?;
        if found > schema::VERSION {
            return Err(DistError::Schema {
                found,
                supported: schema::VERSION,
            });
        }
        Ok(conn)
    }

    /// A new client, listening if asked.
    fn fresh(&self) -> Result<Client, postgres::Error> {
        let mut client = match &self.target.tls {
            Some(tls) => self
                .target
                .config
                .connect(MakeRustlsConnect::new((**tls).clone()))?,
            None => self.target.config.connect(NoTls)?,
        };
        let ms = self.target.idle_in_transaction.as_millis().max(1);
        client.batch_execute(&format!("SET idle_in_transaction_session_timeout = {ms}"))?;
        if self.listen {
            client.batch_execute(&format!("LISTEN {CHANNEL}"))?;
        }
        Ok(client)
    }

    /// Runs `op` on the client; on a lost connection, reconnects with backoff and runs it
    /// again, until the reconnect budget is spent ([`DistError::Lost`]). Any other database
    /// error is returned at once.
    pub(super) fn run<R>(
        &mut self,
        mut op: impl FnMut(&mut Client) -> Result<R, postgres::Error>,
    ) -> Result<R, DistError> {
        self.run_inner(|client, _| op(client))
    }

    /// [`run`](Conn::run) with `sqls` prepared on this connection once (again after a
    /// reconnect) and given to `op` in order.
    pub(super) fn run_prepared<R, const N: usize>(
        &mut self,
        sqls: [&'static str; N],
        mut op: impl FnMut(&mut Client, &[Statement; N]) -> Result<R, postgres::Error>,
    ) -> Result<R, DistError> {
        self.run_inner(|client, prepared| {
            let mut stmts = Vec::with_capacity(N);
            for sql in sqls {
                let stmt = match prepared.get(sql) {
                    Some(s) => s.clone(),
                    None => {
                        let s = client.prepare(sql)?;
                        prepared.insert(sql, s.clone());
                        s
                    }
                };
                stmts.push(stmt);
            }
            let stmts: [Statement; N] = stmts.try_into().expect("one statement per sql");
            op(client, &stmts)
        })
    }

    fn run_inner<R>(
        &mut self,
        mut op: impl FnMut(
            &mut Client,
            &mut HashMap<&'static str, Statement>,
        ) -> Result<R, postgres::Error>,
    ) -> Result<R, DistError> {
        let mut lost_since: Option<Instant> = None;
        let mut pause = FIRST_PAUSE;
        loop {
            let err = match self.client.as_mut() {
                Some(client) => match op(client, &mut self.prepared) {
                    Ok(r) => return Ok(r),
                    Err(e) if is_transient(&e, client.is_closed()) => e.to_string(),
                    Err(e) => return Err(DistError::from_db(e)),
                },
                None => match self.fresh() {
                    Ok(client) => {
                        self.client = Some(client);
                        self.prepared.clear();
                        continue;
                    }
                    Err(e) => with_causes(&e),
                },
            };
            self.client = None;
            let since = *lost_since.get_or_insert_with(Instant::now);
            if since.elapsed() >= self.target.reconnect_for {
                return Err(DistError::Lost {
                    message: err,
                    after: since.elapsed(),
                });
            }
            tracing::debug!("threadkit dist: connection lost ({err}); reconnecting");
            std::thread::sleep(pause);
            pause = (pause * 2).min(MAX_PAUSE);
        }
    }

    /// Waits up to `max` for a notification about `batch` (any pending ones are taken first);
    /// whether one came. A lost connection counts as none: the caller polls anyway.
    pub(super) fn wait_notification(&mut self, batch: &str, max: Duration) -> bool {
        let Some(client) = self.client.as_mut() else {
            return false;
        };
        let deadline = Instant::now() + max;
        let mut notes = client.notifications();
        // Those that came meanwhile first, all of them (they would pile up in the client).
        let mut came = false;
        let lost = loop {
            match notes.iter().next() {
                Ok(Some(n)) => came |= n.payload() == batch,
                Ok(None) => break false,
                Err(_) => break true,
            }
        };
        if came || lost {
            drop(notes);
            if lost {
                self.client = None;
            }
            return came;
        }
        let lost = loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match notes.timeout_iter(left).next() {
                Ok(Some(n)) if n.payload() == batch => return true,
                Ok(Some(_)) if !left.is_zero() => continue,
                Ok(_) => return false,
                Err(_) => break true,
            }
        };
        drop(notes);
        if lost {
            self.client = None;
        }
        false
    }
}

/// `e` and its causes, `: `-separated (the client's "error performing TLS handshake" says
/// why only in its source).
fn with_causes(e: &postgres::Error) -> String {
    let mut message = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = c.source();
    }
    message
}

/// Whether `e` means the connection is gone or the server is going away (retry on a new
/// connection), or a conflict worth running again, as opposed to an error in what was asked.
fn is_transient(e: &postgres::Error, closed: bool) -> bool {
    if closed || e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        return c.starts_with("08") // connection exception
            || c.starts_with("57P") // admin shutdown, crash shutdown, cannot connect now
            || c == "40001" // serialization failure
            || c == "40P01" // deadlock detected
            || c == "53300"; // too many connections
    }
    // No SQLSTATE: an I/O error, or a conversion error of ours (not worth retrying).
    std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_params_the_client_does_not_know_are_taken_out_and_the_rest_kept_verbatim() {
        let (url, root) = take_tls_params(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Ftmp%2Fca.crt&application_name=x",
        );
        assert_eq!(url, "postgres://u@h/db?sslmode=require&application_name=x");
        assert_eq!(root.as_deref(), Some("/tmp/ca.crt".as_ref()));
        let (url, root) = take_tls_params("postgres://u@h/db?sslrootcert=/ca.pem");
        assert_eq!(
            (url.as_str(), root.as_deref()),
            ("postgres://u@h/db", Some("/ca.pem".as_ref()))
        );
        // key=value: quoted values keep their spaces and escapes.
        let (url, root) = take_tls_params(
            "host='h' password='a  b\\' c' sslrootcert='/x y.pem'  sslmode=verify-ca",
        );
        assert_eq!(url, "host='h' password='a  b\\' c' sslmode=require");
        assert_eq!(root.as_deref(), Some("/x y.pem".as_ref()));
        // A path that is not UTF-8 arrives byte for byte.
        let (_, root) = take_tls_params("postgres://u@h/db?sslrootcert=%2Ftmp%2F%FF.pem");
        assert_eq!(
            std::os::unix::ffi::OsStrExt::as_bytes(root.unwrap().as_os_str()),
            b"/tmp/\xff.pem"
        );
        let plain = "host='h'   password='a  b'";
        assert_eq!(take_tls_params(plain), (plain.to_owned(), None));
    }
}
