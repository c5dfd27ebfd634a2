//! Connection configuration, compatible with libpq.
//!
//! A [`Config`] is built from a libpq connection string (`key=value` pairs or
//! a `postgres://` URI, see [`Config::parse`]), then completed from the
//! process environment with [`Config::apply_env`], which takes a lookup
//! function so that this crate never reads the environment itself. Password
//! files are parsed by [`lookup_password`]; the caller reads the file and
//! checks its permissions with [`pgpass_permissions_ok`].
//!
//! Every field remembers whether it was set. Unset fields report the libpq
//! default from their `get_*` getter, and [`Config::apply_env`] fills only
//! unset fields, so an explicit connection string always wins over the
//! environment.
//!
//! An empty value (`user=` or `PGUSER=""`) leaves a field unset. (libpq
//! instead stores the empty string, which then blocks the environment
//! variable; treating empty as unset is simpler and only differs in that
//! corner.)
//!
//! Some defaults belong to the adapter that does the I/O, not to this crate:
//! an empty host list means "connect to the local default", which adapters
//! implement as the unix socket directory (for example `/var/run/postgresql`
//! or `/tmp`) where they have one and `localhost` otherwise; an unset user
//! means the operating-system user name; an unset `passfile` means
//! `~/.pgpass` (`%APPDATA%\postgresql\pgpass.conf` on Windows).
#![warn(missing_docs)]

mod conninfo;
mod env;
mod error;
mod pgpass;
pub mod plan;

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;
use core::net::IpAddr;
use core::str::FromStr;
use core::time::Duration;

pub use error::ConfigError;
pub use pgpass::{lookup_password, pgpass_permissions_ok};

/// The port used when none is given, as in libpq.
pub const DEFAULT_PORT: u16 = 5432;

/// Returned by [`Config::get_ports`] when no port was set.
const DEFAULT_PORTS: &[u16] = &[DEFAULT_PORT];

/// One entry of the `host` list.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Host {
    /// A host name or a numeric IP address, reached over TCP.
    Tcp(String),
    /// The directory holding the server's unix-domain socket
    /// (`.s.PGSQL.<port>` inside it). Any host that starts with `/`.
    Unix(String),
}

impl Host {
    /// Classifies a host as libpq does: a leading `/` means a socket directory.
    fn classify(s: String) -> Host {
        if s.starts_with('/') {
            Host::Unix(s)
        } else {
            Host::Tcp(s)
        }
    }

    /// The host name, address or socket directory, as written.
    pub fn as_str(&self) -> &str {
        match self {
            Host::Tcp(s) | Host::Unix(s) => s,
        }
    }
}

/// `sslmode`: whether and how strictly to use TLS. Ordered from weakest to
/// strongest.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum SslMode {
    /// Never use TLS.
    Disable,
    /// Try without TLS first, then with TLS.
    Allow,
    /// Try TLS first, then without (the libpq default).
    #[default]
    Prefer,
    /// Require TLS, without verifying the server certificate (unless a root
    /// certificate is configured, as in libpq).
    Require,
    /// Require TLS and a certificate signed by a trusted CA.
    VerifyCa,
    /// Like `VerifyCa`, and the certificate must match the host name.
    VerifyFull,
}

/// `sslnegotiation`: how TLS is started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SslNegotiation {
    /// Send an SSLRequest first, then start TLS (the default).
    #[default]
    Postgres,
    /// Start TLS immediately, with ALPN `postgresql` (PostgreSQL 17+).
    Direct,
}

/// `gssencmode`: whether to use GSSAPI encryption.
///
/// The default is `Disable` (libpq's is `prefer` when built with GSSAPI)
/// because this crate has no GSSAPI support.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GssEncMode {
    /// Never use GSSAPI encryption (the default here).
    #[default]
    Disable,
    /// Use it when available.
    Prefer,
    /// Require it.
    Require,
}

/// `channel_binding`: whether SCRAM channel binding is used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelBinding {
    /// Never use channel binding.
    Disable,
    /// Use it when the server and the TLS connection support it (the default).
    #[default]
    Prefer,
    /// Require it.
    Require,
}

/// `target_session_attrs`: which kind of server is acceptable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TargetSessionAttrs {
    /// Any server (the default).
    #[default]
    Any,
    /// A server that accepts writes.
    ReadWrite,
    /// A server that refuses writes.
    ReadOnly,
    /// A server not in hot standby.
    Primary,
    /// A server in hot standby.
    Standby,
    /// A standby if one is reachable, else any server.
    PreferStandby,
}

/// `load_balance_hosts`: the order in which hosts are tried.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum LoadBalanceHosts {
    /// In the order given (the default).
    #[default]
    Disable,
    /// In a random order (the adapter supplies the randomness).
    Random,
}

pub use crate::codec::ProtocolVersion;

