//! The parser of libpq connection strings, in both forms:
//!
//! - `key=value` pairs separated by whitespace, with optional whitespace
//!   around `=`. A value may be single-quoted (and must be, to be empty or
//!   contain whitespace); `\'` and `\\` (in fact `\` before any character)
//!   escape, inside quotes or not.
//! - URIs: `postgresql://` or `postgres://`, then
//!   `[user[:password]@][host][:port][,host[:port]...][/dbname][?key=value&...]`.
//!   Every part is percent-decoded; an IPv6 host goes in brackets
//!   (`[::1]:5433`); a host starting with `/` (written `%2Fvar%2Frun`) is a
//!   unix socket directory. Query keys are the same option names (plus
//!   libpq's JDBC-compatible `ssl=true`, meaning `sslmode=require`).
//!
//! Lists (`host=a,b port=1,2`) are comma-separated; an empty port entry
//! means 5432. Later settings of the same key replace earlier ones, and an
//! empty value leaves the option unset.

use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::net::IpAddr;
use core::str::FromStr;
use core::time::Duration;

use super::{
    AuthMethod, ChannelBinding, Config, ConfigError, GssEncMode, Host, LoadBalanceHosts,
    ProtocolVersion, RequireAuth, SslMode, SslNegotiation, TargetSessionAttrs, DEFAULT_PORT,
};

macro_rules! keys {
    ($($variant:ident => $name:literal),* $(,)?) => {
        /// A connection option, named as in libpq.
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub(super) enum Key { $($variant),* }

        impl Key {
            /// The option's name in connection strings.
            pub(super) fn name(self) -> &'static str {
                match self { $(Key::$variant => $name),* }
            }

            /// The option with this (case-sensitive) name.
            fn from_name(name: &str) -> Option<Key> {
                match name { $($name => Some(Key::$variant),)* _ => None }
            }
        }
    };
}

keys! {
    Host => "host",
    HostAddr => "hostaddr",
    Port => "port",
    User => "user",
    Password => "password",
    DbName => "dbname",
    ApplicationName => "application_name",
    FallbackApplicationName => "fallback_application_name",
    Options => "options",
    ClientEncoding => "client_encoding",
    ConnectTimeout => "connect_timeout",
    Keepalives => "keepalives",
    KeepalivesIdle => "keepalives_idle",
    KeepalivesInterval => "keepalives_interval",
    KeepalivesCount => "keepalives_count",
    SslMode => "sslmode",
    SslNegotiation => "sslnegotiation",
    SslRootCert => "sslrootcert",
    SslCert => "sslcert",
    SslKeyFile => "sslkey",
    SslSni => "sslsni",
    SslPassword => "sslpassword",
    GssEncMode => "gssencmode",
    RequireAuth => "require_auth",
    ChannelBinding => "channel_binding",
    TargetSessionAttrs => "target_session_attrs",
    MinProtocolVersion => "min_protocol_version",
    MaxProtocolVersion => "max_protocol_version",
    PassFile => "passfile",
    LoadBalanceHosts => "load_balance_hosts",
}

impl Key {
    /// Options whose values must never appear in messages.
    fn is_secret(self) -> bool {
        matches!(self, Key::Password | Key::SslPassword)
    }
}

const EXPECTED_REQUIRE_AUTH: &str = "a comma-separated list of password, md5, gss, sspi, \
     scram-sha-256, none, all or none negated with \"!\"";

impl Config {
    /// Whether `key` has a value (so the environment must not override it).
    pub(super) fn is_set(&self, key: Key) -> bool {
        match key {
            Key::Host => !self.hosts.is_empty(),
            Key::HostAddr => !self.hostaddrs.is_empty(),
            Key::Port => !self.ports.is_empty(),
            Key::User => self.user.is_some(),
            Key::Password => self.password.is_some(),
            Key::DbName => self.dbname.is_some(),
            Key::ApplicationName => self.application_name.is_some(),
            Key::FallbackApplicationName => self.fallback_application_name.is_some(),
            Key::Options => self.options.is_some(),
            Key::ClientEncoding => self.client_encoding.is_some(),
            Key::ConnectTimeout => self.connect_timeout.is_some(),
            Key::Keepalives => self.keepalives.is_some(),
            Key::KeepalivesIdle => self.keepalives_idle.is_some(),
            Key::KeepalivesInterval => self.keepalives_interval.is_some(),
            Key::KeepalivesCount => self.keepalives_count.is_some(),
            Key::SslMode => self.sslmode.is_some(),
            Key::SslNegotiation => self.sslnegotiation.is_some(),
            Key::SslRootCert => self.sslrootcert.is_some(),
            Key::SslCert => self.sslcert.is_some(),
            Key::SslKeyFile => self.sslkey.is_some(),
            Key::SslSni => self.sslsni.is_some(),
            Key::SslPassword => self.sslpassword.is_some(),
            Key::GssEncMode => self.gssencmode.is_some(),
            Key::RequireAuth => self.require_auth.is_some(),
            Key::ChannelBinding => self.channel_binding.is_some(),
            Key::TargetSessionAttrs => self.target_session_attrs.is_some(),
            Key::MinProtocolVersion => self.min_protocol_version.is_some(),
            Key::MaxProtocolVersion => self.max_protocol_version.is_some(),
            Key::PassFile => self.passfile.is_some(),
            Key::LoadBalanceHosts => self.load_balance_hosts.is_some(),
        }
    }

    /// Returns `key` to its unset state.
    fn clear(&mut self, key: Key) {
        match key {
            Key::Host => self.hosts.clear(),
            Key::HostAddr => self.hostaddrs.clear(),
            Key::Port => self.ports.clear(),
            Key::User => self.user = None,
            Key::Password => self.password = None,
            Key::DbName => self.dbname = None,
            Key::ApplicationName => self.application_name = None,
            Key::FallbackApplicationName => self.fallback_application_name = None,
            Key::Options => self.options = None,
            Key::ClientEncoding => self.client_encoding = None,
            Key::ConnectTimeout => self.connect_timeout = None,
            Key::Keepalives => self.keepalives = None,
            Key::KeepalivesIdle => self.keepalives_idle = None,
            Key::KeepalivesInterval => self.keepalives_interval = None,
            Key::KeepalivesCount => self.keepalives_count = None,
            Key::SslMode => self.sslmode = None,
            Key::SslNegotiation => self.sslnegotiation = None,
            Key::SslRootCert => self.sslrootcert = None,
            Key::SslCert => self.sslcert = None,
            Key::SslKeyFile => self.sslkey = None,
            Key::SslSni => self.sslsni = None,
            Key::SslPassword => self.sslpassword = None,
            Key::GssEncMode => self.gssencmode = None,
            Key::RequireAuth => self.require_auth = None,
            Key::ChannelBinding => self.channel_binding = None,
            Key::TargetSessionAttrs => self.target_session_attrs = None,
            Key::MinProtocolVersion => self.min_protocol_version = None,
            Key::MaxProtocolVersion => self.max_protocol_version = None,
            Key::PassFile => self.passfile = None,
            Key::LoadBalanceHosts => self.load_balance_hosts = None,
        }
    }

