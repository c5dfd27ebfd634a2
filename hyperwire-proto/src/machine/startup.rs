//! Startup: encryption answer, StartupMessage, authentication, and the messages up
//! to the first ReadyForQuery. Every policy check happens before a secret is sent.

use alloc::string::String;
use alloc::vec::Vec;

use crate::auth::{self, ScramBinding, ScramClient};
use crate::codec::{frontend, Authentication, BackendMessage, ProtocolVersion};
use crate::config::{AuthMethod, ChannelBinding};
use crate::error::{AuthError, ClosedReason, Error, ProtocolError};
use crate::machine::dispatch::Action;
use crate::machine::state::{Phase, State};
use crate::machine::TlsPlan;
use crate::server_error::ServerError;

const SCRAM: &str = "SCRAM-SHA-256";
const SCRAM_PLUS: &str = "SCRAM-SHA-256-PLUS";

impl State {
    pub(super) fn send_startup(&mut self) {
        let version = self.version;
        let params = self
            .settings
            .params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()));
        match frontend::startup(&mut self.send, version, params) {
            Ok(()) => self.phase = Phase::Authenticating,
            Err(e) => self.fail(e.into()),
        }
    }

    /// After any GSSENCRequest: SSLRequest, TLS at once, or the StartupMessage.
    pub(super) fn begin_tls_or_startup(&mut self) {
        match self.settings.tls {
            TlsPlan::Disabled => self.send_startup(),
            TlsPlan::Prefer | TlsPlan::Require => {
                frontend::ssl_request(&mut self.send);
                self.phase = Phase::AwaitTlsAnswer;
            }
            TlsPlan::Direct => self.phase = Phase::TlsHandshake,
        }
    }

    /// The one-byte answer to GSSENCRequest. 'N' continues; 'G' would need GSSAPI,
    /// which this client does not have.
    pub(super) fn on_gss_answer(&mut self, answer: u8, extra: bool) {
        match answer {
            // Nothing may follow before our next message.
            _ if extra => self.fail(ProtocolError::UnencryptedBytesAfterTlsAnswer.into()),
            b'N' => {
                self.queued
                    .push_back(crate::Event::GssEncAnswer { accepted: false });
                self.begin_tls_or_startup();
            }
            b'G' => self.fail(AuthError::Unsupported("GSSAPI encryption").into()),
            other => self.fail(ProtocolError::BadEncryptionAnswer(other).into()),
        }
    }

    /// The one-byte answer to SSLRequest. `extra`: more bytes were already received.
    pub(super) fn on_tls_answer(&mut self, answer: u8, extra: bool) {
        match answer {
            b'S' if extra => self.fail(ProtocolError::UnencryptedBytesAfterTlsAnswer.into()),
            b'S' => {
                self.phase = Phase::TlsHandshake;
                self.queued
                    .push_back(crate::Event::TlsAnswer { accepted: true });
            }
            b'N' if self.settings.tls == TlsPlan::Require => self.fail(Error::TlsRefused),
            b'N' => {
                self.queued
                    .push_back(crate::Event::TlsAnswer { accepted: false });
                self.send_startup();
            }
            other => self.fail(ProtocolError::BadEncryptionAnswer(other).into()),
        }
    }

    /// A message before the first ReadyForQuery: authentication, parameters, the
    /// cancel key.
    pub(super) fn on_startup_message(&mut self, msg: &BackendMessage<'_>) -> Result<Action, Error> {
        match (self.phase, msg) {
            (_, BackendMessage::ErrorResponse(fields)) => {
                Err(Error::Server(ServerError::from_fields(fields)))
            }
            (_, BackendMessage::NoticeResponse(_)) => Ok(Action::Forward(None)),
            (_, BackendMessage::ParameterStatus { name, value }) => {
                self.set_parameter(name, value);
                Ok(Action::Forward(None))
            }
            (Phase::Authenticating, BackendMessage::Authentication(a)) => self.on_auth(a),
            (
                Phase::Authenticating,
                BackendMessage::NegotiateProtocolVersion { newest_version, .. },
            ) => {
                self.on_negotiate(*newest_version)?;
                Ok(Action::Forward(None))
            }
            (
                Phase::AwaitReady,
                BackendMessage::BackendKeyData {
                    process_id,
                    secret_key,
                },
            ) => {
                if self.version == ProtocolVersion::V3_0 && secret_key.len() != 4 {
                    return Err(ProtocolError::Malformed {
                        message: "BackendKeyData",
                        reason: "protocol 3.0 cancel keys are 4 bytes",
                    }
                    .into());
                }
                self.backend_key = Some(crate::machine::BackendKey {
                    process_id: *process_id,
                    secret: secret_key.to_vec(),
                });
                Ok(Action::Forward(None))
            }
            (Phase::AwaitReady, BackendMessage::ReadyForQuery(status)) => {
                self.txn = *status;
                self.phase = Phase::Ready;
                self.queued
                    .push_back(crate::Event::StartupComplete { status: *status });
                Ok(Action::Absorb)
            }
            (_, other) => Err(ProtocolError::Unexpected {
                message: other.name(),
                state: "starting up",
            }
            .into()),
        }
    }

    fn on_negotiate(&mut self, newest_version: u32) -> Result<(), Error> {
        // PostgreSQL sends `major << 16 | minor`; a bare minor is read the same way.
        let major = newest_version >> 16;
        if major != 0 && major != u32::from(self.version.major) {
            return Err(ProtocolError::Negotiation(
                "server offered a different major protocol version",
            )
            .into());
        }
        let offered = u16::try_from(newest_version & 0xffff).unwrap_or(u16::MAX);
        if offered >= self.version.minor {
            return Err(ProtocolError::Negotiation(
                "server asked to \"downgrade\" to the same or a newer minor version",
            )
            .into());
        }
        let version = ProtocolVersion {
            major: self.version.major,
            minor: offered,
        };
        if version < self.settings.min_protocol {
            return Err(ProtocolError::Negotiation(
                "server supports only a protocol version below min_protocol_version",
            )
            .into());
        }
        self.version = version;
        Ok(())
    }

    fn check_method(&mut self, method: AuthMethod, name: &'static str) -> Result<(), Error> {
        self.auth_method = Some(method);
        if !self.settings.require_auth.allows(method) {
            return Err(AuthError::MethodRefused {
                method: name,
                require_auth: self.settings.require_auth_text.clone(),
            }
            .into());
        }
        Ok(())
    }

    fn password(&self) -> Result<&[u8], Error> {
        self.settings
            .password
            .as_deref()
            .ok_or(Error::Auth(AuthError::PasswordMissing))
    }

    fn on_auth(&mut self, auth: &Authentication<'_>) -> Result<Action, Error> {
        match auth {
            Authentication::Ok => self.on_auth_ok(),
            Authentication::CleartextPassword | Authentication::Md5Password { .. } => {
                let (method, name) = match auth {
                    Authentication::CleartextPassword => (AuthMethod::Password, "password"),
                    _ => (AuthMethod::Md5, "md5"),
                };
                self.check_method(method, name)?;
                if self.settings.channel_binding == ChannelBinding::Require {
                    return Err(AuthError::ChannelBindingRequired(
                        "the server asked for a password method without channel binding",
                    )
                    .into());
                }
                let password = self.password()?;
                let response = match auth {
                    Authentication::Md5Password { salt } => {
                        auth::md5_password(self.settings.user().as_bytes(), password, *salt)
                    }
                    _ => password.to_vec(),
                };
                frontend::password(&mut self.send, &response)?;
                Ok(Action::Absorb)
            }
            Authentication::Sasl(mechanisms) => {
                if self.scram.is_some() {
                    return Err(ProtocolError::Unexpected {
                        message: "AuthenticationSASL",
                        state: "already in a SASL exchange",
                    }
                    .into());
                }
                self.check_method(AuthMethod::ScramSha256, "SCRAM-SHA-256")?;
                self.start_scram(mechanisms.iter())?;
                Ok(Action::Absorb)
            }
            Authentication::SaslContinue(data) => {
                let cache = self.settings.scram_cache.clone();
                let scram = self.scram.as_mut().ok_or(ProtocolError::Unexpected {
                    message: "AuthenticationSASLContinue",
                    state: "not in a SASL exchange",
                })?;
                let client_final = scram.handle_server_first(data, cache.as_ref())?;
                self.salted = scram.salted_password().cloned();
                self.scram_key_reused = scram.reused_cached_key();
                frontend::sasl_response(&mut self.send, &client_final)?;
                Ok(Action::Absorb)
            }
            Authentication::SaslFinal(data) => {
                let scram = self.scram.as_mut().ok_or(ProtocolError::Unexpected {
                    message: "AuthenticationSASLFinal",
                    state: "not in a SASL exchange",
                })?;
                scram.handle_server_final(data)?;
                Ok(Action::Absorb)
            }
            Authentication::Gss | Authentication::GssContinue(_) => {
                self.check_method(AuthMethod::Gss, "GSSAPI")?;
                Err(AuthError::Unsupported("GSSAPI").into())
            }
            Authentication::Sspi => {
                self.check_method(AuthMethod::Sspi, "SSPI")?;
                Err(AuthError::Unsupported("SSPI").into())
            }
            Authentication::KerberosV5 => Err(AuthError::Unsupported("Kerberos V5").into()),
            Authentication::ScmCredential => Err(AuthError::Unsupported("SCM credential").into()),
        }
    }

    fn on_auth_ok(&mut self) -> Result<Action, Error> {
        if let Some(scram) = &self.scram {
            if !scram.is_verified() {
                return Err(AuthError::PrematureOk.into());
            }
        }
        let method = self.auth_method.unwrap_or(AuthMethod::None);
        if self.auth_method.is_none() && !self.settings.require_auth.allows(AuthMethod::None) {
            return Err(AuthError::NoAuthentication {
                require_auth: self.settings.require_auth_text.clone(),
            }
            .into());
        }
        if self.settings.channel_binding == ChannelBinding::Require && !self.scram_plus {
            return Err(AuthError::ChannelBindingRequired(
                "the server authenticated the client without channel binding",
            )
            .into());
        }
        self.auth_method = Some(method);
        self.phase = Phase::AwaitReady;
        self.queued.push_back(crate::Event::Authenticated);
        Ok(Action::Absorb)
    }

    fn start_scram<'m>(&mut self, mechanisms: impl Iterator<Item = &'m str>) -> Result<(), Error> {
        let mut offered = Vec::new();
        for m in mechanisms {
            offered.push(m);
        }
        let has_plain = offered.contains(&SCRAM);
        let has_plus = offered.contains(&SCRAM_PLUS);
        let policy = self.settings.channel_binding;
        if has_plus && !self.tls_active {
            return Err(AuthError::ChannelBindingInvalid(
                "the server offered SCRAM-SHA-256-PLUS over a connection without TLS",
            )
            .into());
        }
        let binding = match (&self.tls_binding, policy) {
            (Some(data), ChannelBinding::Prefer | ChannelBinding::Require) if has_plus => {
                ScramBinding::TlsServerEndPoint(data.clone())
            }
            (_, ChannelBinding::Require) => {
                return Err(AuthError::ChannelBindingRequired(if !self.tls_active {
                    "the connection is not encrypted"
                } else if !has_plus {
                    "the server did not offer SCRAM-SHA-256-PLUS"
                } else {
                    "the TLS layer gave no server certificate hash"
                })
                .into())
            }
            // We could bind but the server did not offer it: tell it so ('y'), which
            // lets a server that does support it detect a downgrade.
            (Some(_), ChannelBinding::Prefer) if has_plain => ScramBinding::SupportedNotUsed,
            _ if has_plain => ScramBinding::Unsupported,
            _ => {
                let mut list = String::new();
                for (i, m) in offered.iter().enumerate() {
                    if i > 0 {
                        list.push_str(", ");
                    }
                    list.push_str(m);
                }
                return Err(AuthError::NoSupportedMechanism(list).into());
            }
        };
        let password = self.password()?.to_vec();
        let mut random = [0u8; 18];
        let nonce = self
            .nonce
            .as_mut()
            .ok_or(AuthError::Unsupported("SCRAM without a nonce source"))?;
        nonce(&mut random);
        self.scram_plus = matches!(binding, ScramBinding::TlsServerEndPoint(_));
        let mut scram = ScramClient::new(&password, auth::nonce_from_random(&random), binding);
        scram.set_max_iterations(self.settings.max_scram_iterations);
        frontend::sasl_initial_response(&mut self.send, scram.mechanism(), &scram.client_first())?;
        self.scram = Some(scram);
        Ok(())
    }

    pub(super) fn set_parameter(&mut self, name: &str, value: &str) {
        match name {
            "hyper_version" => self.is_hyper = true,
            "result_format_code" => {
                self.session_format = if value.eq_ignore_ascii_case("hyperbinary") {
                    crate::codec::Format::HyperBinary
                } else {
                    crate::codec::Format::Text
                }
            }
            _ => {}
        }
        match self.params.get_mut(name) {
            Some(v) if v == value => {}
            Some(v) => {
                v.clear();
                v.push_str(value);
            }
            None => {
                self.params.insert(name.into(), value.into());
            }
        }
    }

    pub(super) fn on_eof_startup(&mut self) {
        self.fail(Error::Closed(ClosedReason::DuringStartup));
    }
}