/// An authentication method the server may ask for, as checked by
/// [`RequireAuth::allows`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthMethod {
    /// The server sent AuthenticationOk without asking for anything.
    None,
    /// Cleartext password.
    Password,
    /// MD5 password hash.
    Md5,
    /// GSSAPI (Kerberos).
    Gss,
    /// SSPI (Windows).
    Sspi,
    /// SASL with SCRAM-SHA-256.
    ScramSha256,
}

impl AuthMethod {
    /// This method's bit in [`RequireAuth`]'s set.
    fn bit(self) -> u8 {
        match self {
            AuthMethod::None => 1,
            AuthMethod::Password => 1 << 1,
            AuthMethod::Md5 => 1 << 2,
            AuthMethod::Gss => 1 << 3,
            AuthMethod::Sspi => 1 << 4,
            AuthMethod::ScramSha256 => 1 << 5,
        }
    }
}

/// `require_auth`: which authentication methods the client accepts.
///
/// Parsed (with [`FromStr`]) from a comma-separated list of `password`,
/// `md5`, `gss`, `sspi`, `scram-sha-256` and `none`, where either every
/// entry is negated with `!` (the server must not use these) or none is (the
/// server must use one of these). `none` stands for "no authentication at
/// all", so `!none` requires the server to ask for something. The default
/// allows everything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RequireAuth {
    /// True: `methods` are refused. False: only `methods` are allowed.
    negated: bool,
    /// A set of [`AuthMethod::bit`]s.
    methods: u8,
}

impl Default for RequireAuth {
    /// Allows every method (an empty refusal list).
    fn default() -> Self {
        RequireAuth {
            negated: true,
            methods: 0,
        }
    }
}

impl RequireAuth {
    /// Whether the server may use `method`.
    pub fn allows(&self, method: AuthMethod) -> bool {
        let listed = self.methods & method.bit() != 0;
        listed != self.negated
    }
}

macro_rules! keyword_enum_display {
    ($($ty:ty { $($variant:ident => $name:literal),* $(,)? })*) => {$(
        impl $ty {
            /// The libpq keyword for this value.
            fn keyword(self) -> &'static str {
                match self { $(<$ty>::$variant => $name),* }
            }

            /// Parses the libpq keyword (case-sensitive, as in libpq).
            fn from_keyword(s: &str) -> Option<Self> {
                match s { $($name => Some(<$ty>::$variant),)* _ => None }
            }
        }

        impl fmt::Display for $ty {
            /// Writes the libpq keyword, e.g. `verify-full`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.keyword())
            }
        }
    )*};
}

keyword_enum_display! {
    SslMode {
        Disable => "disable",
        Allow => "allow",
        Prefer => "prefer",
        Require => "require",
        VerifyCa => "verify-ca",
        VerifyFull => "verify-full",
    }
    SslNegotiation { Postgres => "postgres", Direct => "direct" }
    GssEncMode { Disable => "disable", Prefer => "prefer", Require => "require" }
    ChannelBinding { Disable => "disable", Prefer => "prefer", Require => "require" }
    TargetSessionAttrs {
        Any => "any",
        ReadWrite => "read-write",
        ReadOnly => "read-only",
        Primary => "primary",
        Standby => "standby",
        PreferStandby => "prefer-standby",
    }
    LoadBalanceHosts { Disable => "disable", Random => "random" }
}

/// A connection configuration: the libpq connection options this crate
/// supports.
///
/// Build one with [`Config::parse`] (or `str::parse`) and the builder-style
/// setters, complete it with [`Config::apply_env`], then read it with the
/// `get_*` getters, which return the libpq default for unset fields.
/// `Debug` output never shows `password` or `sslpassword`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Config {
    // Every field is "unset" when None (or empty, for the lists), so that
    // `apply_env` can tell explicit settings from defaults.
    hosts: Vec<Host>,
    hostaddrs: Vec<IpAddr>,
    ports: Vec<u16>,
    user: Option<String>,
    password: Option<String>,
    dbname: Option<String>,
    application_name: Option<String>,
    fallback_application_name: Option<String>,
    options: Option<String>,
    client_encoding: Option<String>,
    /// `Some(ZERO)` records an explicit "no timeout".
    connect_timeout: Option<Duration>,
    keepalives: Option<bool>,
    keepalives_idle: Option<Duration>,
    keepalives_interval: Option<Duration>,
    keepalives_count: Option<u32>,
    sslmode: Option<SslMode>,
    sslnegotiation: Option<SslNegotiation>,
    sslrootcert: Option<String>,
    sslcert: Option<String>,
    sslkey: Option<String>,
    sslsni: Option<bool>,
    sslpassword: Option<String>,
    gssencmode: Option<GssEncMode>,
    require_auth: Option<RequireAuth>,
    channel_binding: Option<ChannelBinding>,
    target_session_attrs: Option<TargetSessionAttrs>,
    min_protocol_version: Option<ProtocolVersion>,
    max_protocol_version: Option<ProtocolVersion>,
    passfile: Option<String>,
    load_balance_hosts: Option<LoadBalanceHosts>,
}

