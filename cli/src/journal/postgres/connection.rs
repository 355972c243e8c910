//! Where a PostgreSQL journal is, and connections to it that survive a database restart.
//!
//! TLS (rustls, the platform's roots) is used for every host but the loopback: `sslmode`
//! `require`, `verify-ca` and `verify-full` all verify the server's certificate and name
//! (rustls never connects unverified); no `sslmode` or `prefer` means `require` for a remote
//! host (never a silent fall back to plain text); `disable` to a remote host is refused unless
//! plain text is allowed explicitly. The loopback and Unix sockets may go without TLS. A DSN's
//! password is never shown: [`Location`] displays user, hosts, ports and database only.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio_postgres::{config::Host, config::SslMode, Client, Config};

use super::server::Server;
use crate::journal::JournalError;

/// Whether `text` names a PostgreSQL journal rather than a SQLite file: a URL
/// (`postgres://...`) or libpq's key=value form (`host=db user=feeder dbname=feeds`). A DSN is
/// never taken for a file name.
pub fn is_dsn(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://") || is_key_value(text)
}

/// libpq's connection parameters: a key=value DSN starts with one of them.
const LIBPQ_KEYS: [&str; 20] = [
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "connect_timeout",
    "application_name",
    "options",
    "target_session_attrs",
    "keepalives",
    "keepalives_idle",
    "channel_binding",
    "load_balance_hosts",
    "service",
];

/// Whether `text` is libpq's key=value form (its first word is `KEY=...`, KEY a parameter).
fn is_key_value(text: &str) -> bool {
    text.split_whitespace()
        .next()
        .and_then(|word| word.split_once('='))
        .is_some_and(|(key, _)| LIBPQ_KEYS.contains(&key))
}

/// How a connection is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// TLS, the certificate and name verified.
    Tls,
    /// TLS when the server offers it (loopback only), else plain text.
    TlsIfOffered,
    /// Plain text (loopback, or explicitly allowed).
    Plain,
}

/// A PostgreSQL journal's DSN, parsed and checked: how to connect, and how to show it.
pub struct Location {
    config: Config,
    security: Security,
    shown: String,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Location")
            .field("journal", &self.shown)
            .field("security", &self.security)
            .finish()
    }
}