    /// Sets `key` from its textual `value` (already unquoted / decoded).
    /// An empty value unsets the option.
    pub(super) fn set_value(&mut self, key: Key, value: &str) -> Result<(), ConfigError> {
        if value.is_empty() {
            self.clear(key);
            return Ok(());
        }
        let text = || Some(String::from(value));
        match key {
            Key::Host => self.hosts = parse_hosts(value)?,
            Key::HostAddr => self.hostaddrs = parse_hostaddrs(value)?,
            Key::Port => self.ports = value.split(',').map(parse_port).collect::<Result<_, _>>()?,
            Key::User => self.user = text(),
            Key::Password => self.password = text(),
            Key::DbName => self.dbname = text(),
            Key::ApplicationName => self.application_name = text(),
            Key::FallbackApplicationName => self.fallback_application_name = text(),
            Key::Options => self.options = text(),
            Key::ClientEncoding => self.client_encoding = text(),
            Key::ConnectTimeout => self.connect_timeout = Some(parse_seconds(key, value)?),
            Key::Keepalives => self.keepalives = Some(parse_int(key, value)? != 0),
            Key::KeepalivesIdle => self.keepalives_idle = Some(parse_seconds(key, value)?),
            Key::KeepalivesInterval => self.keepalives_interval = Some(parse_seconds(key, value)?),
            Key::KeepalivesCount => {
                // libpq treats a negative count as 0 (the system default).
                self.keepalives_count = Some(parse_int(key, value)?.max(0).unsigned_abs())
            }
            Key::SslMode => {
                self.sslmode = Some(SslMode::from_keyword(value).ok_or_else(|| {
                    invalid(
                        key,
                        value,
                        "disable, allow, prefer, require, verify-ca or verify-full",
                    )
                })?)
            }
            Key::SslNegotiation => {
                self.sslnegotiation = Some(
                    SslNegotiation::from_keyword(value)
                        .ok_or_else(|| invalid(key, value, "postgres or direct"))?,
                )
            }
            Key::SslRootCert => self.sslrootcert = text(),
            Key::SslCert => self.sslcert = text(),
            Key::SslKeyFile => self.sslkey = text(),
            Key::SslSni => {
                self.sslsni = Some(match value {
                    "0" => false,
                    "1" => true,
                    _ => return Err(invalid(key, value, "0 or 1")),
                })
            }
            Key::SslPassword => self.sslpassword = text(),
            Key::GssEncMode => {
                self.gssencmode = Some(
                    GssEncMode::from_keyword(value)
                        .ok_or_else(|| invalid(key, value, "disable, prefer or require"))?,
                )
            }
            Key::RequireAuth => self.require_auth = Some(value.parse()?),
            Key::ChannelBinding => {
                self.channel_binding = Some(
                    ChannelBinding::from_keyword(value)
                        .ok_or_else(|| invalid(key, value, "disable, prefer or require"))?,
                )
            }
            Key::TargetSessionAttrs => {
                self.target_session_attrs =
                    Some(TargetSessionAttrs::from_keyword(value).ok_or_else(|| {
                        invalid(
                            key,
                            value,
                            "any, read-write, read-only, primary, standby or prefer-standby",
                        )
                    })?)
            }
            Key::MinProtocolVersion => {
                self.min_protocol_version = Some(parse_protocol_version(key, value)?)
            }
            Key::MaxProtocolVersion => {
                self.max_protocol_version = Some(parse_protocol_version(key, value)?)
            }
            Key::PassFile => self.passfile = text(),
            Key::LoadBalanceHosts => {
                self.load_balance_hosts = Some(
                    LoadBalanceHosts::from_keyword(value)
                        .ok_or_else(|| invalid(key, value, "disable or random"))?,
                )
            }
        }
        Ok(())
    }
}

fn invalid(key: Key, value: &str, expected: &'static str) -> ConfigError {
    ConfigError::InvalidValue {
        key: key.name(),
        value: value.into(),
        expected,
    }
}

/// C's `isspace` in the "C" locale, which libpq uses to split pairs.
fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// An integer as libpq's `pqParseIntParam` reads it: an `int`, with
/// surrounding whitespace allowed.
fn parse_int(key: Key, value: &str) -> Result<i32, ConfigError> {
    value
        .trim_matches(is_space)
        .parse::<i32>()
        .map_err(|_| invalid(key, value, "an integer"))
}

/// A whole number of seconds; negative values count as 0, as in libpq.
fn parse_seconds(key: Key, value: &str) -> Result<Duration, ConfigError> {
    let n = parse_int(key, value)?;
    Ok(Duration::from_secs(u64::from(n.max(0).unsigned_abs())))
}

/// One entry of a port list; empty means the default port.
fn parse_port(entry: &str) -> Result<u16, ConfigError> {
    if entry.is_empty() {
        return Ok(DEFAULT_PORT);
    }
    entry
        .trim_matches(is_space)
        .parse::<i32>()
        .ok()
        .and_then(|n| u16::try_from(n).ok())
        .filter(|&p| p != 0)
        .ok_or_else(|| ConfigError::InvalidPort {
            value: entry.into(),
        })
}

fn parse_hosts(value: &str) -> Result<Vec<Host>, ConfigError> {
    value
        .split(',')
        .map(|h| {
            if h.is_empty() {
                Err(invalid(
                    Key::Host,
                    value,
                    "a comma-separated list of non-empty host names or socket directories",
                ))
            } else {
                Ok(Host::classify(h.into()))
            }
        })
        .collect()
}

