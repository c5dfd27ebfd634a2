//! Planning a connection from a [`Config`], without I/O: which endpoints to try in
//! which order, which encryption attempts each gets (libpq's `sslmode`), and what
//! `target_session_attrs` needs to know about a session. Every adapter shares it.

use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec;
use alloc::vec::Vec;

use super::{Config, Host, SslMode, SslNegotiation, TargetSessionAttrs, DEFAULT_PORT};
use crate::machine::TlsPlan;

/// Where to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndpointTarget {
    /// A TCP host name or address.
    Tcp {
        /// What to resolve (`hostaddr` when given, else the host name).
        address: String,
    },
    /// A unix socket file.
    Unix {
        /// `<dir>/.s.PGSQL.<port>`.
        path: String,
    },
}

/// One host to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `host:port`, for error messages.
    pub label: String,
    /// The host as given: the name TLS verifies and the password file matches.
    pub host: String,
    /// The port.
    pub port: u16,
    /// Where to connect.
    pub target: EndpointTarget,
}

impl Endpoint {
    /// Whether this is a unix socket.
    pub fn is_unix(&self) -> bool {
        matches!(self.target, EndpointTarget::Unix { .. })
    }
}

/// The endpoints to try, in order. With no host configured, libpq uses its unix
/// socket directory: pass the one that exists on this machine (or `None` for
/// `localhost` over TCP).
pub fn endpoints(config: &Config, default_socket_dir: Option<&str>) -> Vec<Endpoint> {
    let ports = config.get_ports();
    let port_for = |i: usize| -> u16 {
        ports
            .get(i)
            .or_else(|| ports.first())
            .copied()
            .unwrap_or(DEFAULT_PORT)
    };
    let hosts: Vec<Host> = if config.get_hosts().is_empty() {
        vec![match default_socket_dir {
            Some(d) => Host::Unix(d.into()),
            None => Host::Tcp("localhost".into()),
        }]
    } else {
        config.get_hosts().to_vec()
    };
    let addrs = config.get_hostaddrs();
    hosts
        .into_iter()
        .enumerate()
        .map(|(i, h)| {
            let port = port_for(i);
            let (host, target) = match h {
                Host::Unix(dir) => {
                    let path = format!("{}/.s.PGSQL.{port}", dir.trim_end_matches('/'));
                    (dir, EndpointTarget::Unix { path })
                }
                Host::Tcp(name) => {
                    let address = addrs
                        .get(i)
                        .map(|a| a.to_string())
                        .unwrap_or_else(|| name.clone());
                    (name, EndpointTarget::Tcp { address })
                }
            };
            Endpoint {
                label: format!("{host}:{port}"),
                host,
                port,
                target,
            }
        })
        .collect()
}

/// The socket file a default unix-socket directory would hold for `config`'s first
/// port (adapters check which candidate exists).
pub fn default_socket_file(dir: &str, config: &Config) -> String {
    let port = config.get_ports().first().copied().unwrap_or(DEFAULT_PORT);
    format!("{dir}/.s.PGSQL.{port}")
}

/// The key under which a connection to `ep` keeps its salted SCRAM password in
/// a [`crate::auth::ScramKeyCache`]: the endpoint and the user.
pub fn scram_cache_key(config: &Config, ep: &Endpoint) -> String {
    format!("{}\0{}", ep.label, config.get_user().unwrap_or_default())
}

/// The password file to consult: `passfile` (or `PGPASSFILE`, merged into it),
/// else `~/.pgpass` under `home`.
pub fn passfile_path(config: &Config, home: Option<&str>) -> Option<String> {
    config
        .get_passfile()
        .map(String::from)
        .or_else(|| home.map(|h| format!("{}/.pgpass", h.trim_end_matches('/'))))
}

/// What the password file says for `endpoint`, given its permission bits and
/// contents. A file that group or others can read is refused, as libpq does
/// (`Err` holds the warning libpq prints).
pub fn password_from_file(
    config: &Config,
    endpoint: &Endpoint,
    path: &str,
    mode: u32,
    contents: &str,
) -> Result<Option<String>, String> {
    if !super::pgpass_permissions_ok(mode) {
        return Err(format!(
            "WARNING: password file \"{path}\" has group or world access; permissions should be u=rw (0600) or less"
        ));
    }
    let Some(user) = config.get_user() else {
        return Ok(None);
    };
    let database = config.get_dbname().unwrap_or(user);
    Ok(super::lookup_password(
        contents,
        &endpoint.host,
        endpoint.port,
        database,
        user,
    ))
}

/// The directories libpq builds look in when no host is given (Debian's first).
pub const DEFAULT_SOCKET_DIRS: [&str; 2] = ["/var/run/postgresql", "/tmp"];

/// The encryption attempts for one endpoint, in order. `allow` tries plaintext
/// first and TLS only if the server refused that; unix sockets never use TLS.
pub fn tls_plans(config: &Config, unix: bool) -> Vec<TlsPlan> {
    let direct = config.get_sslnegotiation() == SslNegotiation::Direct;
    match (unix, config.get_sslmode()) {
        (true, _) | (_, SslMode::Disable) => vec![TlsPlan::Disabled],
        (_, SslMode::Allow) => vec![TlsPlan::Disabled, TlsPlan::Require],
        (_, SslMode::Prefer) => vec![TlsPlan::Prefer],
        _ if direct => vec![TlsPlan::Direct],
        _ => vec![TlsPlan::Require],
    }
}

/// What `target_session_attrs` decides about a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionCheck {
    /// The session matches.
    Accept,
    /// It does not.
    Reject,
    /// Run this one-value query (answering on/off or t/f) and call
    /// [`SessionCheck::decide`] with the answer.
    Ask(&'static str),
}