/// Debug-prints a secret as `Some("***")` or `None`.
struct Redacted<'a>(&'a Option<String>);

impl fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(_) => f.write_str("Some(\"***\")"),
            None => f.write_str("None"),
        }
    }
}

impl fmt::Debug for Config {
    // Written by hand so that secrets never reach logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("hosts", &self.hosts)
            .field("hostaddrs", &self.hostaddrs)
            .field("ports", &self.ports)
            .field("user", &self.user)
            .field("password", &Redacted(&self.password))
            .field("dbname", &self.dbname)
            .field("application_name", &self.application_name)
            .field("fallback_application_name", &self.fallback_application_name)
            .field("options", &self.options)
            .field("client_encoding", &self.client_encoding)
            .field("connect_timeout", &self.connect_timeout)
            .field("keepalives", &self.keepalives)
            .field("keepalives_idle", &self.keepalives_idle)
            .field("keepalives_interval", &self.keepalives_interval)
            .field("keepalives_count", &self.keepalives_count)
            .field("sslmode", &self.sslmode)
            .field("sslnegotiation", &self.sslnegotiation)
            .field("sslrootcert", &self.sslrootcert)
            .field("sslcert", &self.sslcert)
            .field("sslkey", &self.sslkey)
            .field("sslsni", &self.sslsni)
            .field("sslpassword", &Redacted(&self.sslpassword))
            .field("gssencmode", &self.gssencmode)
            .field("require_auth", &self.require_auth)
            .field("channel_binding", &self.channel_binding)
            .field("target_session_attrs", &self.target_session_attrs)
            .field("min_protocol_version", &self.min_protocol_version)
            .field("max_protocol_version", &self.max_protocol_version)
            .field("passfile", &self.passfile)
            .field("load_balance_hosts", &self.load_balance_hosts)
            .finish()
    }
}

impl FromStr for Config {
    type Err = ConfigError;

    /// Same as [`Config::parse`].
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Config::parse(s)
    }
}

impl Config {
    /// An empty configuration: every field unset.
    pub fn new() -> Config {
        Config::default()
    }

    /// Parses a libpq connection string: a URI if it starts with
    /// `postgresql://` or `postgres://`, else `key=value` pairs. The empty
    /// string is valid and sets nothing.
    ///
    /// Checks what can be checked without the environment (see
    /// [`Config::validate`] for the full check).
    pub fn parse(s: &str) -> Result<Config, ConfigError> {
        let config = conninfo::parse(s)?;
        config.check(false)?;
        Ok(config)
    }

    /// Checks the rules that tie fields together, as libpq does before
    /// connecting: host, hostaddr and port list lengths (one port applies to
    /// every host; no host means one default host), `sslrootcert=system` and
    /// `sslnegotiation=direct` against a weak `sslmode`, and
    /// `min_protocol_version` <= `max_protocol_version`.
    /// [`Config::apply_env`] calls this after merging.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check(true)
    }

    /// The cross-field checks. When `complete` is false, values that the
    /// environment could still supply are not assumed to be defaults.
    fn check(&self, complete: bool) -> Result<(), ConfigError> {
        if !self.hosts.is_empty()
            && !self.hostaddrs.is_empty()
            && self.hosts.len() != self.hostaddrs.len()
        {
            return Err(ConfigError::HostAddrCountMismatch {
                hosts: self.hosts.len(),
                hostaddrs: self.hostaddrs.len(),
            });
        }
        let targets = if !self.hosts.is_empty() {
            self.hosts.len()
        } else if !self.hostaddrs.is_empty() {
            self.hostaddrs.len()
        } else if complete {
            1
        } else {
            0
        };
        if targets > 0 && self.ports.len() > 1 && self.ports.len() != targets {
            return Err(ConfigError::HostPortCountMismatch {
                hosts: targets,
                ports: self.ports.len(),
            });
        }
        let sslmode = if complete {
            Some(self.get_sslmode())
        } else {
            self.sslmode
        };
        if let Some(mode) = sslmode {
            if self.sslrootcert.as_deref() == Some("system") && mode != SslMode::VerifyFull {
                return Err(ConfigError::WeakSslMode {
                    sslmode: mode,
                    conflict: "sslrootcert=system",
                    allowed: "\"verify-full\"",
                });
            }
            if self.sslnegotiation == Some(SslNegotiation::Direct) && mode < SslMode::Require {
                return Err(ConfigError::WeakSslMode {
                    sslmode: mode,
                    conflict: "sslnegotiation=direct",
                    allowed: "\"require\", \"verify-ca\", or \"verify-full\"",
                });
            }
        }
        let (min, max) = (
            self.get_min_protocol_version(),
            self.get_max_protocol_version(),
        );
        if min > max {
            return Err(ConfigError::ProtocolVersionRange { min, max });
        }
        Ok(())
    }

    /// The StartupMessage parameters, in order: `user`, `database` (if
    /// `dbname` is set), `application_name` (or else
    /// `fallback_application_name`), `client_encoding` and `options`, each
    /// only when set. An unset user is left out: the adapter must supply the
    /// operating-system user name, as libpq does. `client_encoding=auto` is
    /// passed through unchanged; adapters resolve it from their locale.
    pub fn startup_params(&self) -> Vec<(String, String)> {
        let app = self
            .application_name
            .as_ref()
            .or(self.fallback_application_name.as_ref());
        [
            ("user", self.user.as_ref()),
            ("database", self.dbname.as_ref()),
            ("application_name", app),
            ("client_encoding", self.client_encoding.as_ref()),
            ("options", self.options.as_ref()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (String::from(name), v.clone())))
        .collect()
    }
}