fn parse_hostaddrs(value: &str) -> Result<Vec<IpAddr>, ConfigError> {
    value
        .split(',')
        .map(|a| {
            IpAddr::from_str(a).map_err(|_| {
                invalid(
                    Key::HostAddr,
                    a,
                    "a comma-separated list of numeric IPv4 or IPv6 addresses",
                )
            })
        })
        .collect()
}

fn parse_protocol_version(key: Key, value: &str) -> Result<ProtocolVersion, ConfigError> {
    match value {
        "3.0" => Ok(ProtocolVersion::V3_0),
        "3.2" => Ok(ProtocolVersion::V3_2),
        "latest" => Ok(ProtocolVersion::V3_2),
        _ => Err(invalid(key, value, "\"3.0\", \"3.2\" or \"latest\"")),
    }
}

fn auth_method_from_keyword(s: &str) -> Option<AuthMethod> {
    Some(match s {
        "none" => AuthMethod::None,
        "password" => AuthMethod::Password,
        "md5" => AuthMethod::Md5,
        "gss" => AuthMethod::Gss,
        "sspi" => AuthMethod::Sspi,
        "scram-sha-256" => AuthMethod::ScramSha256,
        _ => return None,
    })
}

impl FromStr for RequireAuth {
    type Err = ConfigError;

    /// Parses a `require_auth` list such as `scram-sha-256` or
    /// `!password,!md5`: all entries negated or none, no duplicates, no
    /// unknown methods (names are case-sensitive, as in libpq).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut negated = None;
        let mut methods = 0u8;
        for entry in s.split(',') {
            let (neg, name) = match entry.strip_prefix('!') {
                Some(name) => (true, name),
                None => (false, entry),
            };
            if *negated.get_or_insert(neg) != neg {
                return Err(ConfigError::RequireAuthMixed {
                    method: entry.into(),
                });
            }
            let bit = auth_method_from_keyword(name)
                .ok_or_else(|| invalid(Key::RequireAuth, entry, EXPECTED_REQUIRE_AUTH))?
                .bit();
            if methods & bit != 0 {
                return Err(ConfigError::RequireAuthDuplicate {
                    method: entry.into(),
                });
            }
            methods |= bit;
        }
        Ok(RequireAuth {
            negated: negated.unwrap_or(true),
            methods,
        })
    }
}

/// Parses either form of connection string into a fresh `Config`, without
/// the cross-field checks.
pub(super) fn parse(s: &str) -> Result<Config, ConfigError> {
    let mut config = Config::new();
    // libpq recognises a URI only by its exact prefix at the very start.
    match ["postgresql://", "postgres://"]
        .iter()
        .find_map(|prefix| s.strip_prefix(prefix))
    {
        Some(rest) => parse_uri(s, rest, &mut config)?,
        None => parse_key_values(s, &mut config)?,
    }
    Ok(config)
}