fn is_loopback(host: &Host) -> bool {
    match host {
        Host::Unix(_) => true,
        Host::Tcp(name) => {
            name == "localhost"
                || name
                    .trim_matches(|c| c == '[' || c == ']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
    }
}

impl Location {
    /// Parses `dsn` (`postgres://user:password@host:port/db?sslmode=...`, or libpq's
    /// `key=value` form). `allow_plaintext`: a remote host may be reached without TLS when the
    /// DSN says `sslmode=disable`. Errors never repeat the DSN (it may hold a password).
    pub fn parse(dsn: &str, allow_plaintext: bool) -> Result<Location, JournalError> {
        // tokio-postgres knows disable/prefer/require: the verify modes are require plus the
        // verification rustls always does.
        let mode = sslmode(dsn);
        let for_parser = match mode.as_deref() {
            Some("verify-full") | Some("verify-ca") => dsn
                .replace("sslmode=verify-full", "sslmode=require")
                .replace("sslmode=verify-ca", "sslmode=require"),
            _ => dsn.to_string(),
        };
        let mut config: Config = for_parser.parse().map_err(|e: tokio_postgres::Error| {
            JournalError::Storage(format!(
                "the PostgreSQL journal's DSN cannot be read ({}); expected \
                 postgres://user@host:port/database",
                without_secrets(&e.to_string())
            ))
        })?;
        let hosts = config.get_hosts();
        if hosts.is_empty() {
            return Err(JournalError::Storage(
                "the PostgreSQL journal's DSN names no host".into(),
            ));
        }
        // The addresses actually dialled: `hostaddr` where given (libpq dials it and uses `host`
        // only for the certificate's name), else the hosts.
        let local = match config.get_hostaddrs() {
            [] => hosts.iter().all(is_loopback),
            addresses => addresses.iter().all(|ip| ip.is_loopback()),
        };
        let security =
            match (config.get_ssl_mode(), mode.is_some(), local) {
                (SslMode::Disable, _, true) => Security::Plain,
                (SslMode::Disable, _, false) if allow_plaintext => Security::Plain,
                (SslMode::Disable, _, false) => return Err(JournalError::Storage(
                    "the PostgreSQL journal's DSN asks for sslmode=disable to a host that is not \
                     this machine: its records (and your password) would cross the network in \
                     plain text. Use sslmode=require or verify-full, or pass \
                     --journal-plaintext (PREVENTOR_JOURNAL_PLAINTEXT=1) if the network is \
                     trusted"
                        .into(),
                )),
                (SslMode::Prefer, false, true) | (SslMode::Prefer, true, true) => {
                    Security::TlsIfOffered
                }
                _ => Security::Tls,
            };
        config.ssl_mode(match security {
            Security::Tls => SslMode::Require,
            Security::TlsIfOffered => SslMode::Prefer,
            Security::Plain => SslMode::Disable,
        });
        config.connect_timeout(CONNECT_TIMEOUT);
        config.application_name("preventor");
        bound(&mut config);
        let shown = shown(&config);
        Ok(Location {
            config,
            security,
            shown,
        })
    }

    /// How connections are secured.
    pub fn security(&self) -> Security {
        self.security
    }

    /// A new connection (its driver runs on a task of its own).
    pub async fn connect(&self) -> Result<Client, Unreachable> {
        self.open().await.map(|(client, _)| client)
    }

    /// A new connection, and the handle that cuts it (its driver's task). A server that
    /// accepts and then says nothing is given [`CONNECT_TIMEOUT`] per host named, as one that
    /// does not accept (the driver's own timeout covers only the latter).
    async fn open(&self) -> Result<(Client, tokio::task::AbortHandle), Unreachable> {
        self.open_with(None).await
    }

    /// A new connection whose notifications (`LISTEN`) go to `notices`, and the handle that
    /// cuts it; `notices` closes when the connection ends.
    pub async fn listening(
        &self,
        notices: tokio::sync::mpsc::UnboundedSender<()>,
    ) -> Result<(Client, tokio::task::AbortHandle), Unreachable> {
        self.open_with(Some(notices)).await
    }

    async fn open_with(
        &self,
        notices: Option<tokio::sync::mpsc::UnboundedSender<()>>,
    ) -> Result<(Client, tokio::task::AbortHandle), Unreachable> {
        let hosts = self.config.get_hosts().len().max(1) as u32;
        tokio::time::timeout(
            CONNECT_TIMEOUT * hosts + Duration::from_secs(1),
            self.dial(notices),
        )
        .await
        .map_err(|_| Unreachable::Silent)?
        .map_err(Unreachable::Driver)
    }

    async fn dial(
        &self,
        notices: Option<tokio::sync::mpsc::UnboundedSender<()>>,
    ) -> Result<(Client, tokio::task::AbortHandle), tokio_postgres::Error> {
        let tls = {
            use rustls_platform_verifier::BuilderVerifierExt;
            let config = rustls::ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::aws_lc_rs::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_platform_verifier())
            .map(|b| b.with_no_client_auth());
            match config {
                Ok(c) => tokio_postgres_rustls::MakeRustlsConnect::new(c),
                Err(_) => {
                    // No platform roots: only plain-text connections can be made.
                    return match self.security {
                        Security::Plain | Security::TlsIfOffered => {
                            let mut config = self.config.clone();
                            config.ssl_mode(SslMode::Disable);
                            let (client, connection) =
                                config.connect(tokio_postgres::NoTls).await?;
                            Ok((client, drive(connection, notices)))
                        }
                        Security::Tls => self
                            .config
                            .connect(tokio_postgres::NoTls)
                            .await
                            .map(|(client, connection)| (client, drive(connection, notices))),
                    };
                }
            }
        };
        let (client, connection) = self.config.connect(tls).await?;
        Ok((client, drive(connection, notices)))
    }
}

/// Runs a connection's driver on a task of its own; with `notices`, each notification the
/// server sends is passed on there.
fn drive<S, T>(
    mut connection: tokio_postgres::Connection<S, T>,
    notices: Option<tokio::sync::mpsc::UnboundedSender<()>>,
) -> tokio::task::AbortHandle
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let Some(notices) = notices else {
        return tokio::spawn(connection).abort_handle();
    };
    tokio::spawn(async move {
        use futures::StreamExt as _;
        let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if matches!(message, tokio_postgres::AsyncMessage::Notification(_))
                && notices.send(()).is_err()
            {
                break;
            }
        }
    })
    .abort_handle()
}

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the server lets a statement (or a transaction left idle) run.
const STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a statement run through [`Db::retry`] may go unanswered before its connection is
/// taken for dead (cut, and the work tried again on a new one): the server's bound and a
/// margin. A connection whose peer went away without a word (a failover, a cut network)
/// answers nothing, ever.
const ANSWER_WITHIN: Duration = Duration::from_secs(35);