/// Builder-style setters. List setters (`host`, `hostaddr`, `port`) append.
impl Config {
    /// Appends a host (`host`).
    pub fn host(&mut self, host: Host) -> &mut Self {
        self.hosts.push(host);
        self
    }

    /// Appends a numeric address (`hostaddr`), used instead of resolving
    /// the host at the same position.
    pub fn hostaddr(&mut self, addr: IpAddr) -> &mut Self {
        self.hostaddrs.push(addr);
        self
    }

    /// Appends a port (`port`). A single port applies to every host.
    pub fn port(&mut self, port: u16) -> &mut Self {
        self.ports.push(port);
        self
    }

    /// Sets the user name (`user`).
    pub fn user(&mut self, user: impl Into<String>) -> &mut Self {
        self.user = Some(user.into());
        self
    }

    /// Sets the password (`password`).
    pub fn password(&mut self, password: impl Into<String>) -> &mut Self {
        self.password = Some(password.into());
        self
    }

    /// Sets the database name (`dbname`).
    pub fn dbname(&mut self, dbname: impl Into<String>) -> &mut Self {
        self.dbname = Some(dbname.into());
        self
    }

    /// Sets `application_name`.
    pub fn application_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.application_name = Some(name.into());
        self
    }

    /// Sets `fallback_application_name`, used when `application_name` is
    /// unset.
    pub fn fallback_application_name(&mut self, name: impl Into<String>) -> &mut Self {
        self.fallback_application_name = Some(name.into());
        self
    }

    /// Sets the startup `options` string, e.g. `-c search_path=app`.
    pub fn options(&mut self, options: impl Into<String>) -> &mut Self {
        self.options = Some(options.into());
        self
    }

    /// Sets `client_encoding`.
    pub fn client_encoding(&mut self, encoding: impl Into<String>) -> &mut Self {
        self.client_encoding = Some(encoding.into());
        self
    }

    /// Sets `connect_timeout`; zero means no timeout.
    pub fn connect_timeout(&mut self, timeout: Duration) -> &mut Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// Sets `keepalives` (TCP keepalives on or off).
    pub fn keepalives(&mut self, on: bool) -> &mut Self {
        self.keepalives = Some(on);
        self
    }

    /// Sets `keepalives_idle`; zero means the system default.
    pub fn keepalives_idle(&mut self, idle: Duration) -> &mut Self {
        self.keepalives_idle = Some(idle);
        self
    }

    /// Sets `keepalives_interval`; zero means the system default.
    pub fn keepalives_interval(&mut self, interval: Duration) -> &mut Self {
        self.keepalives_interval = Some(interval);
        self
    }

    /// Sets `keepalives_count`; zero means the system default.
    pub fn keepalives_count(&mut self, count: u32) -> &mut Self {
        self.keepalives_count = Some(count);
        self
    }

    /// Sets `sslmode`.
    pub fn sslmode(&mut self, mode: SslMode) -> &mut Self {
        self.sslmode = Some(mode);
        self
    }

    /// Sets `sslnegotiation`.
    pub fn sslnegotiation(&mut self, negotiation: SslNegotiation) -> &mut Self {
        self.sslnegotiation = Some(negotiation);
        self
    }

    /// Sets `sslrootcert`: a file name, or `system` for the system's
    /// trusted CAs (which requires `sslmode=verify-full`).
    pub fn sslrootcert(&mut self, path: impl Into<String>) -> &mut Self {
        self.sslrootcert = Some(path.into());
        self
    }

    /// Sets `sslcert`, the client certificate file.
    pub fn sslcert(&mut self, path: impl Into<String>) -> &mut Self {
        self.sslcert = Some(path.into());
        self
    }

    /// Sets `sslkey`, the client key file.
    pub fn sslkey(&mut self, path: impl Into<String>) -> &mut Self {
        self.sslkey = Some(path.into());
        self
    }

    /// Sets `sslsni` (send the host name in the TLS SNI extension).
    pub fn sslsni(&mut self, on: bool) -> &mut Self {
        self.sslsni = Some(on);
        self
    }

    /// Sets `sslpassword`, the passphrase of the client key.
    pub fn sslpassword(&mut self, password: impl Into<String>) -> &mut Self {
        self.sslpassword = Some(password.into());
        self
    }

    /// Sets `gssencmode`.
    pub fn gssencmode(&mut self, mode: GssEncMode) -> &mut Self {
        self.gssencmode = Some(mode);
        self
    }

    /// Sets `require_auth`.
    pub fn require_auth(&mut self, require: RequireAuth) -> &mut Self {
        self.require_auth = Some(require);
        self
    }

    /// Sets `channel_binding`.
    pub fn channel_binding(&mut self, binding: ChannelBinding) -> &mut Self {
        self.channel_binding = Some(binding);
        self
    }

    /// Sets `target_session_attrs`.
    pub fn target_session_attrs(&mut self, attrs: TargetSessionAttrs) -> &mut Self {
        self.target_session_attrs = Some(attrs);
        self
    }

    /// Sets `min_protocol_version`.
    pub fn min_protocol_version(&mut self, version: ProtocolVersion) -> &mut Self {
        self.min_protocol_version = Some(version);
        self
    }

    /// Sets `max_protocol_version`.
    pub fn max_protocol_version(&mut self, version: ProtocolVersion) -> &mut Self {
        self.max_protocol_version = Some(version);
        self
    }

    /// Sets `passfile`, the password file's name.
    pub fn passfile(&mut self, path: impl Into<String>) -> &mut Self {
        self.passfile = Some(path.into());
        self
    }

    /// Sets `load_balance_hosts`.
    pub fn load_balance_hosts(&mut self, mode: LoadBalanceHosts) -> &mut Self {
        self.load_balance_hosts = Some(mode);
        self
    }
}

