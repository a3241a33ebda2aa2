//! One connection to the database that comes back: a lost connection (the server restarted,
//! the network went away) is reopened with backoff and the operation run again, for as long
//! as the reconnect budget allows. Every operation given to [`Conn::run`] is one statement or
//! one transaction, so running it again after a failure is safe (see the callers).

use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

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
}

impl Target {
    /// Parses `url` (`postgres://user@host:port/db` or `key=value` pairs).
    pub(super) fn parse(url: &str) -> Result<Target, DistError> {
        let mut config: postgres::Config = url.parse().map_err(|e| DistError::Connect {
            message: format!("invalid database URL: {e}"),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("threadkit");
        Ok(Target {
            config,
            reconnect_for: Duration::from_secs(300),
            idle_in_transaction: Duration::from_secs(5),
        })
    }
}

/// A connection, reopened when lost. With `listen`, it listens on [`CHANNEL`] (again after
/// each reconnect).
pub(super) struct Conn {
    target: Target,
    client: Option<Client>,
    listen: bool,
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
        };
        let client = conn.fresh().map_err(|e| DistError::Connect {
            message: e.to_string(),
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
        let mut client = self.target.config.connect(NoTls)?;
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
        let mut lost_since: Option<Instant> = None;
        let mut pause = FIRST_PAUSE;
        loop {
            let err = match self.client.as_mut() {
                Some(client) => match op(client) {
                    Ok(r) => return Ok(r),
                    Err(e) if is_transient(&e, client.is_closed()) => e.to_string(),
                    Err(e) => return Err(DistError::from_db(e)),
                },
                None => match self.fresh() {
                    Ok(client) => {
                        self.client = Some(client);
                        continue;
                    }
                    Err(e) => e.to_string(),
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