/// Bounds every statement and detects a dead peer: the server's `statement_timeout` and
/// `idle_in_transaction_session_timeout` (before any `options` of the DSN, which win), TCP
/// keepalives (an idle connection to a peer gone is found within seconds) and a TCP user
/// timeout (data unacknowledged that long breaks the connection).
fn bound(config: &mut Config) {
    let ms = STATEMENT_TIMEOUT.as_millis();
    let ours = format!("-c statement_timeout={ms} -c idle_in_transaction_session_timeout={ms}");
    let options = match config.get_options() {
        Some(theirs) if !theirs.trim().is_empty() => format!("{ours} {theirs}"),
        _ => ours,
    };
    config.options(options);
    config.keepalives(true);
    config.keepalives_idle(Duration::from_secs(5));
    config.keepalives_interval(Duration::from_secs(2));
    config.keepalives_retries(3);
    config.tcp_user_timeout(Duration::from_secs(15));
}

/// The `sslmode` a DSN asks for, if any.
fn sslmode(dsn: &str) -> Option<String> {
    let at = dsn.find("sslmode=")? + "sslmode=".len();
    let value: String = dsn[at..]
        .chars()
        .take_while(|c| !matches!(c, '&' | ' ' | '\''))
        .collect();
    Some(value)
}

/// `postgres://user@host:port/db`: never the password.
fn shown(config: &Config) -> String {
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let port = config
                .get_ports()
                .get(i)
                .or(config.get_ports().first())
                .copied()
                .unwrap_or(5432);
            match h {
                Host::Tcp(name) => format!("{name}:{port}"),
                Host::Unix(path) => format!("{}:{port}", path.display()),
            }
        })
        .collect();
    format!(
        "postgres://{}{}/{}",
        config
            .get_user()
            .map(|u| format!("{u}@"))
            .unwrap_or_default(),
        hosts.join(","),
        config.get_dbname().unwrap_or("")
    )
}

/// Error text of the driver with anything after `password=` removed (belt and braces: the
/// driver's messages do not quote the DSN).
pub fn without_secrets(text: &str) -> String {
    match text.find("password") {
        Some(at) => format!("{}[...]", &text[..at]),
        None => text.to_string(),
    }
}

/// Whether an error is the connection's (the database went away, restarts, or cannot be
/// reached) rather than the statement's: such work is tried again on a new connection.
pub fn is_connection_error(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        // Class 08: connection exception; 57: operator intervention (shutdown, restart).
        Some(code) => {
            let c = code.code();
            c.starts_with("08") || c.starts_with("57")
        }
        None => true,
    }
}

/// Whether the database rolled the statement back for a reason that passes (a deadlock it
/// broke, a serialization failure): such work is tried again at once.
pub fn is_transient(e: &tokio_postgres::Error) -> bool {
    use tokio_postgres::error::SqlState;
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// One connection, made again when it breaks (a restart of the database, a network cut).
pub struct Db {
    location: Arc<Location>,
    client: tokio::sync::Mutex<Option<(Arc<Client>, tokio::task::AbortHandle)>>,
    server: Arc<Server>,
}

impl Db {
    /// A connection to `location`, made on first use.
    pub fn new(location: Arc<Location>) -> Db {
        Db {
            location,
            client: tokio::sync::Mutex::new(None),
            server: Arc::default(),
        }
    }

    /// Another connection to the same journal, made on first use (for work that must not
    /// queue behind this one's statements); it watches the same [`Server`].
    pub fn another(&self) -> Db {
        Db {
            location: self.location.clone(),
            client: tokio::sync::Mutex::new(None),
            server: self.server.clone(),
        }
    }

    /// The server this journal's connections reach.
    pub fn server(&self) -> &Server {
        &self.server
    }

    /// The journal's location.
    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The current connection, or a new one.
    pub async fn client(&self) -> Result<Arc<Client>, Unreachable> {
        let mut slot = self.client.lock().await;
        if let Some((client, _)) = slot.as_ref().filter(|(c, _)| !c.is_closed()) {
            return Ok(client.clone());
        }
        *slot = None;
        let (client, driver) = self.location.open().await?;
        self.server.learn(&client).await;
        let client = Arc::new(client);
        *slot = Some((client.clone(), driver));
        Ok(client)
    }

    /// Cuts the current connection: every statement waiting on it fails at once (a
    /// connection error, tried again on a new one).
    async fn cut(&self) {
        if let Some((_, driver)) = self.client.lock().await.take() {
            driver.abort();
        }
    }

    /// Runs `work` on a connection, trying again (on a new connection, with a growing wait)
    /// while the connection is what fails, until `until`, and at once after a deadlock or a
    /// serialization failure (rolled back). A statement's own error is returned at once.
    /// `work` must be safe to run twice (a commit whose answer was lost).
    pub async fn retry<T, F, Fut>(&self, until: Instant, mut work: F) -> Result<T, JournalError>
    where
        F: FnMut(Arc<Client>) -> Fut,
        Fut: std::future::Future<Output = Result<T, tokio_postgres::Error>>,
    {
        let mut wait = Duration::from_millis(50);
        loop {
            let client = match self.client().await {
                Ok(client) => client,
                Err(e) if e.retryable() && Instant::now() + wait < until => {
                    tracing_like_note(&e);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                    continue;
                }
                Err(e) => return Err(storage(&e)),
            };
            let result = match tokio::time::timeout(ANSWER_WITHIN, work(client)).await {
                Ok(result) => result,
                // No answer: the peer is gone without a word. Cut, and try again.
                Err(_) => {
                    eprintln!(
                        "journal: PostgreSQL did not answer within {} s; connecting again",
                        ANSWER_WITHIN.as_secs()
                    );
                    self.cut().await;
                    if Instant::now() < until {
                        continue;
                    }
                    return Err(JournalError::Storage(format!(
                        "PostgreSQL at {} did not answer within {} s",
                        self.location,
                        ANSWER_WITHIN.as_secs()
                    )));
                }
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) if is_transient(&e) && Instant::now() < until => {}
                Err(e) if is_connection_error(&e) && Instant::now() + wait < until => {
                    tracing_like_note(&e);
                    self.cut().await;
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(1));
                }
                Err(e) => return Err(storage(&e)),
            }
        }
    }
}