/// Getters: each returns the libpq default (or `None`/empty when the
/// default is up to the adapter) for an unset field.
impl Config {
    /// The hosts; empty means the adapter's local default (see the module
    /// docs).
    pub fn get_hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The numeric addresses (`hostaddr`); empty when unset.
    pub fn get_hostaddrs(&self) -> &[IpAddr] {
        &self.hostaddrs
    }

    /// The ports: one per host, or a single one for every host. `[5432]`
    /// when unset.
    pub fn get_ports(&self) -> &[u16] {
        if self.ports.is_empty() {
            DEFAULT_PORTS
        } else {
            &self.ports
        }
    }

    /// The user name; `None` means the operating-system user.
    pub fn get_user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The password, if one was given (else a password file may have one).
    pub fn get_password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// The database name; `None` means the server uses the user name.
    pub fn get_dbname(&self) -> Option<&str> {
        self.dbname.as_deref()
    }

    /// `application_name`, if set.
    pub fn get_application_name(&self) -> Option<&str> {
        self.application_name.as_deref()
    }

    /// `fallback_application_name`, if set.
    pub fn get_fallback_application_name(&self) -> Option<&str> {
        self.fallback_application_name.as_deref()
    }

    /// The startup `options` string, if set.
    pub fn get_options(&self) -> Option<&str> {
        self.options.as_deref()
    }

    /// `client_encoding`, if set.
    pub fn get_client_encoding(&self) -> Option<&str> {
        self.client_encoding.as_deref()
    }

    /// The connect timeout per host: `None` when unset or zero (wait
    /// forever); as in libpq, a timeout under two seconds counts as two.
    pub fn get_connect_timeout(&self) -> Option<Duration> {
        match self.connect_timeout {
            Some(t) if t.is_zero() => None,
            Some(t) => Some(t.max(Duration::from_secs(2))),
            None => None,
        }
    }

    /// Whether TCP keepalives are used (default true).
    pub fn get_keepalives(&self) -> bool {
        self.keepalives.unwrap_or(true)
    }

    /// `keepalives_idle`; `None` (also for zero) means the system default.
    pub fn get_keepalives_idle(&self) -> Option<Duration> {
        self.keepalives_idle.filter(|d| !d.is_zero())
    }

    /// `keepalives_interval`; `None` (also for zero) means the system
    /// default.
    pub fn get_keepalives_interval(&self) -> Option<Duration> {
        self.keepalives_interval.filter(|d| !d.is_zero())
    }

    /// `keepalives_count`; `None` (also for zero) means the system default.
    pub fn get_keepalives_count(&self) -> Option<u32> {
        self.keepalives_count.filter(|&n| n != 0)
    }

    /// The effective `sslmode`: as set, else `verify-full` when
    /// `sslrootcert=system`, else `prefer`.
    pub fn get_sslmode(&self) -> SslMode {
        match self.sslmode {
            Some(mode) => mode,
            None if self.sslrootcert.as_deref() == Some("system") => SslMode::VerifyFull,
            None => SslMode::Prefer,
        }
    }

    /// `sslnegotiation` (default `postgres`).
    pub fn get_sslnegotiation(&self) -> SslNegotiation {
        self.sslnegotiation.unwrap_or_default()
    }