impl SessionCheck {
    /// The decision from the reported parameters (`in_hot_standby` and
    /// `default_transaction_read_only`, PostgreSQL 14+), or the query to ask.
    pub fn start(attrs: TargetSessionAttrs, parameter: &dyn Fn(&str) -> Option<bool>) -> Self {
        let hot_standby = parameter("in_hot_standby");
        let read_only = parameter("default_transaction_read_only");
        let verdict = |ok: bool| {
            if ok {
                SessionCheck::Accept
            } else {
                SessionCheck::Reject
            }
        };
        match attrs {
            TargetSessionAttrs::ReadWrite | TargetSessionAttrs::ReadOnly => {
                match (hot_standby, read_only) {
                    (Some(h), Some(d)) => {
                        verdict((attrs == TargetSessionAttrs::ReadOnly) == (h || d))
                    }
                    _ => SessionCheck::Ask("SHOW transaction_read_only"),
                }
            }
            TargetSessionAttrs::Primary
            | TargetSessionAttrs::Standby
            | TargetSessionAttrs::PreferStandby => match hot_standby {
                Some(h) => verdict((attrs == TargetSessionAttrs::Primary) != h),
                None => SessionCheck::Ask("SELECT pg_catalog.pg_is_in_recovery()"),
            },
            _ => SessionCheck::Accept,
        }
    }

    /// The decision once the query of [`SessionCheck::Ask`] answered `answer`.
    pub fn decide(attrs: TargetSessionAttrs, answer: bool) -> bool {
        match attrs {
            TargetSessionAttrs::ReadWrite | TargetSessionAttrs::Primary => !answer,
            TargetSessionAttrs::ReadOnly
            | TargetSessionAttrs::Standby
            | TargetSessionAttrs::PreferStandby => answer,
            _ => true,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn endpoints_pair_hosts_and_ports() {
        let c = Config::parse("host=a,/sock,b hostaddr=10.0.0.1,,10.0.0.3 port=1,2,3")
            .unwrap_or_else(|_| Config::parse("host=a,/sock,b port=1,2,3").unwrap());
        let e = endpoints(&c, None);
        assert_eq!(e.len(), 3);
        assert_eq!(
            e[1].target,
            EndpointTarget::Unix {
                path: "/sock/.s.PGSQL.2".into()
            }
        );
        assert!(e[1].is_unix());
        assert_eq!(e[2].port, 3);
        let one_port = Config::parse("host=a,b port=7").unwrap();
        assert!(endpoints(&one_port, None).iter().all(|e| e.port == 7));
        let none = Config::new();
        assert_eq!(
            endpoints(&none, Some("/var/run/postgresql"))[0].target,
            EndpointTarget::Unix {
                path: "/var/run/postgresql/.s.PGSQL.5432".into()
            }
        );
        assert_eq!(
            endpoints(&none, None)[0].target,
            EndpointTarget::Tcp {
                address: "localhost".into()
            }
        );
    }

    #[test]
    fn password_file_rules() {
        let c = Config::parse("host=h port=5 user=u dbname=d").unwrap();
        let ep = &endpoints(&c, None)[0];
        assert_eq!(
            passfile_path(&c, Some("/home/x/")).as_deref(),
            Some("/home/x/.pgpass")
        );
        let with = Config::parse("user=u passfile=/p").unwrap();
        assert_eq!(passfile_path(&with, Some("/home/x")).as_deref(), Some("/p"));
        assert_eq!(
            password_from_file(&c, ep, "/p", 0o100600, "h:5:d:u:pw\n"),
            Ok(Some("pw".into()))
        );
        assert!(password_from_file(&c, ep, "/p", 0o100644, "h:5:d:u:pw\n")
            .unwrap_err()
            .contains("/p"));
    }

    #[test]
    fn sslmode_gives_the_attempts() {
        let plans = |s: &str, unix| tls_plans(&Config::parse(s).unwrap(), unix);
        assert_eq!(
            plans("sslmode=allow", false),
            [TlsPlan::Disabled, TlsPlan::Require]
        );
        assert_eq!(plans("sslmode=prefer", false), [TlsPlan::Prefer]);
        assert_eq!(plans("sslmode=verify-full", false), [TlsPlan::Require]);
        assert_eq!(
            plans("sslmode=require sslnegotiation=direct", false),
            [TlsPlan::Direct]
        );
        assert_eq!(plans("sslmode=require", true), [TlsPlan::Disabled]);
    }

    #[test]
    fn session_attributes() {
        let params = |h: Option<bool>, d: Option<bool>| {
            move |n: &str| match n {
                "in_hot_standby" => h,
                "default_transaction_read_only" => d,
                _ => None,
            }
        };
        use TargetSessionAttrs as A;
        assert_eq!(
            SessionCheck::start(A::Any, &params(None, None)),
            SessionCheck::Accept
        );
        assert_eq!(
            SessionCheck::start(A::ReadWrite, &params(Some(false), Some(false))),
            SessionCheck::Accept
        );
        assert_eq!(
            SessionCheck::start(A::ReadWrite, &params(Some(false), Some(true))),
            SessionCheck::Reject
        );
        assert_eq!(
            SessionCheck::start(A::Standby, &params(Some(false), None)),
            SessionCheck::Reject
        );
        assert_eq!(
            SessionCheck::start(A::Primary, &params(Some(false), None)),
            SessionCheck::Accept
        );
        assert!(matches!(
            SessionCheck::start(A::Primary, &params(None, None)),
            SessionCheck::Ask(_)
        ));
        assert!(SessionCheck::decide(A::ReadWrite, false));
        assert!(!SessionCheck::decide(A::Standby, false));
    }
}