/// A connection that could not be made.
#[derive(Debug)]
pub enum Unreachable {
    /// The driver's error (refused, authentication, TLS, ...).
    Driver(tokio_postgres::Error),
    /// The server accepted the connection and said nothing.
    Silent,
}

impl Unreachable {
    /// Whether trying again may succeed (the server may come back); not an authentication
    /// failure or a missing database.
    pub fn retryable(&self) -> bool {
        match self {
            Unreachable::Driver(e) => is_connection_error(e),
            Unreachable::Silent => true,
        }
    }
}

/// An error said in words an operator acts on, without secrets.
pub trait Why {
    /// Why it failed.
    fn why(&self) -> String;
}

impl Why for tokio_postgres::Error {
    fn why(&self) -> String {
        why(self)
    }
}

impl Why for Unreachable {
    fn why(&self) -> String {
        match self {
            Unreachable::Driver(e) => why(e),
            Unreachable::Silent => format!(
                "timed out connecting: the server accepted and said nothing for {} s (is it \
                 PostgreSQL, and not overloaded?)",
                CONNECT_TIMEOUT.as_secs()
            ),
        }
    }
}

/// A driver error as a journal error: why, in words (no secret in it).
pub fn storage(e: &impl Why) -> JournalError {
    JournalError::Storage(format!("PostgreSQL: {}", e.why()))
}

/// Why a connection or a statement failed, in words an operator acts on: refused, timed out,
/// host not found, authentication failed, certificate not trusted, database missing; else
/// the server's code and message. Never the password.
pub fn why(e: &tokio_postgres::Error) -> String {
    use tokio_postgres::error::SqlState;
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let reason = if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            "authentication failed (check the DSN's user and password, and pg_hba.conf): "
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            "the database does not exist (create it, or fix the DSN's database name): "
        } else {
            ""
        };
        return without_secrets(&format!("{reason}{}: {}", code.code(), db.message()));
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(cause) = source {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind::*;
            let said = match io.kind() {
                ConnectionRefused => {
                    Some("connection refused (is PostgreSQL running, on that host and port?)")
                }
                TimedOut => Some("timed out connecting (a firewall, or a host that is down?)"),
                ConnectionReset | ConnectionAborted | BrokenPipe | UnexpectedEof => {
                    Some("the connection was cut")
                }
                _ => None,
            };
            if let Some(said) = said {
                return said.into();
            }
            if let Some(tls) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return certificate(tls);
            }
            if io.to_string().contains("failed to lookup address") {
                return "host not found (check the DSN's host name)".into();
            }
        }
        if let Some(tls) = cause.downcast_ref::<rustls::Error>() {
            return certificate(tls);
        }
        source = cause.source();
    }
    let text = e.to_string();
    if text.contains("timeout") || text.contains("timed out") {
        return "timed out connecting (a firewall, or a host that is down?)".into();
    }
    without_secrets(&match std::error::Error::source(e) {
        Some(cause) => format!("{text}: {cause}"),
        None => text,
    })
}