    /// `sslrootcert`; `None` means `~/.postgresql/root.crt` if it exists.
    pub fn get_sslrootcert(&self) -> Option<&str> {
        self.sslrootcert.as_deref()
    }

    /// `sslcert`; `None` means `~/.postgresql/postgresql.crt` if it exists.
    pub fn get_sslcert(&self) -> Option<&str> {
        self.sslcert.as_deref()
    }

    /// `sslkey`; `None` means `~/.postgresql/postgresql.key` if it exists.
    pub fn get_sslkey(&self) -> Option<&str> {
        self.sslkey.as_deref()
    }

    /// Whether to send TLS SNI (default true).
    pub fn get_sslsni(&self) -> bool {
        self.sslsni.unwrap_or(true)
    }

    /// `sslpassword`, if set.
    pub fn get_sslpassword(&self) -> Option<&str> {
        self.sslpassword.as_deref()
    }

    /// `gssencmode` (default `disable` here; see [`GssEncMode`]).
    pub fn get_gssencmode(&self) -> GssEncMode {
        self.gssencmode.unwrap_or_default()
    }

    /// `require_auth` (default: every method allowed).
    pub fn get_require_auth(&self) -> RequireAuth {
        self.require_auth.unwrap_or_default()
    }

    /// `channel_binding` (default `prefer`).
    pub fn get_channel_binding(&self) -> ChannelBinding {
        self.channel_binding.unwrap_or_default()
    }

    /// `target_session_attrs` (default `any`).
    pub fn get_target_session_attrs(&self) -> TargetSessionAttrs {
        self.target_session_attrs.unwrap_or_default()
    }

    /// `min_protocol_version` (default 3.0).
    pub fn get_min_protocol_version(&self) -> ProtocolVersion {
        self.min_protocol_version.unwrap_or(ProtocolVersion::V3_0)
    }

    /// `max_protocol_version`: as set, else (as in libpq 18) the latest
    /// version when `min_protocol_version` is above 3.0, else 3.0.
    pub fn get_max_protocol_version(&self) -> ProtocolVersion {
        match self.max_protocol_version {
            Some(v) => v,
            None if self.get_min_protocol_version() > ProtocolVersion::V3_0 => {
                ProtocolVersion::V3_2
            }
            None => ProtocolVersion::V3_0,
        }
    }

    /// `passfile`; `None` means the adapter's default (`~/.pgpass`).
    pub fn get_passfile(&self) -> Option<&str> {
        self.passfile.as_deref()
    }

    /// `load_balance_hosts` (default `disable`).
    pub fn get_load_balance_hosts(&self) -> LoadBalanceHosts {
        self.load_balance_hosts.unwrap_or_default()
    }
}