/// The `key=value` form, following libpq's `conninfo_parse`.
fn parse_key_values(s: &str, config: &mut Config) -> Result<(), ConfigError> {
    let mut chars = s.char_indices().peekable();
    // Set to the key after an unquoted secret value: if the next word is
    // not a valid pair it is most likely the rest of that secret.
    let mut after_secret: Option<&'static str> = None;
    loop {
        while chars.next_if(|&(_, c)| is_space(c)).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            return Ok(());
        };
        let mut end = s.len();
        while let Some(&(i, c)) = chars.peek() {
            if c == '=' || is_space(c) {
                end = i;
                break;
            }
            chars.next();
        }
        let name = s.get(start..end).unwrap_or_default();
        while chars.next_if(|&(_, c)| is_space(c)).is_some() {}
        if chars.next_if(|&(_, c)| c == '=').is_none() {
            return Err(match after_secret {
                Some(key) => ConfigError::TextAfterPassword {
                    key,
                    position: start,
                },
                None => ConfigError::MissingEquals {
                    key: name.into(),
                    position: start,
                },
            });
        }
        while chars.next_if(|&(_, c)| is_space(c)).is_some() {}

        let mut value = String::new();
        let quoted = if let Some((quote_at, _)) = chars.next_if(|&(_, c)| c == '\'') {
            loop {
                match chars.next() {
                    None => {
                        return Err(ConfigError::UnterminatedQuote { position: quote_at });
                    }
                    Some((_, '\'')) => break,
                    Some((_, '\\')) => {
                        // A trailing backslash falls through to `None` above.
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    Some((_, c)) => value.push(c),
                }
            }
            true
        } else {
            while let Some((_, c)) = chars.next_if(|&(_, c)| !is_space(c)) {
                if c == '\\' {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
            false
        };

        let Some(key) = Key::from_name(name) else {
            return Err(match after_secret {
                Some(key) => ConfigError::TextAfterPassword {
                    key,
                    position: start,
                },
                None => ConfigError::UnknownOption { key: name.into() },
            });
        };
        config.set_value(key, &value)?;
        after_secret = (key.is_secret() && !quoted).then(|| key.name());
    }
}

/// The URI form, following libpq's `conninfo_uri_parse_options`. `whole`
/// is the full string (for error positions), `rest` what follows the
/// scheme.
fn parse_uri(whole: &str, rest: &str, config: &mut Config) -> Result<(), ConfigError> {
    // Byte offset in `whole` of `part`, a suffix of it.
    let at = |part: &str| whole.len().saturating_sub(part.len());

    // User info is present if an '@' comes before the first '/' (as in
    // libpq, '?' does not end the search, so passwords may contain it).
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let mut p = rest;
    if let Some(i) = rest.get(..authority_end).and_then(|a| a.find('@')) {
        let userinfo = rest.get(..i).unwrap_or_default();
        p = rest.get(i + 1..).unwrap_or_default();
        let (user, password) = match userinfo.split_once(':') {
            Some((user, password)) => (user, Some(password)),
            None => (userinfo, None),
        };
        config.set_value(Key::User, &percent_decode(user, "user name")?)?;
        if let Some(password) = password {
            config.set_value(Key::Password, &percent_decode(password, "password")?)?;
        }
    }

    // Hosts, each with an optional port, separated by commas.
    let mut hosts: Vec<(String, usize)> = Vec::new();
    let mut ports: Vec<Option<(&str, usize)>> = Vec::new();
    loop {
        let host_at = at(p);
        let (host, after) = if let Some(inner) = p.strip_prefix('[') {
            let Some(close) = inner.find(']') else {
                return Err(ConfigError::InvalidUri {
                    position: host_at,
                    reason: "missing \"]\" after IPv6 host address",
                });
            };
            let host = inner.get(..close).unwrap_or_default();
            if host.is_empty() {
                return Err(ConfigError::InvalidUri {
                    position: host_at,
                    reason: "empty IPv6 host address",
                });
            }
            let after = inner.get(close + 1..).unwrap_or_default();
            if !(after.is_empty() || after.starts_with([':', '/', '?', ','])) {
                return Err(ConfigError::InvalidUri {
                    position: at(after),
                    reason: "unexpected character after IPv6 host address \
                             (expected \":\", \"/\", \"?\" or \",\")",
                });
            }
            (host, after)
        } else {
            let end = p.find([':', '/', '?', ',']).unwrap_or(p.len());
            (
                p.get(..end).unwrap_or_default(),
                p.get(end..).unwrap_or_default(),
            )
        };
        hosts.push((percent_decode(host, "host")?, host_at));
        let after = match after.strip_prefix(':') {
            Some(port_rest) => {
                let end = port_rest.find(['/', '?', ',']).unwrap_or(port_rest.len());
                ports.push(Some((
                    port_rest.get(..end).unwrap_or_default(),
                    at(port_rest),
                )));
                port_rest.get(end..).unwrap_or_default()
            }
            None => {
                ports.push(None);
                after
            }
        };
        match after.strip_prefix(',') {
            Some(next) => p = next,
            None => {
                p = after;
                break;
            }
        }
    }
    // A lone empty host (`postgresql:///db`) means "unset".
    let lone_empty = matches!(hosts.as_slice(), [(h, _)] if h.is_empty());
    if !lone_empty {
        if let Some((_, position)) = hosts.iter().find(|(h, _)| h.is_empty()) {
            return Err(ConfigError::InvalidUri {
                position: *position,
                reason: "empty host name in host list",
            });
        }
        config.hosts = hosts.into_iter().map(|(h, _)| Host::classify(h)).collect();
    }
    if ports.iter().flatten().any(|(port, _)| !port.is_empty()) {
        config.ports = ports
            .into_iter()
            .map(|port| match port {
                None => Ok(DEFAULT_PORT),
                // The text is not quoted in the error: when a password holds
                // an unencoded '/', its first half lands here.
                Some((text, position)) => percent_decode(text, "port")
                    .and_then(|text| parse_port(&text))
                    .map_err(|_| ConfigError::InvalidUri {
                        position,
                        reason: "invalid port number (expected 1 to 65535)",
                    }),
            })
            .collect::<Result<_, _>>()?;
    }

    // Then `/dbname` and `?params`; `p` is empty or starts with '/' or '?'.
    let query = match p.strip_prefix('/') {
        Some(path) => {
            let (dbname, query) = match path.split_once('?') {
                Some((dbname, query)) => (dbname, Some(query)),
                None => (path, None),
            };
            config.set_value(Key::DbName, &percent_decode(dbname, "database name")?)?;
            query
        }
        None => p.strip_prefix('?'),
    };
    if let Some(query) = query {
        parse_query(query, at, config)?;
    }
    Ok(())
}

/// URI query parameters: `key=value` separated by `&`, both decoded. An
/// empty parameter is an error except for one trailing `&`.
fn parse_query(
    query: &str,
    at: impl Fn(&str) -> usize,
    config: &mut Config,
) -> Result<(), ConfigError> {
    let mut rest = query;
    while !rest.is_empty() {
        let position = at(rest);
        let (param, next) = rest.split_once('&').unwrap_or((rest, ""));
        let Some((name, value)) = param.split_once('=') else {
            return Err(ConfigError::InvalidUri {
                position,
                reason: "query parameter without \"=\"",
            });
        };
        if value.contains('=') {
            return Err(ConfigError::InvalidUri {
                position,
                reason: "query parameter with more than one \"=\"",
            });
        }
        let name = percent_decode(name, "query parameter name")?;
        let value = percent_decode(value, &format!("query parameter \"{name}\""))?;
        // libpq's JDBC compatibility.
        let (name, value) = if name == "ssl" && value == "true" {
            ("sslmode", "require")
        } else {
            (name.as_str(), value.as_str())
        };
        let key =
            Key::from_name(name).ok_or_else(|| ConfigError::UnknownOption { key: name.into() })?;
        config.set_value(key, value)?;
        rest = next;
    }
    Ok(())
}

/// Decodes `%XX` escapes. `component` names the URI part for errors, which
/// never quote the text (it may be a password).
fn percent_decode(s: &str, component: &str) -> Result<String, ConfigError> {
    if !s.contains('%') {
        return Ok(s.into());
    }
    let bad = |reason| ConfigError::InvalidPercentEncoding {
        component: component.into(),
        reason,
    };
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b != b'%' {
            out.push(b);
            continue;
        }
        let hi = bytes.next().and_then(hex_value);
        let lo = bytes.next().and_then(hex_value);
        let (Some(hi), Some(lo)) = (hi, lo) else {
            return Err(bad("\"%\" must be followed by two hexadecimal digits"));
        };
        match hi << 4 | lo {
            0 => return Err(bad("%00 is not allowed")),
            byte => out.push(byte),
        }
    }
    String::from_utf8(out).map_err(|_| bad("the decoded bytes are not valid UTF-8"))
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::string::ToString;
    use alloc::vec;

    fn parse(s: &str) -> Config {
        Config::parse(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
    }

    fn err(s: &str) -> String {
        Config::parse(s).unwrap_err().to_string()
    }

    fn tcp(h: &str) -> Host {
        Host::Tcp(h.into())
    }

    fn unix(h: &str) -> Host {
        Host::Unix(h.into())
    }

    #[test]
    fn empty_and_blank_strings() {
        assert_eq!(parse(""), Config::new());
        assert_eq!(parse("  \t\n "), Config::new());
        assert_eq!("".parse::<Config>().unwrap(), Config::new());
    }

    #[test]
    fn key_value_basics() {
        let c = parse("host=localhost port=5433 user=alice dbname=db password=pw");
        assert_eq!(c.get_hosts(), &[tcp("localhost")]);
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_user(), Some("alice"));
        assert_eq!(c.get_dbname(), Some("db"));
        assert_eq!(c.get_password(), Some("pw"));
    }

    #[test]
    fn key_value_whitespace_around_equals() {
        let c = parse("  user = alice\tdbname\n=\ndb  ");
        assert_eq!(c.get_user(), Some("alice"));
        assert_eq!(c.get_dbname(), Some("db"));
    }

    #[test]
    fn key_value_quoting_and_escapes() {
        let c = parse(r"user='a b' dbname='x\'y\\z' options='-c a=b'");
        assert_eq!(c.get_user(), Some("a b"));
        assert_eq!(c.get_dbname(), Some(r"x'y\z"));
        assert_eq!(c.get_options(), Some("-c a=b"));
        let c = parse(r"password='it\'s' application_name=a\ b fallback_application_name=\'q");
        assert_eq!(c.get_password(), Some("it's"));
        assert_eq!(c.get_application_name(), Some("a b"));
        assert_eq!(c.get_fallback_application_name(), Some("'q"));
        let c = parse("user='' dbname='ünïcødé'");
        assert_eq!(c.get_user(), None);
        assert_eq!(c.get_dbname(), Some("ünïcødé"));
        // A quoted value may be followed directly by the next pair.
        let c = parse("user='a'dbname=b");
        assert_eq!(c.get_user(), Some("a"));
        assert_eq!(c.get_dbname(), Some("b"));
    }

    #[test]
    fn key_value_later_wins_and_empty_unsets() {
        let c = parse("user=a user=b");
        assert_eq!(c.get_user(), Some("b"));
        let c = parse("host=a host='' user=x");
        assert!(c.get_hosts().is_empty());
        // As in libpq, blanks after '=' are skipped, so the next pair
        // becomes the value.
        let c = parse("user= dbname=x");
        assert_eq!(c.get_user(), Some("dbname=x"));
        assert_eq!(c.get_dbname(), None);
    }

    #[test]
    fn key_value_errors() {
        assert_eq!(err("foo=bar"), "invalid connection option \"foo\"");
        assert_eq!(err("database=x"), "invalid connection option \"database\"");
        assert_eq!(err("Host=x"), "invalid connection option \"Host\"");
        assert_eq!(err("=x"), "invalid connection option \"\"");
        assert_eq!(
            err("user=a dbname"),
            "missing \"=\" after \"dbname\" in connection info string (at byte 7)"
        );
        assert_eq!(
            Config::parse("user x=1").unwrap_err(),
            ConfigError::MissingEquals {
                key: "user".into(),
                position: 0
            }
        );
        assert_eq!(
            err("user='abc"),
            "unterminated quoted string in connection info string (quote at byte 5)"
        );
        assert_eq!(
            Config::parse(r"user=x dbname='abc\'").unwrap_err(),
            ConfigError::UnterminatedQuote { position: 14 }
        );
        assert_eq!(
            Config::parse(r"user='\").unwrap_err(),
            ConfigError::UnterminatedQuote { position: 5 }
        );
    }

    #[test]
    fn unquoted_password_with_space_is_not_echoed() {
        for s in [
            "password=abc def user=x",
            "password=abc def=ghi",
            "sslpassword=abc def",
            "user=u password=abc def",
        ] {
            let e = Config::parse(s).unwrap_err();
            let msg = e.to_string();
            assert!(!msg.contains("def"), "{s}: {msg}");
            assert!(
                matches!(e, ConfigError::TextAfterPassword { .. }),
                "{s}: {e:?}"
            );
        }
        assert_eq!(
            err("password=abc def"),
            "unexpected text at byte 13 after the unquoted password value \
             (not shown; quote values that contain spaces)"
        );
        // Quoted, the next word is reported normally.
        assert_eq!(
            err("password='abc' def"),
            ConfigError::MissingEquals {
                key: "def".into(),
                position: 15
            }
            .to_string()
        );
    }

    #[test]
    fn host_and_port_lists() {
        let c = parse("host=a,/tmp,::1 port=1,2,3");
        assert_eq!(c.get_hosts(), &[tcp("a"), unix("/tmp"), tcp("::1")]);
        assert_eq!(c.get_ports(), &[1, 2, 3]);
        let c = parse("host=a,b port=6000");
        assert_eq!(c.get_ports(), &[6000]);
        let c = parse("host=a,b port=6000,");
        assert_eq!(c.get_ports(), &[6000, 5432]);
        let c = parse("host=/var/run/postgresql");
        assert_eq!(c.get_hosts(), &[unix("/var/run/postgresql")]);
        assert_eq!(
            err("host=a,,b"),
            "invalid host value: \"a,,b\" (expected a comma-separated list of \
             non-empty host names or socket directories)"
        );
        assert_eq!(
            err("host=a,b port=1,2,3"),
            "could not match 3 port numbers to 2 hosts"
        );
    }

    #[test]
    fn hostaddr() {
        let c = parse("host=db.example hostaddr=10.0.0.1");
        assert_eq!(c.get_hostaddrs(), &["10.0.0.1".parse::<IpAddr>().unwrap()]);
        let c = parse("hostaddr=::1,127.0.0.1");
        assert_eq!(c.get_hostaddrs().len(), 2);
        assert_eq!(
            err("hostaddr=localhost"),
            "invalid hostaddr value: \"localhost\" (expected a comma-separated list \
             of numeric IPv4 or IPv6 addresses)"
        );
        assert!(Config::parse("hostaddr=1.2.3.4,").is_err());
    }

    #[test]
    fn bad_ports() {
        for (s, v) in [
            ("port=0", "0"),
            ("port=65536", "65536"),
            ("port=-1", "-1"),
            ("port=abc", "abc"),
            ("port=5432x", "5432x"),
            ("port=99999999999", "99999999999"),
            ("port=1,x", "x"),
        ] {
            assert_eq!(
                Config::parse(s).unwrap_err(),
                ConfigError::InvalidPort { value: v.into() },
                "{s}"
            );
        }
        assert_eq!(
            err("port=x"),
            "invalid port number: \"x\" (expected 1 to 65535)"
        );
        assert_eq!(parse("port=65535").get_ports(), &[65535]);
        assert_eq!(parse("port=' 6000 '").get_ports(), &[6000]);
    }

    #[test]
    fn numeric_options() {
        let c = parse("connect_timeout=10 keepalives=0 keepalives_idle=30 keepalives_interval=5 keepalives_count=3");
        assert_eq!(c.get_connect_timeout(), Some(Duration::from_secs(10)));
        assert!(!c.get_keepalives());
        assert_eq!(c.get_keepalives_idle(), Some(Duration::from_secs(30)));
        assert_eq!(c.get_keepalives_interval(), Some(Duration::from_secs(5)));
        assert_eq!(c.get_keepalives_count(), Some(3));
        assert_eq!(
            parse("connect_timeout=1").get_connect_timeout(),
            Some(Duration::from_secs(2))
        );
        assert_eq!(parse("connect_timeout=0").get_connect_timeout(), None);
        assert_eq!(parse("connect_timeout=-5").get_connect_timeout(), None);
        assert_eq!(parse("keepalives_count=-1").get_keepalives_count(), None);
        assert!(parse("keepalives=2").get_keepalives());
        assert_eq!(
            err("connect_timeout=ten"),
            "invalid connect_timeout value: \"ten\" (expected an integer)"
        );
        assert!(Config::parse("keepalives=1.5").is_err());
        assert!(Config::parse("keepalives_idle=3000000000").is_err());
    }

    #[test]
    fn enum_options() {
        let c = parse(
            "sslmode=verify-ca sslnegotiation=direct gssencmode=prefer channel_binding=require \
             target_session_attrs=prefer-standby load_balance_hosts=random sslsni=0",
        );
        assert_eq!(c.get_sslmode(), SslMode::VerifyCa);
        assert_eq!(c.get_sslnegotiation(), SslNegotiation::Direct);
        assert_eq!(c.get_gssencmode(), GssEncMode::Prefer);
        assert_eq!(c.get_channel_binding(), ChannelBinding::Require);
        assert_eq!(
            c.get_target_session_attrs(),
            TargetSessionAttrs::PreferStandby
        );
        assert_eq!(c.get_load_balance_hosts(), LoadBalanceHosts::Random);
        assert!(!c.get_sslsni());
        assert_eq!(
            err("sslmode=verify"),
            "invalid sslmode value: \"verify\" (expected disable, allow, prefer, \
             require, verify-ca or verify-full)"
        );
        assert_eq!(
            err("sslmode=REQUIRE"),
            "invalid sslmode value: \"REQUIRE\" (expected disable, allow, prefer, \
             require, verify-ca or verify-full)"
        );
        assert!(Config::parse("sslnegotiation=requiredirect").is_err());
        assert!(Config::parse("gssencmode=allow").is_err());
        assert!(Config::parse("channel_binding=yes").is_err());
        assert!(Config::parse("target_session_attrs=readwrite").is_err());
        assert!(Config::parse("load_balance_hosts=1").is_err());
        assert_eq!(
            err("sslsni=yes"),
            "invalid sslsni value: \"yes\" (expected 0 or 1)"
        );
        assert!(Config::parse("require_auth=md5,!md5").is_err());
    }

    #[test]
    fn string_options() {
        let c = parse(
            "client_encoding=UTF8 sslrootcert=/r.crt sslcert=/c.crt sslkey=/c.key \
             sslpassword=kp passfile=/pgpass options='-c result_format_code=HyperBinary'",
        );
        assert_eq!(c.get_client_encoding(), Some("UTF8"));
        assert_eq!(c.get_sslrootcert(), Some("/r.crt"));
        assert_eq!(c.get_sslcert(), Some("/c.crt"));
        assert_eq!(c.get_sslkey(), Some("/c.key"));
        assert_eq!(c.get_sslpassword(), Some("kp"));
        assert_eq!(c.get_passfile(), Some("/pgpass"));
        assert_eq!(c.get_options(), Some("-c result_format_code=HyperBinary"));
    }

    #[test]
    fn uri_full() {
        let c = parse(
            "postgresql://alice:s3cret@db.example:5433/mydb?sslmode=require&application_name=app",
        );
        assert_eq!(c.get_user(), Some("alice"));
        assert_eq!(c.get_password(), Some("s3cret"));
        assert_eq!(c.get_hosts(), &[tcp("db.example")]);
        assert_eq!(c.get_ports(), &[5433]);
        assert_eq!(c.get_dbname(), Some("mydb"));
        assert_eq!(c.get_sslmode(), SslMode::Require);
        assert_eq!(c.get_application_name(), Some("app"));
        assert_eq!(parse("postgres://h/d"), parse("postgresql://h/d"));
    }

    #[test]
    fn uri_missing_parts() {
        assert_eq!(parse("postgresql://"), Config::new());
        assert_eq!(parse("postgres://"), Config::new());
        assert_eq!(parse("postgresql:///"), Config::new());
        assert_eq!(parse("postgresql://?"), Config::new());
        let c = parse("postgresql://localhost");
        assert_eq!(c.get_hosts(), &[tcp("localhost")]);
        assert_eq!(c.get_ports(), &[5432]);
        let c = parse("postgresql://:5433");
        assert!(c.get_hosts().is_empty());
        assert_eq!(c.get_ports(), &[5433]);
        let c = parse("postgresql:///mydb");
        assert!(c.get_hosts().is_empty());
        assert_eq!(c.get_dbname(), Some("mydb"));
        let c = parse("postgresql://user@");
        assert_eq!(c.get_user(), Some("user"));
        assert!(c.get_hosts().is_empty());
        let c = parse("postgresql://user:@host");
        assert_eq!(c.get_password(), None);
        let c = parse("postgresql://:pw@host");
        assert_eq!(c.get_user(), None);
        assert_eq!(c.get_password(), Some("pw"));
        let c = parse("postgresql://host/?user=u");
        assert_eq!(c.get_dbname(), None);
        assert_eq!(c.get_user(), Some("u"));
        let c = parse("postgresql://host?dbname=d");
        assert_eq!(c.get_dbname(), Some("d"));
        let c = parse("postgresql://host/a/b");
        assert_eq!(c.get_dbname(), Some("a/b"));
    }

    #[test]
    fn uri_percent_decoding() {
        let c = parse("postgresql://us%40er:p%3Aw%2F%25d@h%6Fst/d%20b?application_name=a%26b%3Dc");
        assert_eq!(c.get_user(), Some("us@er"));
        assert_eq!(c.get_password(), Some("p:w/%d"));
        assert_eq!(c.get_hosts(), &[tcp("host")]);
        assert_eq!(c.get_dbname(), Some("d b"));
        assert_eq!(c.get_application_name(), Some("a&b=c"));
        // '+' is not a space in libpq URIs.
        assert_eq!(parse("postgresql:///a+b").get_dbname(), Some("a+b"));
        assert_eq!(parse("postgresql:///%C3%A9").get_dbname(), Some("é"));
        assert_eq!(parse("postgresql://h%3a1").get_hosts(), &[tcp("h:1")]);
    }

    #[test]
    fn uri_unix_socket_hosts() {
        let c = parse("postgresql://%2Fvar%2Frun%2Fpostgresql/db");
        assert_eq!(c.get_hosts(), &[unix("/var/run/postgresql")]);
        assert_eq!(c.get_dbname(), Some("db"));
        let c = parse("postgresql://%2ftmp:5433");
        assert_eq!(c.get_hosts(), &[unix("/tmp")]);
        assert_eq!(c.get_ports(), &[5433]);
        let c = parse("postgresql:///db?host=/tmp");
        assert_eq!(c.get_hosts(), &[unix("/tmp")]);
        let c = parse("postgresql:///db?host=%2Ftmp&port=5555");
        assert_eq!(c.get_hosts(), &[unix("/tmp")]);
        assert_eq!(c.get_ports(), &[5555]);
        // Query parameters override the authority.
        let c = parse("postgresql://h:1/db?host=/s&port=2");
        assert_eq!(c.get_hosts(), &[unix("/s")]);
        assert_eq!(c.get_ports(), &[2]);
    }

    #[test]
    fn uri_ipv6() {
        let c = parse("postgresql://[::1]:5433/db");
        assert_eq!(c.get_hosts(), &[tcp("::1")]);
        assert_eq!(c.get_ports(), &[5433]);
        let c = parse("postgresql://[2001:db8::1]");
        assert_eq!(c.get_hosts(), &[tcp("2001:db8::1")]);
        let c = parse("postgresql://u@[fe80::1%25eth0]?sslmode=disable");
        assert_eq!(c.get_hosts(), &[tcp("fe80::1%eth0")]);
        assert_eq!(c.get_sslmode(), SslMode::Disable);
        let c = parse("postgresql://[::1],[::2]:6000");
        assert_eq!(c.get_hosts(), &[tcp("::1"), tcp("::2")]);
        assert_eq!(c.get_ports(), &[5432, 6000]);
    }

    #[test]
    fn uri_multiple_hosts() {
        let c = parse("postgresql://h1:5001,h2:5002,h3:5003/db?target_session_attrs=read-write");
        assert_eq!(c.get_hosts(), &[tcp("h1"), tcp("h2"), tcp("h3")]);
        assert_eq!(c.get_ports(), &[5001, 5002, 5003]);
        assert_eq!(c.get_target_session_attrs(), TargetSessionAttrs::ReadWrite);
        let c = parse("postgresql://h1,h2:5002");
        assert_eq!(c.get_ports(), &[5432, 5002]);
        let c = parse("postgresql://h1,h2");
        assert_eq!(c.get_hosts(), &[tcp("h1"), tcp("h2")]);
        assert_eq!(c.get_ports(), &[5432]);
        let c = parse("postgresql://u:p@h1,%2Ftmp:7,[::1]/d");
        assert_eq!(c.get_hosts(), &[tcp("h1"), unix("/tmp"), tcp("::1")]);
        assert_eq!(c.get_ports(), &[5432, 7, 5432]);
        assert_eq!(c.get_user(), Some("u"));
    }

    #[test]
    fn uri_query_params() {
        let c = parse(
            "postgresql:///?connect_timeout=5&sslrootcert=system&require_auth=!password&\
             max_protocol_version=latest&options=-c%20a%3Db&",
        );
        assert_eq!(c.get_connect_timeout(), Some(Duration::from_secs(5)));
        assert_eq!(c.get_sslmode(), SslMode::VerifyFull);
        assert!(!c.get_require_auth().allows(AuthMethod::Password));
        assert_eq!(c.get_max_protocol_version(), ProtocolVersion::V3_2);
        assert_eq!(c.get_options(), Some("-c a=b"));
        assert_eq!(
            parse("postgresql://h?ssl=true").get_sslmode(),
            SslMode::Require
        );
        assert_eq!(parse("postgresql://h?user=").get_user(), None);
    }

    #[test]
    fn uri_errors() {
        assert_eq!(
            err("postgresql://h?foo=bar"),
            "invalid connection option \"foo\""
        );
        assert_eq!(
            err("postgresql://h?ssl=false"),
            "invalid connection option \"ssl\""
        );
        assert_eq!(
            err("postgresql://h?user"),
            "invalid connection URI at byte 15: query parameter without \"=\""
        );
        assert_eq!(
            err("postgresql://h?user=1&&b=2"),
            "invalid connection URI at byte 22: query parameter without \"=\""
        );
        assert_eq!(
            err("postgresql://h?&"),
            "invalid connection URI at byte 15: query parameter without \"=\""
        );
        assert_eq!(
            err("postgresql://h?user=a=b"),
            "invalid connection URI at byte 15: query parameter with more than one \"=\""
        );
        assert_eq!(
            err("postgresql://[::1"),
            "invalid connection URI at byte 13: missing \"]\" after IPv6 host address"
        );
        assert_eq!(
            err("postgresql://[]:5432"),
            "invalid connection URI at byte 13: empty IPv6 host address"
        );
        assert_eq!(
            err("postgresql://[::1]x"),
            "invalid connection URI at byte 18: unexpected character after IPv6 host \
             address (expected \":\", \"/\", \"?\" or \",\")"
        );
        assert_eq!(
            err("postgresql://h:abc/db"),
            "invalid connection URI at byte 15: invalid port number (expected 1 to 65535)"
        );
        assert!(Config::parse("postgresql://h:0").is_err());
        assert!(Config::parse("postgresql://h:65536").is_err());
        assert_eq!(
            err("postgresql://a,,b"),
            "invalid connection URI at byte 15: empty host name in host list"
        );
        assert_eq!(
            err("postgresql://h1,h2,h3:1,h4/db?port=1,2"),
            "could not match 2 port numbers to 4 hosts"
        );
        assert_eq!(
            err("postgresql://h/%zz"),
            "invalid percent-encoding in URI database name: \"%\" must be followed \
             by two hexadecimal digits"
        );
        assert_eq!(
            err("postgresql://h/db%2"),
            "invalid percent-encoding in URI database name: \"%\" must be followed \
             by two hexadecimal digits"
        );
        assert_eq!(
            err("postgresql://h/db%00"),
            "invalid percent-encoding in URI database name: %00 is not allowed"
        );
        assert_eq!(
            err("postgresql://h/%FF"),
            "invalid percent-encoding in URI database name: the decoded bytes are \
             not valid UTF-8"
        );
        assert_eq!(
            err("postgresql://h?application_name=%G1"),
            "invalid percent-encoding in URI query parameter \"application_name\": \
             \"%\" must be followed by two hexadecimal digits"
        );
        assert_eq!(
            err("postgresql://h?sslmode=nope"),
            "invalid sslmode value: \"nope\" (expected disable, allow, prefer, \
             require, verify-ca or verify-full)"
        );
        // Not a URI: the prefix must be exact and at the start.
        assert!(matches!(
            Config::parse(" postgresql://h").unwrap_err(),
            ConfigError::MissingEquals { .. }
        ));
        assert!(Config::parse("POSTGRESQL://h").is_err());
        assert!(Config::parse("postgresql:/h").is_err());
    }

    #[test]
    fn uri_errors_never_show_passwords() {
        for s in [
            "postgresql://u:sek%zzrit@h/db",
            "postgresql://u:sek%00rit@h/db",
            "postgresql://u:sek%FFrit@h/db",
            // An unencoded '/' in the password moves it into the port.
            "postgresql://u:sek/rit@h/db",
            "postgresql://h?password=sek%zzrit",
            "postgresql://h?password=sek=rit",
        ] {
            let msg = err(s);
            assert!(!msg.contains("sek") && !msg.contains("rit"), "{s}: {msg}");
        }
        assert_eq!(
            err("postgresql://u:p%G@h"),
            "invalid percent-encoding in URI password: \"%\" must be followed by two \
             hexadecimal digits"
        );
    }

    #[test]
    fn uri_with_question_mark_in_password() {
        // As in libpq, only '/' ends the search for '@'.
        let c = parse("postgresql://u:p?w@h/d");
        assert_eq!(c.get_password(), Some("p?w"));
        assert_eq!(c.get_hosts(), &[tcp("h")]);
    }

    #[test]
    fn uri_and_key_value_agree() {
        assert_eq!(
            parse("postgresql://u:p@h:1/d?sslmode=disable"),
            parse("user=u password=p host=h port=1 dbname=d sslmode=disable")
        );
        let mut expected = Config::new();
        expected
            .host(tcp("h"))
            .port(1)
            .user("u")
            .dbname("d")
            .sslmode(SslMode::Disable);
        assert_eq!(
            parse("host=h port=1 user=u dbname=d sslmode=disable"),
            expected
        );
    }

    #[test]
    fn set_value_covers_every_key() {
        let keys = [
            ("host", "h"),
            ("hostaddr", "127.0.0.1"),
            ("port", "1"),
            ("user", "u"),
            ("password", "p"),
            ("dbname", "d"),
            ("application_name", "a"),
            ("fallback_application_name", "f"),
            ("options", "o"),
            ("client_encoding", "UTF8"),
            ("connect_timeout", "3"),
            ("keepalives", "1"),
            ("keepalives_idle", "1"),
            ("keepalives_interval", "1"),
            ("keepalives_count", "1"),
            ("sslmode", "require"),
            ("sslnegotiation", "direct"),
            ("sslrootcert", "r"),
            ("sslcert", "c"),
            ("sslkey", "k"),
            ("sslsni", "1"),
            ("sslpassword", "sp"),
            ("gssencmode", "disable"),
            ("require_auth", "md5"),
            ("channel_binding", "disable"),
            ("target_session_attrs", "any"),
            ("min_protocol_version", "3.0"),
            ("max_protocol_version", "3.2"),
            ("passfile", "pf"),
            ("load_balance_hosts", "random"),
        ];
        let mut c = Config::new();
        for (name, value) in keys {
            let key = Key::from_name(name).unwrap();
            assert_eq!(key.name(), name);
            assert!(!c.is_set(key), "{name}");
            c.set_value(key, value).unwrap();
            assert!(c.is_set(key), "{name}");
        }
        c.validate().unwrap();
        for (name, _) in keys {
            let key = Key::from_name(name).unwrap();
            c.set_value(key, "").unwrap();
            assert!(!c.is_set(key), "{name}");
        }
        assert_eq!(c, Config::new());
        let all: Vec<_> = keys
            .iter()
            .map(|(n, v)| alloc::format!("{n}='{v}'"))
            .collect();
        let c = parse(&all.join(" "));
        assert_eq!(c.get_require_auth(), "md5".parse().unwrap());
        assert_eq!(vec![1], c.get_ports().to_vec());
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn never_panics_on_any_string(s in any::<String>()) {
                let _ = Config::parse(&s);
            }

            #[test]
            fn never_panics_on_key_value_like(s in "[a-z_ =',\\\\/\\[\\]:%0-9!\t]{0,40}") {
                let _ = Config::parse(&s);
                let _ = Config::parse(&alloc::format!("host={s}"));
                let _ = Config::parse(&alloc::format!("require_auth={s}"));
            }

            #[test]
            fn never_panics_on_uri_like(s in "[a-z@:/?&=%,\\[\\]0-9.!éF]{0,40}") {
                let _ = Config::parse(&alloc::format!("postgresql://{s}"));
                let _ = Config::parse(&alloc::format!("postgres://u:p@{s}"));
            }

            #[test]
            fn quoted_values_round_trip(v in any::<String>()) {
                let quoted: String = v
                    .chars()
                    .flat_map(|c| match c {
                        '\'' | '\\' => vec!['\\', c],
                        c => vec![c],
                    })
                    .collect();
                let c = Config::parse(&alloc::format!("application_name='{quoted}'")).unwrap();
                let expected = if v.is_empty() { None } else { Some(v.as_str()) };
                prop_assert_eq!(c.get_application_name(), expected);
            }
        }
    }
}