/// A TLS failure, in words.
fn certificate(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(why) => format!(
            "the server's certificate is not trusted ({why:?}): give the platform's trust              store its CA, or use a name the certificate holds"
        ),
        other => format!("TLS failed: {other}"),
    }
}

/// Connection trouble is said once per episode on stderr, without secrets.
fn tracing_like_note(e: &impl Why) {
    use std::sync::atomic::{AtomicU64, Ordering};
    static LAST: AtomicU64 = AtomicU64::new(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    if LAST.swap(now, Ordering::Relaxed) + 5 <= now {
        eprintln!(
            "journal: PostgreSQL unreachable ({}); waiting for it",
            e.why()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_address_dialled_decides_whether_plain_text_is_local() {
        // `host` says localhost, but `hostaddr` dials another machine: refused.
        let remote = Location::parse(
            "host=localhost hostaddr=10.0.0.5 user=u password=pw dbname=feeds sslmode=disable",
            false,
        );
        let error = remote.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(error.contains("plain text"), "{error}");
        assert!(!error.contains("pw"), "{error}");
        // A remote name dialled at the loopback: local.
        let local = Location::parse(
            "host=db.example hostaddr=127.0.0.1 user=u dbname=feeds sslmode=disable",
            false,
        )
        .unwrap();
        assert_eq!(local.security(), Security::Plain);
    }

    #[test]
    fn every_connection_bounds_its_statements_and_watches_its_peer() {
        let at = Location::parse(
            "postgres://u@db.example/feeds?options=-c%20statement_timeout%3D5s",
            false,
        )
        .unwrap();
        let options = at.config.get_options().unwrap_or_default();
        // Ours first, the DSN's after (the last one wins: an operator's choice stands).
        assert!(
            options.starts_with(
                "-c statement_timeout=30000 -c idle_in_transaction_session_timeout=30000"
            ),
            "{options}"
        );
        assert!(options.ends_with("-c statement_timeout=5s"), "{options}");
        assert!(at.config.get_keepalives());
        assert_eq!(at.config.get_keepalives_idle(), Duration::from_secs(5));
        assert_eq!(
            at.config.get_tcp_user_timeout(),
            Some(&Duration::from_secs(15))
        );
        assert_eq!(at.config.get_connect_timeout(), Some(&CONNECT_TIMEOUT));
        // No sslmode to a remote host: verified TLS.
        assert_eq!(at.security(), Security::Tls);
    }

    #[test]
    fn urls_and_libpq_key_value_dsns_are_postgres_and_paths_are_not() {
        for dsn in [
            "postgres://u@h/db",
            "postgresql://u@h/db",
            "host=db user=feeder password=x dbname=feeds",
            "dbname=feeds",
        ] {
            assert!(is_dsn(dsn), "{dsn}");
        }
        for path in [
            "journal.sqlite",
            "./data/host=1.sqlite",
            "/var/lib/feed.db",
            "a b=c",
        ] {
            assert!(!is_dsn(path), "{path}");
        }
    }

    #[test]
    fn a_dsn_is_shown_without_its_password_and_remote_plain_text_is_refused() {
        let at =
            Location::parse("postgres://feeder:s3cr3t-pw@127.0.0.1:5433/feeds", false).unwrap();
        assert_eq!(at.to_string(), "postgres://feeder@127.0.0.1:5433/feeds");
        assert!(!format!("{at:?}").contains("s3cr3t"));
        assert_eq!(at.security(), Security::TlsIfOffered);

        let remote = "postgres://feeder:s3cr3t-pw@db.bank.example:5432/feeds";
        assert_eq!(
            Location::parse(remote, false).unwrap().security(),
            Security::Tls
        );
        assert_eq!(
            Location::parse(&format!("{remote}?sslmode=verify-full"), false)
                .unwrap()
                .security(),
            Security::Tls
        );
        let refused = Location::parse(&format!("{remote}?sslmode=disable"), false)
            .err()
            .unwrap()
            .to_string();
        assert!(refused.contains("plain text"), "{refused}");
        assert!(!refused.contains("s3cr3t"), "{refused}");
        assert_eq!(
            Location::parse(&format!("{remote}?sslmode=disable"), true)
                .unwrap()
                .security(),
            Security::Plain
        );
        let unreadable = Location::parse("postgres://feeder:s3cr3t-pw@host:notaport/x", false)
            .err()
            .unwrap()
            .to_string();
        assert!(!unreadable.contains("s3cr3t"), "{unreadable}");
    }
}
