//! What the machine needs to start a connection, derived from a [`Config`].

use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use crate::auth::SaltedPassword;
use crate::codec::ProtocolVersion;
use crate::config::{ChannelBinding, Config, GssEncMode, RequireAuth, SslMode, SslNegotiation};
use crate::error::Error;

/// How the connection gets encrypted before the StartupMessage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsPlan {
    /// Plain TCP or a unix socket: no SSLRequest.
    Disabled,
    /// Send SSLRequest; continue in plaintext if the server says 'N'.
    Prefer,
    /// Send SSLRequest; 'N' is fatal.
    Require,
    /// TLS from the first byte (`sslnegotiation=direct`, PostgreSQL 17+): the adapter
    /// handshakes at once, with ALPN `postgresql`.
    Direct,
}

/// The machine's startup settings.
#[derive(Clone)]
pub struct Settings {
    pub(crate) params: Vec<(String, String)>,
    pub(crate) password: Option<Vec<u8>>,
    pub(crate) require_auth: RequireAuth,
    pub(crate) require_auth_text: String,
    pub(crate) channel_binding: ChannelBinding,
    pub(crate) tls: TlsPlan,
    pub(crate) gssenc_probe: bool,
    pub(crate) min_protocol: ProtocolVersion,
    pub(crate) max_protocol: ProtocolVersion,
    pub(crate) max_message_size: u32,
    pub(crate) drain_budget: u64,
    pub(crate) scram_cache: Option<SaltedPassword>,
    pub(crate) max_scram_iterations: u32,
}

/// The default largest message accepted from the server: 1 GiB.
pub const DEFAULT_MAX_MESSAGE_SIZE: u32 = 1 << 30;
/// The default number of messages drained for an abandoned request.
pub const DEFAULT_DRAIN_BUDGET: u64 = 1024;

impl Settings {
    /// Settings for `user` with every other option at its libpq default, except TLS,
    /// which is off (the adapter decides, see [`Settings::tls`]).
    pub fn new(user: &str) -> Settings {
        Settings {
            params: alloc::vec![("user".to_string(), user.to_string())],
            password: None,
            require_auth: RequireAuth::default(),
            require_auth_text: String::new(),
            channel_binding: ChannelBinding::default(),
            tls: TlsPlan::Disabled,
            gssenc_probe: false,
            min_protocol: ProtocolVersion::V3_0,
            max_protocol: ProtocolVersion::V3_0,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            drain_budget: DEFAULT_DRAIN_BUDGET,
            scram_cache: None,
            max_scram_iterations: crate::auth::DEFAULT_MAX_ITERATIONS,
        }
    }

    /// Settings from a parsed connection string, for a connection over `tls`.
    ///
    /// `tls` is what the adapter decided from `sslmode` for this attempt (for
    /// `sslmode=allow` the first attempt is plaintext; over a unix socket, TLS is off).
    pub fn from_config(config: &Config, tls: TlsPlan) -> Result<Settings, Error> {
        if config.get_gssencmode() == GssEncMode::Require {
            return Err(Error::Auth(crate::error::AuthError::Unsupported(
                "GSSAPI encryption (gssencmode=require)",
            )));
        }
        if config.get_sslnegotiation() == SslNegotiation::Direct
            && !matches!(
                config.get_sslmode(),
                SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
            )
        {
            return Err(Error::Config(crate::config::ConfigError::InvalidValue {
                key: "sslnegotiation",
                value: "direct".to_string(),
                expected: "sslmode=require, verify-ca or verify-full with direct SSL negotiation",
            }));
        }
        let mut s = Settings::new("");
        s.params = config.startup_params().into_iter().collect();
        s.password = config.get_password().map(|p| p.as_bytes().to_vec());
        s.require_auth = config.get_require_auth();
        s.require_auth_text = config.get_require_auth().to_string();
        s.channel_binding = config.get_channel_binding();
        s.tls = tls;
        s.min_protocol = config.get_min_protocol_version();
        s.max_protocol = config.get_max_protocol_version();
        Ok(s)
    }

    /// Adds or replaces a startup parameter (`options`, `application_name`, ...).
    pub fn param(&mut self, name: &str, value: &str) -> &mut Self {
        match self.params.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.params.push((name.to_string(), value.to_string())),
        }
        self
    }

    /// The password for cleartext, MD5 or SCRAM.
    pub fn password(&mut self, password: impl AsRef<[u8]>) -> &mut Self {
        self.password = Some(password.as_ref().to_vec());
        self
    }

    /// The `require_auth` policy.
    pub fn require_auth(&mut self, policy: RequireAuth) -> &mut Self {
        self.require_auth_text = policy.to_string();
        self.require_auth = policy;
        self
    }

    /// The `channel_binding` policy.
    pub fn channel_binding(&mut self, policy: ChannelBinding) -> &mut Self {
        self.channel_binding = policy;
        self
    }

    /// How to negotiate encryption.
    pub fn tls(&mut self, plan: TlsPlan) -> &mut Self {
        self.tls = plan;
        self
    }

    /// Send a GSSENCRequest first and continue when the server refuses it. This
    /// client has no GSSAPI, so `gssencmode=prefer` does not probe (as libpq built
    /// without GSSAPI); this exists to test servers' answers, such as Hyper's 'N'.
    pub fn gssenc_request(&mut self, probe: bool) -> &mut Self {
        self.gssenc_probe = probe;
        self
    }

    /// The lowest and highest protocol versions to accept (libpq's
    /// `min_protocol_version` / `max_protocol_version`); the StartupMessage asks for
    /// `max`.
    pub fn protocol_versions(&mut self, min: ProtocolVersion, max: ProtocolVersion) -> &mut Self {
        self.min_protocol = min;
        self.max_protocol = max;
        self
    }

    /// The largest message body accepted from the server (checked from the header,
    /// before buffering).
    pub fn max_message_size(&mut self, bytes: u32) -> &mut Self {
        self.max_message_size = bytes;
        self
    }

    /// How many messages an abandoned request may still produce before the machine
    /// gives up and declares the connection desynchronized.
    pub fn drain_budget(&mut self, messages: u64) -> &mut Self {
        self.drain_budget = messages;
        self
    }

    /// A salted SCRAM password from an earlier connection
    /// ([`crate::Protocol::scram_salted_password`]); used only if the server sends the
    /// same salt and iteration count for the same password, skipping PBKDF2.
    pub fn scram_cache(&mut self, entry: SaltedPassword) -> &mut Self {
        self.scram_cache = Some(entry);
        self
    }

    /// The highest SCRAM iteration count accepted (bounds the CPU a server can demand).
    pub fn max_scram_iterations(&mut self, n: u32) -> &mut Self {
        self.max_scram_iterations = n;
        self
    }

    pub(crate) fn user(&self) -> &str {
        self.params
            .iter()
            .find(|(n, _)| n == "user")
            .map(|(_, v)| v.as_str())
            .unwrap_or("")
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("params", &self.params)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field("require_auth", &self.require_auth_text)
            .field("channel_binding", &self.channel_binding)
            .field("tls", &self.tls)
            .field("min_protocol", &self.min_protocol)
            .field("max_protocol", &self.max_protocol)
            .field("max_message_size", &self.max_message_size)
            .field("drain_budget", &self.drain_budget)
            .finish_non_exhaustive()
    }
}