impl fmt::Display for RequireAuth {
    /// Writes the setting as libpq spells it (`scram-sha-256`, `!password,!md5`);
    /// empty when unset.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const ALL: [(AuthMethod, &str); 6] = [
            (AuthMethod::Password, "password"),
            (AuthMethod::Md5, "md5"),
            (AuthMethod::Gss, "gss"),
            (AuthMethod::Sspi, "sspi"),
            (AuthMethod::ScramSha256, "scram-sha-256"),
            (AuthMethod::None, "none"),
        ];
        let mut first = true;
        for (method, name) in ALL {
            if self.methods & method.bit() == 0 {
                continue;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if self.negated {
                f.write_str("!")?;
            }
            f.write_str(name)?;
        }
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::vec;

    #[test]
    fn debug_hides_passwords() {
        let mut c = Config::new();
        c.user("alice")
            .password("hunter2-secret")
            .sslpassword("keypass-secret");
        let s = format!("{c:?}");
        assert!(!s.contains("hunter2"), "{s}");
        assert!(!s.contains("keypass"), "{s}");
        assert!(s.contains("password: Some(\"***\")"), "{s}");
        assert!(s.contains("sslpassword: Some(\"***\")"), "{s}");
        assert!(s.contains("\"alice\""), "{s}");
        let s = format!("{:#?}", Config::parse("password=p4ss").unwrap());
        assert!(!s.contains("p4ss"), "{s}");
        let s = format!("{:?}", Config::new());
        assert!(s.contains("password: None"), "{s}");
    }

    #[test]
    fn defaults() {
        let c = Config::new();
        assert!(c.get_hosts().is_empty());
        assert_eq!(c.get_ports(), &[5432]);
        assert_eq!(c.get_user(), None);
        assert_eq!(c.get_connect_timeout(), None);
        assert!(c.get_keepalives());
        assert_eq!(c.get_sslmode(), SslMode::Prefer);
        assert_eq!(c.get_sslnegotiation(), SslNegotiation::Postgres);
        assert!(c.get_sslsni());
        assert_eq!(c.get_gssencmode(), GssEncMode::Disable);
        assert_eq!(c.get_channel_binding(), ChannelBinding::Prefer);
        assert_eq!(c.get_target_session_attrs(), TargetSessionAttrs::Any);
        assert_eq!(c.get_min_protocol_version(), ProtocolVersion::V3_0);
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_0);
        assert_eq!(c.get_load_balance_hosts(), LoadBalanceHosts::Disable);
        assert!(c.get_require_auth().allows(AuthMethod::None));
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn builder_and_getters() {
        let mut c = Config::new();
        c.host(Host::Tcp("db1".into()))
            .host(Host::Unix("/tmp".into()))
            .port(5433)
            .connect_timeout(Duration::from_secs(1))
            .keepalives_idle(Duration::ZERO)
            .keepalives_count(3)
            .sslmode(SslMode::VerifyFull)
            .max_protocol_version(ProtocolVersion::V3_2);
        assert_eq!(c.get_hosts().len(), 2);
        assert_eq!(c.get_hosts()[1].as_str(), "/tmp");
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_connect_timeout(), Some(Duration::from_secs(2)));
        assert_eq!(c.get_keepalives_idle(), None);
        assert_eq!(c.get_keepalives_count(), Some(3));
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn startup_params_order_and_fallback() {
        let c = Config::parse(
            "options='-c result_format_code=HyperBinary' client_encoding=UTF8 \
             fallback_application_name=fb dbname=db user=u password=secret",
        )
        .unwrap();
        let p = c.startup_params();
        let expected: Vec<(String, String)> = vec![
            ("user".into(), "u".into()),
            ("database".into(), "db".into()),
            ("application_name".into(), "fb".into()),
            ("client_encoding".into(), "UTF8".into()),
            ("options".into(), "-c result_format_code=HyperBinary".into()),
        ];
        assert_eq!(p, expected);

        let c = Config::parse("application_name=app fallback_application_name=fb").unwrap();
        let expected: Vec<(String, String)> = vec![("application_name".into(), "app".into())];
        assert_eq!(c.startup_params(), expected);
        assert!(Config::new().startup_params().is_empty());
    }

    #[test]
    fn sslrootcert_system() {
        let c = Config::parse("sslrootcert=system").unwrap();
        assert_eq!(c.get_sslmode(), SslMode::VerifyFull);
        assert_eq!(c.validate(), Ok(()));
        Config::parse("sslrootcert=system sslmode=verify-full").unwrap();
        let e = Config::parse("sslrootcert=system sslmode=require").unwrap_err();
        assert_eq!(
            format!("{e}"),
            "weak sslmode \"require\" may not be used with sslrootcert=system (use \"verify-full\")"
        );
        let e = Config::parse("sslmode=verify-ca sslrootcert=system").unwrap_err();
        assert!(matches!(
            e,
            ConfigError::WeakSslMode {
                sslmode: SslMode::VerifyCa,
                ..
            }
        ));
    }

    #[test]
    fn sslnegotiation_direct_needs_strong_sslmode() {
        Config::parse("sslnegotiation=direct sslmode=require").unwrap();
        // The sslmode may still come from the environment, so parse accepts
        // it; the full check does not.
        let c = Config::parse("sslnegotiation=direct").unwrap();
        let e = c.validate().unwrap_err();
        assert_eq!(
            format!("{e}"),
            "weak sslmode \"prefer\" may not be used with sslnegotiation=direct \
             (use \"require\", \"verify-ca\", or \"verify-full\")"
        );
        let e = Config::parse("sslnegotiation=direct sslmode=allow").unwrap_err();
        assert!(matches!(e, ConfigError::WeakSslMode { .. }));
        let c = Config::parse("sslnegotiation=direct sslrootcert=system").unwrap();
        assert_eq!(c.validate(), Ok(()));
    }

    #[test]
    fn protocol_versions() {
        let c = Config::parse("min_protocol_version=3.2").unwrap();
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_2);
        let c = Config::parse("max_protocol_version=latest").unwrap();
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(c.get_min_protocol_version(), ProtocolVersion::V3_0);
        let e = Config::parse("min_protocol_version=3.2 max_protocol_version=3.0").unwrap_err();
        assert_eq!(
            format!("{e}"),
            "min_protocol_version 3.2 is greater than max_protocol_version 3.0"
        );
        let e = Config::parse("max_protocol_version=3.1").unwrap_err();
        assert_eq!(
            format!("{e}"),
            "invalid max_protocol_version value: \"3.1\" (expected \"3.0\", \"3.2\" or \"latest\")"
        );
        assert!(ProtocolVersion::V3_0 < ProtocolVersion::V3_2);
    }

    #[test]
    fn host_port_counts() {
        // Checked at parse time only when both lists are present.
        Config::parse("port=1,2").unwrap();
        let e = Config::parse("port=1,2").unwrap().validate().unwrap_err();
        assert_eq!(format!("{e}"), "could not match 2 port numbers to 1 hosts");
        let e = Config::parse("host=a,b,c port=1,2").unwrap_err();
        assert_eq!(e, ConfigError::HostPortCountMismatch { hosts: 3, ports: 2 });
        Config::parse("host=a,b,c port=1")
            .unwrap()
            .validate()
            .unwrap();
        Config::parse("host=a,b port=1,2")
            .unwrap()
            .validate()
            .unwrap();
        let e = Config::parse("host=a,b hostaddr=127.0.0.1").unwrap_err();
        assert_eq!(
            format!("{e}"),
            "could not match 2 host names to 1 hostaddr values"
        );
        let c = Config::parse("hostaddr=127.0.0.1,::1 port=1,2").unwrap();
        c.validate().unwrap();
        let e = Config::parse("hostaddr=127.0.0.1,::1 port=1,2,3").unwrap_err();
        assert_eq!(e, ConfigError::HostPortCountMismatch { hosts: 2, ports: 3 });
    }

    #[test]
    fn require_auth_rules() {
        let ra = |s: &str| s.parse::<RequireAuth>().unwrap();
        let all = [
            AuthMethod::None,
            AuthMethod::Password,
            AuthMethod::Md5,
            AuthMethod::Gss,
            AuthMethod::Sspi,
            AuthMethod::ScramSha256,
        ];

        let def = RequireAuth::default();
        assert!(all.iter().all(|&m| def.allows(m)));

        let scram = ra("scram-sha-256");
        assert!(scram.allows(AuthMethod::ScramSha256));
        assert!(!scram.allows(AuthMethod::Password));
        assert!(!scram.allows(AuthMethod::Md5));
        assert!(!scram.allows(AuthMethod::None));
        assert!(!scram.allows(AuthMethod::Gss));

        let not_pw = ra("!password");
        assert!(not_pw.allows(AuthMethod::Md5));
        assert!(not_pw.allows(AuthMethod::None));
        assert!(not_pw.allows(AuthMethod::ScramSha256));
        assert!(!not_pw.allows(AuthMethod::Password));

        let none = ra("none");
        assert!(none.allows(AuthMethod::None));
        assert!(all[1..].iter().all(|&m| !none.allows(m)));

        let not_none = ra("!none");
        assert!(!not_none.allows(AuthMethod::None));
        assert!(all[1..].iter().all(|&m| not_none.allows(m)));

        let list = ra("md5,scram-sha-256,none");
        assert!(list.allows(AuthMethod::Md5));
        assert!(list.allows(AuthMethod::None));
        assert!(!list.allows(AuthMethod::Password));

        let both = ra("!gss,!sspi");
        assert!(!both.allows(AuthMethod::Gss));
        assert!(!both.allows(AuthMethod::Sspi));
        assert!(both.allows(AuthMethod::Password));

        let e = "password,!md5".parse::<RequireAuth>().unwrap_err();
        assert_eq!(
            format!("{e}"),
            "negative require_auth method \"!md5\" cannot be mixed with non-negative methods"
        );
        let e = "!password,md5".parse::<RequireAuth>().unwrap_err();
        assert_eq!(
            format!("{e}"),
            "require_auth method \"md5\" cannot be mixed with negative methods"
        );
        let e = "md5,md5".parse::<RequireAuth>().unwrap_err();
        assert_eq!(
            format!("{e}"),
            "require_auth method \"md5\" is specified more than once"
        );
        let e = "!none,!none".parse::<RequireAuth>().unwrap_err();
        assert!(matches!(e, ConfigError::RequireAuthDuplicate { .. }));
        let e = "md5,cert".parse::<RequireAuth>().unwrap_err();
        assert_eq!(
            format!("{e}"),
            "invalid require_auth value: \"cert\" (expected a comma-separated list of \
             password, md5, gss, sspi, scram-sha-256, none, all or none negated with \"!\")"
        );
        assert!("MD5".parse::<RequireAuth>().is_err());
        assert!("md5,".parse::<RequireAuth>().is_err());
        assert!("!".parse::<RequireAuth>().is_err());

        let c = Config::parse("require_auth=!password,!md5").unwrap();
        assert!(!c.get_require_auth().allows(AuthMethod::Md5));
        assert!(c.get_require_auth().allows(AuthMethod::ScramSha256));
    }

    #[test]
    fn enum_display_round_trip() {
        for m in [
            SslMode::Disable,
            SslMode::Allow,
            SslMode::Prefer,
            SslMode::Require,
            SslMode::VerifyCa,
            SslMode::VerifyFull,
        ] {
            assert_eq!(SslMode::from_keyword(&format!("{m}")), Some(m));
        }
        assert_eq!(
            format!("{}", TargetSessionAttrs::PreferStandby),
            "prefer-standby"
        );
        assert_eq!(format!("{}", ProtocolVersion::V3_2), "3.2");
        assert!(SslMode::Prefer < SslMode::Require);
    }
}
