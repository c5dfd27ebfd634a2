//! SCRAM-SHA-256 and SCRAM-SHA-256-PLUS client (RFC 5802, RFC 7677), in the
//! flavour PostgreSQL speaks.
//!
//! The exchange, as seen by [`ScramClient`]:
//!
//! 1. [`ScramClient::client_first`] gives the client-first-message, sent in
//!    `SASLInitialResponse` together with [`ScramClient::mechanism`].
//! 2. The server answers with `AuthenticationSASLContinue`, whose payload goes
//!    to [`ScramClient::handle_server_first`]; it returns the
//!    client-final-message, sent in `SASLResponse`.
//! 3. The server answers with `AuthenticationSASLFinal`, whose payload goes to
//!    [`ScramClient::handle_server_final`]. Only if that returns `Ok` has the
//!    server proven that it knows the password.
//!
//! Any error is final: after it the client rejects every further message.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use hmac::digest::{Key, KeyInit};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use super::error::ScramError;

/// SASL mechanism name of SCRAM-SHA-256 without channel binding.
pub const SCRAM_SHA_256: &str = "SCRAM-SHA-256";

/// SASL mechanism name of SCRAM-SHA-256 with channel binding.
pub const SCRAM_SHA_256_PLUS: &str = "SCRAM-SHA-256-PLUS";

/// Default upper bound on the iteration count (`i=`) a server may ask for.
///
/// PBKDF2 costs one HMAC-SHA-256 per iteration, and the count is chosen by
/// the server, which the client does not trust yet. The bound keeps a hostile
/// or misconfigured server from making the client burn CPU for minutes.
/// PostgreSQL's default is 4096 (`scram_iterations`); one million leaves
/// ample room for hardened setups. Change it with
/// [`ScramClient::set_max_iterations`].
pub const DEFAULT_MAX_ITERATIONS: u32 = 1_000_000;

/// Length of SHA-256 output and of every SCRAM key.
const KEY_LEN: usize = 32;

/// Overwrites `buf` with zeros, best effort (the optimizer is told the
/// buffer is still looked at, so the stores are not removed).
fn wipe(buf: &mut [u8]) {
    buf.fill(0);
    core::hint::black_box(buf);
}

/// Constant-time equality of two byte strings. Only the lengths (which are
/// public) influence the timing.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b.iter()) {
        diff |= x ^ y;
    }
    core::hint::black_box(diff) == 0
}

/// HMAC-SHA-256 keyed with a 32-byte key over the concatenation of `data`.
///
/// HMAC zero-pads keys shorter than the hash block (RFC 2104), so the key is
/// padded to the 64-byte block here and the infallible constructor is used.
fn hmac_sha256(key: &[u8; KEY_LEN], data: &[&[u8]]) -> [u8; KEY_LEN] {
    let mut block = Key::<Hmac<Sha256>>::default();
    for (d, s) in block.iter_mut().zip(key.iter()) {
        *d = *s;
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&block);
    wipe(&mut block);
    for part in data {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Whether `nonce` is a valid SCRAM nonce: non-empty printable ASCII
/// (`0x21..=0x7e`) without `,`.
fn is_valid_nonce(nonce: &[u8]) -> bool {
    !nonce.is_empty()
        && nonce
            .iter()
            .all(|&b| (0x21..=0x7e).contains(&b) && b != b',')
}

/// Whether `attr` is a well-formed extension attribute: `<ALPHA>=<value>`.
fn is_extension(attr: &[u8]) -> bool {
    matches!(attr, [a, b'=', ..] if a.is_ascii_alphabetic())
}

/// Normalizes a password the way PostgreSQL's client does: SASLprep when the
/// password is UTF-8 and SASLprep accepts it, the raw bytes otherwise.
fn normalize_password(password: &[u8]) -> Vec<u8> {
    #[cfg(feature = "saslprep")]
    {
        if let Ok(text) = core::str::from_utf8(password) {
            if let Ok(prepped) = stringprep::saslprep(text) {
                return prepped.into_owned().into_bytes();
            }
        }
    }
    password.to_vec()
}

/// Escapes a user name as a SCRAM `saslname` (`=` → `=3D`, `,` → `=2C`).
fn escape_saslname(user: &str) -> String {
    let mut out = String::with_capacity(user.len());
    for c in user.chars() {
        match c {
            '=' => out.push_str("=3D"),
            ',' => out.push_str("=2C"),
            c => out.push(c),
        }
    }
    out
}

/// Encodes 18 random bytes as a 24-character client nonce (standard base64,
/// which is printable ASCII without `,` and, for 18 bytes, without padding).
///
/// The caller draws the bytes from a cryptographically secure generator;
/// this crate does no I/O and has no source of randomness.
#[must_use]
pub fn nonce_from_random(bytes: &[u8; 18]) -> String {
    STANDARD.encode(bytes)
}

/// How the client handles channel binding (the gs2 header).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScramBinding {
    /// Client does not support channel binding: gs2 header `n,,`.
    Unsupported,
    /// Client supports it but believes the server does not (server did not
    /// offer `-PLUS`): gs2 header `y,,`.
    SupportedNotUsed,
    /// SCRAM-SHA-256-PLUS with `tls-server-end-point`: gs2 header
    /// `p=tls-server-end-point,,`; the `Vec` is the certificate hash supplied
    /// by the TLS layer (RFC 5929 §4.1).
    TlsServerEndPoint(Vec<u8>),
}

impl ScramBinding {
    /// The gs2 header, including the empty authzid and both commas.
    fn gs2_header(&self) -> &'static [u8] {
        match self {
            ScramBinding::Unsupported => b"n,,",
            ScramBinding::SupportedNotUsed => b"y,,",
            ScramBinding::TlsServerEndPoint(_) => b"p=tls-server-end-point,,",
        }
    }

    /// The channel-binding data appended to the gs2 header in `c=`.
    fn cbind_data(&self) -> &[u8] {
        match self {
            ScramBinding::TlsServerEndPoint(hash) => hash,
            ScramBinding::Unsupported | ScramBinding::SupportedNotUsed => &[],
        }
    }
}

/// A cached PBKDF2 result (the SCRAM `SaltedPassword`), valid only for the
/// same password, salt and iteration count.
///
/// Caching it lets a reconnect skip the deliberately slow key derivation.
/// It holds the salt, the iteration count, a SHA-256 fingerprint of the
/// normalized password (domain-separated and salted, so that it is not a
/// plain password hash) and the 32-byte key. The key is a password
/// equivalent for this server: keep the cache in memory only. Its `Debug`
/// prints neither the key nor the fingerprint, and the key is overwritten
/// (best effort) on drop.
#[derive(Clone)]
pub struct SaltedPassword {
    salt: Vec<u8>,
    iterations: u32,
    fingerprint: [u8; KEY_LEN],
    key: [u8; KEY_LEN],
}

impl SaltedPassword {
    /// Runs PBKDF2-HMAC-SHA-256 over an already normalized password.
    fn derive(normalized_password: &[u8], salt: &[u8], iterations: u32) -> SaltedPassword {
        let mut key = [0u8; KEY_LEN];
        pbkdf2::pbkdf2_hmac::<Sha256>(normalized_password, salt, iterations, &mut key);
        SaltedPassword {
            salt: salt.to_vec(),
            iterations,
            fingerprint: fingerprint(normalized_password, salt),
            key,
        }
    }

    /// Whether this entry was derived from `password` (normalized the same
    /// way [`ScramClient`] normalizes it), `salt` and `iterations`.
    #[must_use]
    pub fn matches(&self, password: &[u8], salt: &[u8], iterations: u32) -> bool {
        let mut normalized = normalize_password(password);
        let result = self.matches_normalized(&normalized, salt, iterations);
        wipe(&mut normalized);
        result
    }

    fn matches_normalized(&self, normalized_password: &[u8], salt: &[u8], iterations: u32) -> bool {
        self.iterations == iterations
            && self.salt == salt
            && ct_eq(&fingerprint(normalized_password, salt), &self.fingerprint)
    }

    /// The (decoded) salt this entry was derived with.
    #[must_use]
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The iteration count this entry was derived with.
    #[must_use]
    pub fn iterations(&self) -> u32 {
        self.iterations
    }
}

/// Fingerprint identifying the password of a cache entry.
fn fingerprint(normalized_password: &[u8], salt: &[u8]) -> [u8; KEY_LEN] {
    let salt_len = u64::try_from(salt.len()).unwrap_or(u64::MAX);
    Sha256::new()
        .chain_update(b"hyperwire SCRAM cache fingerprint\0")
        .chain_update(salt_len.to_be_bytes())
        .chain_update(salt)
        .chain_update(normalized_password)
        .finalize()
        .into()
}

impl fmt::Debug for SaltedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SaltedPassword")
            .field("salt", &STANDARD.encode(&self.salt))
            .field("iterations", &self.iterations)
            .field("key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Drop for SaltedPassword {
    fn drop(&mut self) {
        wipe(&mut self.key);
        wipe(&mut self.fingerprint);
    }
}

/// Where the exchange stands.
enum State {
    /// client-first may be sent; waiting for server-first.
    AwaitingServerFirst,
    /// client-final was produced; waiting for server-final.
    AwaitingServerFinal { server_signature: [u8; KEY_LEN] },
    /// The server signature verified.
    Verified,
    /// An error occurred; the exchange is over.
    Failed,
}

impl State {
    fn describe(&self) -> &'static str {
        match self {
            State::AwaitingServerFirst => "awaiting the server-first-message",
            State::AwaitingServerFinal { .. } => "awaiting the server-final-message",
            State::Verified => "the exchange is already complete",
            State::Failed => "the exchange has already failed",
        }
    }
}

/// The parsed fields of a server-first-message.
struct ServerFirst<'a> {
    nonce: &'a [u8],
    salt: Vec<u8>,
    iterations: u32,
}

/// Parses `i=` digits, enforcing `1..=max`.
fn parse_iterations(value: &[u8], max: u32) -> Result<u32, ScramError> {
    if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
        return Err(ScramError::IterationCountNotANumber);
    }
    let mut n: u64 = 0;
    for &d in value {
        n = n
            .saturating_mul(10)
            .saturating_add(u64::from(d.wrapping_sub(b'0')));
    }
    if n == 0 {
        return Err(ScramError::IterationCountZero);
    }
    match u32::try_from(n) {
        Ok(n) if n <= max => Ok(n),
        _ => Err(ScramError::IterationCountTooLarge { max }),
    }
}

/// Parses `r=<nonce>,s=<salt>,i=<count>[,extensions]`.
fn parse_server_first(msg: &[u8], max_iterations: u32) -> Result<ServerFirst<'_>, ScramError> {
    if msg
        .split(|&b| b == b',')
        .any(|attr| attr.starts_with(b"m="))
    {
        return Err(ScramError::MandatoryExtension);
    }
    let mut attrs = msg.split(|&b| b == b',');

    let nonce = attrs
        .next()
        .and_then(|a| a.strip_prefix(b"r="))
        .ok_or(ScramError::MalformedServerFirst { attribute: "r" })?;
    if nonce.is_empty() {
        return Err(ScramError::MalformedServerFirst { attribute: "r" });
    }
    if !is_valid_nonce(nonce) {
        return Err(ScramError::InvalidNonce);
    }

    let salt_b64 = attrs
        .next()
        .and_then(|a| a.strip_prefix(b"s="))
        .ok_or(ScramError::MalformedServerFirst { attribute: "s" })?;
    let salt = STANDARD
        .decode(salt_b64)
        .map_err(|_| ScramError::InvalidSalt)?;
    if salt.is_empty() {
        return Err(ScramError::EmptySalt);
    }

    let iterations = attrs
        .next()
        .and_then(|a| a.strip_prefix(b"i="))
        .ok_or(ScramError::MalformedServerFirst { attribute: "i" })?;
    let iterations = parse_iterations(iterations, max_iterations)?;

    if !attrs.all(is_extension) {
        return Err(ScramError::MalformedServerFirst {
            attribute: "extension",
        });
    }

    Ok(ServerFirst {
        nonce,
        salt,
        iterations,
    })
}

/// Checks a server-final-message against the expected server signature.
fn check_server_final(msg: &[u8], expected: &[u8; KEY_LEN]) -> Result<(), ScramError> {
    let mut attrs = msg.split(|&b| b == b',');
    let first = attrs.next().unwrap_or_default();
    if let Some(text) = first.strip_prefix(b"e=") {
        return Err(ScramError::ServerError {
            message: String::from_utf8_lossy(text).into_owned(),
        });
    }
    let signature = first
        .strip_prefix(b"v=")
        .ok_or(ScramError::MalformedServerFinal)?;
    let signature = STANDARD
        .decode(signature)
        .map_err(|_| ScramError::MalformedServerFinal)?;
    if !attrs.all(is_extension) {
        return Err(ScramError::MalformedServerFinal);
    }
    if ct_eq(&signature, expected) {
        Ok(())
    } else {
        Err(ScramError::ServerSignatureMismatch)
    }
}

/// What a successful server-first step produces.
struct FirstStep {
    client_final: Vec<u8>,
    salted: SaltedPassword,
    /// The salted password came from the caller's cache (no PBKDF2 ran).
    reused: bool,
    server_signature: [u8; KEY_LEN],
}

/// Client side of one SCRAM-SHA-256(-PLUS) exchange.
///
/// One value serves one authentication attempt. Its `Debug` prints no
/// secrets; the normalized password it holds is overwritten (best effort)
/// as soon as the keys are derived, and on drop.
///
/// ```
/// use hyperwire_proto::auth::{ScramBinding, ScramClient};
///
/// let mut client = ScramClient::with_user(
///     "user",
///     b"pencil",
///     "rOprNGfwEbeRWgbNEkqO".into(),
///     ScramBinding::Unsupported,
/// );
/// assert_eq!(client.mechanism(), "SCRAM-SHA-256");
/// assert_eq!(client.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
/// let client_final = client
///     .handle_server_first(
///         b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
///         None,
///     )
///     .unwrap();
/// assert!(client_final.starts_with(b"c=biws,r="));
/// client
///     .handle_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
///     .unwrap();
/// assert!(client.is_verified());
/// ```
pub struct ScramClient {
    /// User name, already escaped as a saslname.
    user: String,
    /// Normalized password; emptied once no longer needed.
    password: Vec<u8>,
    client_nonce: String,
    binding: ScramBinding,
    max_iterations: u32,
    salted: Option<SaltedPassword>,
    reused_key: bool,
    state: State,
}

impl ScramClient {
    /// Starts an exchange with an empty user name (`n=`), as PostgreSQL's
    /// client does: the server uses the user of the startup message.
    ///
    /// `client_nonce` must be printable ASCII without `,` (the caller
    /// generates 18 random bytes and encodes them with
    /// [`nonce_from_random`]). It is not checked here; an invalid nonce makes
    /// [`handle_server_first`](Self::handle_server_first) fail with
    /// [`ScramError::InvalidClientNonce`].
    ///
    /// The password is any byte string; see the [module docs](super) for
    /// how it is normalized.
    #[must_use]
    pub fn new(password: &[u8], client_nonce: String, binding: ScramBinding) -> ScramClient {
        ScramClient::with_user("", password, client_nonce, binding)
    }

    /// Same as [`new`](Self::new), with an explicit user name in the
    /// client-first-message (PostgreSQL sends an empty `n=`; the RFC test
    /// vectors use `"user"`). `=` and `,` are escaped as `=3D` and `=2C`.
    #[must_use]
    pub fn with_user(
        user: &str,
        password: &[u8],
        client_nonce: String,
        binding: ScramBinding,
    ) -> ScramClient {
        ScramClient {
            user: escape_saslname(user),
            password: normalize_password(password),
            client_nonce,
            binding,
            max_iterations: DEFAULT_MAX_ITERATIONS,
            salted: None,
            reused_key: false,
            state: State::AwaitingServerFirst,
        }
    }

    /// Sets the largest iteration count (`i=`) the client accepts from the
    /// server; larger counts fail with
    /// [`ScramError::IterationCountTooLarge`] before any key derivation.
    /// Defaults to [`DEFAULT_MAX_ITERATIONS`].
    pub fn set_max_iterations(&mut self, n: u32) {
        self.max_iterations = n;
    }

    /// The mechanism name to send in `SASLInitialResponse`:
    /// [`SCRAM_SHA_256`] or, with [`ScramBinding::TlsServerEndPoint`],
    /// [`SCRAM_SHA_256_PLUS`].
    #[must_use]
    pub fn mechanism(&self) -> &'static str {
        match self.binding {
            ScramBinding::TlsServerEndPoint(_) => SCRAM_SHA_256_PLUS,
            ScramBinding::Unsupported | ScramBinding::SupportedNotUsed => SCRAM_SHA_256,
        }
    }

    /// The client-first-message: gs2 header followed by the
    /// client-first-message-bare (`n=<user>,r=<client nonce>`).
    #[must_use]
    pub fn client_first(&self) -> Vec<u8> {
        let mut out = self.binding.gs2_header().to_vec();
        self.push_client_first_bare(&mut out);
        out
    }

    fn push_client_first_bare(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"n=");
        out.extend_from_slice(self.user.as_bytes());
        out.extend_from_slice(b",r=");
        out.extend_from_slice(self.client_nonce.as_bytes());
    }

    /// Parses the server-first-message, derives the keys and returns the
    /// client-final-message (`c=...,r=...,p=...`).
    ///
    /// `cache` is used instead of running PBKDF2 only if it
    /// [`matches`](SaltedPassword::matches) this password and the server's
    /// salt and iteration count. Either way the salted password used is
    /// afterwards available from [`salted_password`](Self::salted_password).
    ///
    /// # Errors
    ///
    /// Any [`ScramError`] about the server-first-message, the nonces or the
    /// iteration count, or [`ScramError::UnexpectedMessage`] if this is not
    /// the first server message. The exchange is then failed for good.
    pub fn handle_server_first(
        &mut self,
        msg: &[u8],
        cache: Option<&SaltedPassword>,
    ) -> Result<Vec<u8>, ScramError> {
        let result = match self.state {
            State::AwaitingServerFirst => self.first_step(msg, cache),
            _ => Err(ScramError::UnexpectedMessage {
                received: "server-first-message",
                state: self.state.describe(),
            }),
        };
        // The password is not needed any more, whatever happened.
        wipe(&mut self.password);
        self.password.clear();
        match result {
            Ok(step) => {
                self.salted = Some(step.salted);
                self.reused_key = step.reused;
                self.state = State::AwaitingServerFinal {
                    server_signature: step.server_signature,
                };
                Ok(step.client_final)
            }
            Err(e) => {
                self.state = State::Failed;
                Err(e)
            }
        }
    }

    fn first_step(
        &self,
        msg: &[u8],
        cache: Option<&SaltedPassword>,
    ) -> Result<FirstStep, ScramError> {
        if !is_valid_nonce(self.client_nonce.as_bytes()) {
            return Err(ScramError::InvalidClientNonce);
        }
        let server_first = parse_server_first(msg, self.max_iterations)?;
        let server_part = server_first
            .nonce
            .strip_prefix(self.client_nonce.as_bytes())
            .ok_or(ScramError::NonceMismatch)?;
        if server_part.is_empty() {
            return Err(ScramError::NonceNotExtended);
        }

        let (salted, reused) = match cache {
            Some(entry)
                if entry.matches_normalized(
                    &self.password,
                    &server_first.salt,
                    server_first.iterations,
                ) =>
            {
                (entry.clone(), true)
            }
            _ => (
                SaltedPassword::derive(&self.password, &server_first.salt, server_first.iterations),
                false,
            ),
        };

        // client-final-message-without-proof
        let mut cbind_input = self.binding.gs2_header().to_vec();
        cbind_input.extend_from_slice(self.binding.cbind_data());
        let mut client_final = Vec::with_capacity(128);
        client_final.extend_from_slice(b"c=");
        client_final.extend_from_slice(STANDARD.encode(&cbind_input).as_bytes());
        client_final.extend_from_slice(b",r=");
        client_final.extend_from_slice(server_first.nonce);

        // AuthMessage = client-first-message-bare "," server-first-message ","
        //               client-final-message-without-proof
        let mut auth_message = Vec::with_capacity(256);
        self.push_client_first_bare(&mut auth_message);
        auth_message.push(b',');
        auth_message.extend_from_slice(msg);
        auth_message.push(b',');
        auth_message.extend_from_slice(&client_final);

        let mut client_key = hmac_sha256(&salted.key, &[b"Client Key"]);
        let mut stored_key: [u8; KEY_LEN] = Sha256::digest(client_key).into();
        let client_signature = hmac_sha256(&stored_key, &[&auth_message]);
        let mut proof = client_key;
        for (p, s) in proof.iter_mut().zip(client_signature.iter()) {
            *p ^= s;
        }
        let mut server_key = hmac_sha256(&salted.key, &[b"Server Key"]);
        let server_signature = hmac_sha256(&server_key, &[&auth_message]);
        wipe(&mut client_key);
        wipe(&mut stored_key);
        wipe(&mut server_key);

        client_final.extend_from_slice(b",p=");
        client_final.extend_from_slice(STANDARD.encode(proof).as_bytes());

        Ok(FirstStep {
            client_final,
            salted,
            reused,
            server_signature,
        })
    }

    /// Verifies the server-final-message: `Ok` only if it is `v=<signature>`
    /// and the signature matches (compared in constant time).
    ///
    /// # Errors
    ///
    /// [`ScramError::ServerError`] for `e=<error>`,
    /// [`ScramError::ServerSignatureMismatch`],
    /// [`ScramError::MalformedServerFinal`], or
    /// [`ScramError::UnexpectedMessage`] if no client-final-message is
    /// outstanding. The exchange is then failed for good.
    pub fn handle_server_final(&mut self, msg: &[u8]) -> Result<(), ScramError> {
        let result = match &self.state {
            State::AwaitingServerFinal { server_signature } => {
                check_server_final(msg, server_signature)
            }
            state => Err(ScramError::UnexpectedMessage {
                received: "server-final-message",
                state: state.describe(),
            }),
        };
        self.state = if result.is_ok() {
            State::Verified
        } else {
            State::Failed
        };
        result
    }

    /// True once the server signature verified.
    #[must_use]
    pub fn is_verified(&self) -> bool {
        matches!(self.state, State::Verified)
    }

    /// After a successful [`handle_server_first`](Self::handle_server_first):
    /// the salted password that was used or derived, for the caller to cache
    /// so that reconnects skip PBKDF2. `None` before that.
    #[must_use]
    pub fn salted_password(&self) -> Option<&SaltedPassword> {
        self.salted.as_ref()
    }

    /// Whether the salted password came from the cache passed to
    /// [`handle_server_first`](Self::handle_server_first) (PBKDF2 was skipped).
    pub fn reused_cached_key(&self) -> bool {
        self.reused_key
    }
}

impl fmt::Debug for ScramClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClient")
            .field("mechanism", &self.mechanism())
            .field("user", &self.user)
            .field("client_nonce", &self.client_nonce)
            .field("channel_binding", &self.binding)
            .field("password", &"<redacted>")
            .field("max_iterations", &self.max_iterations)
            .field("salted_password", &self.salted)
            .field("state", &self.state.describe())
            .finish()
    }
}

impl Drop for ScramClient {
    fn drop(&mut self) {
        wipe(&mut self.password);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use alloc::format;
    use alloc::string::ToString;
    use alloc::vec;

    const NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    const SERVER_FIRST: &[u8] =
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    const CLIENT_FINAL: &[u8] = b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const SERVER_FINAL: &[u8] = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

    fn rfc_client() -> ScramClient {
        ScramClient::with_user("user", b"pencil", NONCE.into(), ScramBinding::Unsupported)
    }

    /// A server-first with the RFC nonce and salt and the given iterations.
    fn server_first_with(iterations: &str) -> Vec<u8> {
        let mut m =
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i="
                .to_vec();
        m.extend_from_slice(iterations.as_bytes());
        m
    }

    fn first_err(msg: &[u8]) -> ScramError {
        let mut c = rfc_client();
        let e = c.handle_server_first(msg, None).unwrap_err();
        // Any error is final.
        assert!(matches!(
            c.handle_server_first(SERVER_FIRST, None),
            Err(ScramError::UnexpectedMessage { .. })
        ));
        e
    }

    #[test]
    fn rfc7677_vector_end_to_end() {
        let mut c = rfc_client();
        assert_eq!(c.mechanism(), SCRAM_SHA_256);
        assert_eq!(c.client_first(), b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
        assert!(c.salted_password().is_none());
        let cf = c.handle_server_first(SERVER_FIRST, None).unwrap();
        assert_eq!(cf, CLIENT_FINAL);
        assert!(!c.is_verified());
        let sp = c.salted_password().unwrap();
        assert_eq!(sp.iterations(), 4096);
        assert!(sp.matches(b"pencil", sp.salt(), 4096));
        c.handle_server_final(SERVER_FINAL).unwrap();
        assert!(c.is_verified());
        // The exchange is over.
        assert!(matches!(
            c.handle_server_final(SERVER_FINAL),
            Err(ScramError::UnexpectedMessage { .. })
        ));
    }

    #[test]
    fn postgres_style_empty_user() {
        let c = ScramClient::new(b"pencil", NONCE.into(), ScramBinding::Unsupported);
        assert_eq!(c.client_first(), b"n,,n=,r=rOprNGfwEbeRWgbNEkqO");
    }

    #[test]
    fn user_name_is_escaped() {
        let c = ScramClient::with_user("a=b,c", b"x", NONCE.into(), ScramBinding::Unsupported);
        assert_eq!(c.client_first(), b"n,,n=a=3Db=2Cc,r=rOprNGfwEbeRWgbNEkqO");
    }

    #[test]
    fn server_final_extensions_tolerated() {
        let mut c = rfc_client();
        c.handle_server_first(SERVER_FIRST, None).unwrap();
        let mut msg = SERVER_FINAL.to_vec();
        msg.extend_from_slice(b",x=future");
        c.handle_server_final(&msg).unwrap();
        assert!(c.is_verified());
    }

    #[test]
    fn near_miss_server_signature() {
        // Same first 30 base64 characters as the RFC 7677 signature.
        let mut c = rfc_client();
        c.handle_server_first(SERVER_FIRST, None).unwrap();
        let err = c
            .handle_server_final(b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dOaxTTKs0fn3Ck0=")
            .unwrap_err();
        assert_eq!(err, ScramError::ServerSignatureMismatch);
    }

    #[test]
    fn wrong_server_signature() {
        let mut c = rfc_client();
        c.handle_server_first(SERVER_FIRST, None).unwrap();
        let err = c
            .handle_server_final(b"v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .unwrap_err();
        assert_eq!(err, ScramError::ServerSignatureMismatch);
        assert!(!c.is_verified());
        // A correct signature afterwards does not rescue the exchange.
        assert!(c.handle_server_final(SERVER_FINAL).is_err());
        assert!(!c.is_verified());
    }

    #[test]
    fn truncated_server_signature() {
        let mut c = rfc_client();
        c.handle_server_first(SERVER_FIRST, None).unwrap();
        let err = c.handle_server_final(b"v=6rriTRBi23WpRR/wt").unwrap_err();
        assert_eq!(err, ScramError::MalformedServerFinal);
        let mut c = rfc_client();
        c.handle_server_first(SERVER_FIRST, None).unwrap();
        let err = c
            .handle_server_final(b"v=6rriTRBi23WpRR/wtup+")
            .unwrap_err();
        assert_eq!(err, ScramError::ServerSignatureMismatch);
    }

    #[test]
    fn server_error_text_is_carried() {
        let mut c = rfc_client();
        c.handle_server_first(SERVER_FIRST, None).unwrap();
        let err = c.handle_server_final(b"e=invalid-proof").unwrap_err();
        assert_eq!(
            err,
            ScramError::ServerError {
                message: "invalid-proof".to_string()
            }
        );
        assert!(err.to_string().contains("invalid-proof"));
        assert!(!c.is_verified());
    }

    #[test]
    fn malformed_server_final() {
        for msg in [
            &b""[..],
            b"x=1",
            b"v",
            b"v=!!!",
            b"V=abc",
            b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=,",
        ] {
            let mut c = rfc_client();
            c.handle_server_first(SERVER_FIRST, None).unwrap();
            assert_eq!(
                c.handle_server_final(msg).unwrap_err(),
                ScramError::MalformedServerFinal,
                "{:?}",
                core::str::from_utf8(msg)
            );
        }
    }

    #[test]
    fn server_final_before_server_first() {
        let mut c = rfc_client();
        let err = c.handle_server_final(SERVER_FINAL).unwrap_err();
        assert!(matches!(
            err,
            ScramError::UnexpectedMessage {
                received: "server-final-message",
                ..
            }
        ));
        assert!(!c.is_verified());
    }

    #[test]
    fn second_server_first_rejected() {
        let mut c = rfc_client();
        c.handle_server_first(SERVER_FIRST, None).unwrap();
        let err = c.handle_server_first(SERVER_FIRST, None).unwrap_err();
        assert!(matches!(
            err,
            ScramError::UnexpectedMessage {
                received: "server-first-message",
                state: "awaiting the server-final-message"
            }
        ));
    }

    #[test]
    fn nonce_not_extending_ours() {
        let e =
            first_err(b"r=XOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTC,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        assert_eq!(e, ScramError::NonceMismatch);
        // A prefix of ours is not an extension either.
        let e = first_err(b"r=rOprNGfwEbeRWg,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        assert_eq!(e, ScramError::NonceMismatch);
    }

    #[test]
    fn nonce_equal_to_ours() {
        let e = first_err(b"r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        assert_eq!(e, ScramError::NonceNotExtended);
    }

    #[test]
    fn nonce_with_invalid_characters() {
        let e = first_err(b"r=rOprNGfwEbeRWgbNEkqO abc,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        assert_eq!(e, ScramError::InvalidNonce);
        let e = first_err(b"r=rOprNGfwEbeRWgbNEkqO\xc3\xa9,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
        assert_eq!(e, ScramError::InvalidNonce);
    }

    #[test]
    fn hyper_style_nonce_accepted() {
        let mut c = ScramClient::new(b"pw", "abc".into(), ScramBinding::Unsupported);
        let msg = b"r=abc;S2*Q;R[$9^ue3h&FOY>]XPBX&G{vm,s=c2FsdA==,i=1";
        let cf = c.handle_server_first(msg, None).unwrap();
        assert!(cf.starts_with(b"c=biws,r=abc;S2*Q;R[$9^ue3h&FOY>]XPBX&G{vm,p="));
    }

    #[test]
    fn invalid_client_nonce() {
        for nonce in ["", "a,b", "a b", "é"] {
            let mut c = ScramClient::new(b"pw", nonce.into(), ScramBinding::Unsupported);
            let e = c
                .handle_server_first(b"r=abcdef,s=c2FsdA==,i=1", None)
                .unwrap_err();
            assert_eq!(e, ScramError::InvalidClientNonce);
        }
    }

    #[test]
    fn iteration_count_errors() {
        assert_eq!(
            first_err(&server_first_with("0")),
            ScramError::IterationCountZero
        );
        assert_eq!(
            first_err(&server_first_with("000")),
            ScramError::IterationCountZero
        );
        assert_eq!(
            first_err(&server_first_with("abc")),
            ScramError::IterationCountNotANumber
        );
        assert_eq!(
            first_err(&server_first_with("")),
            ScramError::IterationCountNotANumber
        );
        assert_eq!(
            first_err(&server_first_with("-1")),
            ScramError::IterationCountNotANumber
        );
        assert_eq!(
            first_err(&server_first_with("+5")),
            ScramError::IterationCountNotANumber
        );
        assert_eq!(
            first_err(&server_first_with(" 5")),
            ScramError::IterationCountNotANumber
        );
        let too_large = ScramError::IterationCountTooLarge {
            max: DEFAULT_MAX_ITERATIONS,
        };
        assert_eq!(first_err(&server_first_with("1000001")), too_large);
        assert_eq!(first_err(&server_first_with("4294967296")), too_large);
        assert_eq!(
            first_err(&server_first_with("99999999999999999999999999999999999")),
            too_large
        );
    }

    #[test]
    fn max_iterations_is_configurable() {
        let mut c = rfc_client();
        c.set_max_iterations(4095);
        assert_eq!(
            c.handle_server_first(SERVER_FIRST, None).unwrap_err(),
            ScramError::IterationCountTooLarge { max: 4095 }
        );
        let mut c = rfc_client();
        c.set_max_iterations(4096);
        assert_eq!(
            c.handle_server_first(SERVER_FIRST, None).unwrap(),
            CLIENT_FINAL
        );
    }

    #[test]
    fn salt_errors() {
        assert_eq!(
            first_err(b"r=rOprNGfwEbeRWgbNEkqOxyz,s=!!notbase64!!,i=4096"),
            ScramError::InvalidSalt
        );
        // Unpadded base64 is not accepted either.
        assert_eq!(
            first_err(b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ,i=4096"),
            ScramError::InvalidSalt
        );
        assert_eq!(
            first_err(b"r=rOprNGfwEbeRWgbNEkqOxyz,s=,i=4096"),
            ScramError::EmptySalt
        );
    }

    #[test]
    fn missing_attributes() {
        let cases: [(&[u8], &str); 9] = [
            (b"", "r"),
            (b"r=", "r"),
            (b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", "r"),
            (b"r=rOprNGfwEbeRWgbNEkqOxyz", "s"),
            (b"r=rOprNGfwEbeRWgbNEkqOxyz,i=4096", "s"),
            (b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==", "i"),
            (
                b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,x=1",
                "i",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,",
                "extension",
            ),
            (
                b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,1=x",
                "extension",
            ),
        ];
        for (msg, attribute) in cases {
            assert_eq!(
                first_err(msg),
                ScramError::MalformedServerFirst { attribute },
                "{:?}",
                core::str::from_utf8(msg)
            );
        }
    }

    #[test]
    fn extensions_after_i_tolerated() {
        let mut c = rfc_client();
        let mut msg = SERVER_FIRST.to_vec();
        msg.extend_from_slice(b",x=something,y=else");
        let cf = c.handle_server_first(&msg, None).unwrap();
        // Same keys, different AuthMessage: same prefix, different proof.
        assert!(cf.starts_with(b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p="));
        assert_ne!(cf, CLIENT_FINAL);
    }

    #[test]
    fn mandatory_extension_rejected() {
        assert_eq!(
            first_err(b"m=ext,r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"),
            ScramError::MandatoryExtension
        );
        assert_eq!(
            first_err(b"r=rOprNGfwEbeRWgbNEkqOxyz,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,m=x"),
            ScramError::MandatoryExtension
        );
    }

    #[test]
    fn cache_hit_matches_fresh_derivation() {
        let mut fresh = rfc_client();
        let cf = fresh.handle_server_first(SERVER_FIRST, None).unwrap();
        let entry = fresh.salted_password().unwrap().clone();

        // Iterations above the max are still refused even with a cache entry.
        let mut bounded = rfc_client();
        bounded.set_max_iterations(1000);
        assert_eq!(
            bounded
                .handle_server_first(SERVER_FIRST, Some(&entry))
                .unwrap_err(),
            ScramError::IterationCountTooLarge { max: 1000 }
        );

        let mut cached = rfc_client();
        let cf2 = cached
            .handle_server_first(SERVER_FIRST, Some(&entry))
            .unwrap();
        assert_eq!(cf, cf2);
        assert_eq!(cached.salted_password().unwrap().key, entry.key);
        cached.handle_server_final(SERVER_FINAL).unwrap();
        assert!(cached.is_verified());
    }

    #[test]
    fn cache_hit_skips_pbkdf2() {
        // An entry with a bogus key but matching metadata must be used as is:
        // the result then differs from the RFC vector.
        let mut entry = {
            let mut c = rfc_client();
            c.handle_server_first(SERVER_FIRST, None).unwrap();
            c.salted_password().unwrap().clone()
        };
        entry.key = [7; KEY_LEN];
        let mut c = rfc_client();
        let cf = c.handle_server_first(SERVER_FIRST, Some(&entry)).unwrap();
        assert_ne!(cf, CLIENT_FINAL);
        assert_eq!(c.salted_password().unwrap().key, [7; KEY_LEN]);
    }

    #[test]
    fn cache_for_other_inputs_not_used() {
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap();
        let poisoned = |password: &[u8], salt: &[u8], iterations: u32| {
            let mut e = SaltedPassword::derive(&normalize_password(password), salt, iterations);
            e.key = [9; KEY_LEN];
            e
        };
        let others = [
            poisoned(b"pencil2", &salt, 4096),
            poisoned(b"pencil", b"another salt", 4096),
            poisoned(b"pencil", &salt, 4097),
        ];
        for other in &others {
            assert!(!other.matches(b"pencil", &salt, 4096));
            let mut c = rfc_client();
            let cf = c.handle_server_first(SERVER_FIRST, Some(other)).unwrap();
            assert_eq!(cf, CLIENT_FINAL);
            let sp = c.salted_password().unwrap();
            assert_ne!(sp.key, [9; KEY_LEN]);
            assert!(sp.matches(b"pencil", &salt, 4096));
        }
    }

    #[cfg(feature = "saslprep")]
    #[test]
    fn saslprep_normalization() {
        // U+00A0 (no-break space) maps to U+0020; U+00AD (soft hyphen) maps to
        // nothing: both spellings derive the same key.
        let salt = b"salt";
        let a = SaltedPassword::derive(&normalize_password("pen cil".as_bytes()), salt, 1);
        assert!(a.matches("pen\u{a0}c\u{ad}il".as_bytes(), salt, 1));
        // Non-UTF-8 and prohibited (control character) passwords are used raw.
        assert_eq!(normalize_password(b"\xff\xfe"), b"\xff\xfe");
        assert_eq!(normalize_password(b"a\x07b"), b"a\x07b");
    }

    #[test]
    fn non_utf8_password_works() {
        let mut c = ScramClient::new(b"\xff\x00\xfe", NONCE.into(), ScramBinding::Unsupported);
        let msg = b"r=rOprNGfwEbeRWgbNEkqOxyz,s=c2FsdA==,i=2";
        c.handle_server_first(msg, None).unwrap();
        assert!(c
            .salted_password()
            .unwrap()
            .matches(b"\xff\x00\xfe", b"salt", 2));
    }

    #[test]
    fn tls_server_end_point_binding() {
        let hash = vec![0xde, 0xad, 0xbe, 0xef, 0x00, 0xff];
        let mut c = ScramClient::new(
            b"pencil",
            NONCE.into(),
            ScramBinding::TlsServerEndPoint(hash.clone()),
        );
        assert_eq!(c.mechanism(), SCRAM_SHA_256_PLUS);
        assert_eq!(
            c.client_first(),
            b"p=tls-server-end-point,,n=,r=rOprNGfwEbeRWgbNEkqO"
        );
        let cf = c.handle_server_first(SERVER_FIRST, None).unwrap();
        let mut cbind = b"p=tls-server-end-point,,".to_vec();
        cbind.extend_from_slice(&hash);
        let expected = format!(
            "c={},r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=",
            STANDARD.encode(&cbind)
        );
        assert!(cf.starts_with(expected.as_bytes()));
    }

    #[test]
    fn supported_not_used_binding() {
        let mut c = ScramClient::new(b"pencil", NONCE.into(), ScramBinding::SupportedNotUsed);
        assert_eq!(c.mechanism(), SCRAM_SHA_256);
        assert_eq!(c.client_first(), b"y,,n=,r=rOprNGfwEbeRWgbNEkqO");
        let cf = c.handle_server_first(SERVER_FIRST, None).unwrap();
        assert!(cf.starts_with(b"c=eSws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p="));
    }

    fn hex(bytes: &[u8]) -> String {
        bytes.iter().map(|b| format!("{b:02x}")).collect()
    }

    #[test]
    fn debug_prints_no_secrets() {
        let password = "correct horse battery staple";
        let mut c = ScramClient::with_user(
            "user",
            password.as_bytes(),
            NONCE.into(),
            ScramBinding::Unsupported,
        );
        let before = format!("{c:?}");
        assert!(!before.contains(password), "{before}");
        c.handle_server_first(SERVER_FIRST, None).unwrap();
        let after = format!("{c:?} {c:#?}");
        let sp = c.salted_password().unwrap();
        let sp_debug = format!("{sp:?} {sp:#?}");
        for text in [&after, &sp_debug] {
            assert!(!text.contains(password), "{text}");
            assert!(!text.contains(&hex(&sp.key)), "{text}");
            assert!(!text.contains(&STANDARD.encode(sp.key)), "{text}");
            assert!(!text.contains(&format!("{:?}", sp.key)), "{text}");
            let decimal: Vec<String> = sp.key.iter().map(|b| b.to_string()).collect();
            assert!(!text.contains(&decimal.join(", ")), "{text}");
            assert!(text.contains("redacted"), "{text}");
        }
    }

    #[test]
    fn nonce_helper() {
        let n = nonce_from_random(&[0xfb; 18]);
        assert_eq!(n.len(), 24);
        assert!(is_valid_nonce(n.as_bytes()));
    }

    #[test]
    fn constant_time_compare() {
        assert!(ct_eq(b"", b""));
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
    }

    #[test]
    fn errors_display() {
        let errors = [
            ScramError::MalformedServerFirst { attribute: "s" },
            ScramError::MandatoryExtension,
            ScramError::InvalidNonce,
            ScramError::NonceMismatch,
            ScramError::NonceNotExtended,
            ScramError::InvalidClientNonce,
            ScramError::InvalidSalt,
            ScramError::EmptySalt,
            ScramError::IterationCountZero,
            ScramError::IterationCountNotANumber,
            ScramError::IterationCountTooLarge { max: 5 },
            ScramError::ServerError {
                message: "bad\nthing".into(),
            },
            ScramError::ServerSignatureMismatch,
            ScramError::MalformedServerFinal,
            ScramError::UnexpectedMessage {
                received: "server-final-message",
                state: "awaiting the server-first-message",
            },
        ];
        for e in &errors {
            let text = e.to_string();
            assert!(!text.is_empty());
            assert!(!text.contains('\n'), "{text}");
            let _: &dyn core::error::Error = e;
        }
    }

    mod prop {
        use super::*;
        use proptest::prelude::*;

        /// Bytes that are mostly valid nonce characters.
        fn nonce_suffix() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                3 => "[!-+\\--~]{0,8}".prop_map(String::into_bytes),
                1 => proptest::collection::vec(any::<u8>(), 0..8),
            ]
        }

        /// What follows `i=<n>`: usually nothing or extensions, sometimes junk.
        fn trailer() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                2 => Just(Vec::new()),
                1 => "(,[a-zA-Z0-9=]{0,6}){1,3}".prop_map(String::into_bytes),
                1 => proptest::collection::vec(any::<u8>(), 0..8),
            ]
        }

        /// A server-first that often gets past the structural checks, so
        /// that key derivation and client-final construction run too.
        fn plausible_server_first() -> impl Strategy<Value = Vec<u8>> {
            (
                nonce_suffix(),
                proptest::collection::vec(any::<u8>(), 0..12),
                0u32..40,
                trailer(),
                any::<bool>(),
            )
                .prop_map(|(suffix, salt, iterations, tail, encode_salt)| {
                    let mut m = b"r=rOprNGfwEbeRWgbNEkqO".to_vec();
                    m.extend_from_slice(&suffix);
                    m.extend_from_slice(b",s=");
                    if encode_salt {
                        m.extend_from_slice(STANDARD.encode(&salt).as_bytes());
                    } else {
                        m.extend_from_slice(&salt);
                    }
                    m.extend_from_slice(b",i=");
                    m.extend_from_slice(iterations.to_string().as_bytes());
                    m.extend_from_slice(&tail);
                    m
                })
        }

        fn any_server_first() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                1 => proptest::collection::vec(any::<u8>(), 0..128),
                3 => plausible_server_first(),
            ]
        }

        fn any_server_final() -> impl Strategy<Value = Vec<u8>> {
            prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..96),
                proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| {
                    let mut m = b"v=".to_vec();
                    m.extend_from_slice(&v);
                    m
                }),
                proptest::collection::vec(any::<u8>(), 32..=32).prop_map(|v| {
                    let mut m = b"v=".to_vec();
                    m.extend_from_slice(STANDARD.encode(v).as_bytes());
                    m
                }),
                proptest::collection::vec(any::<u8>(), 0..64).prop_map(|v| {
                    let mut m = b"e=".to_vec();
                    m.extend_from_slice(&v);
                    m
                }),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            #[test]
            fn server_first_never_panics(msg in any_server_first(), final_msg in any_server_final()) {
                let mut c = rfc_client();
                c.set_max_iterations(64);
                match c.handle_server_first(&msg, None) {
                    Ok(cf) => {
                        prop_assert!(cf.starts_with(b"c=biws,r=rOprNGfwEbeRWgbNEkqO"));
                        prop_assert!(c.salted_password().is_some());
                        let _ = c.handle_server_final(&final_msg);
                    }
                    Err(e) => {
                        let _ = e.to_string();
                        prop_assert!(c.handle_server_final(&final_msg).is_err());
                    }
                }
            }

            #[test]
            fn server_final_never_panics(msg in any_server_final()) {
                let mut c = ScramClient::new(b"pw", "abc".into(), ScramBinding::Unsupported);
                // Before server-first: always rejected.
                prop_assert!(c.handle_server_final(&msg).is_err());

                let mut c = ScramClient::new(b"pw", "abc".into(), ScramBinding::Unsupported);
                c.handle_server_first(b"r=abcdef,s=c2FsdA==,i=1", None).unwrap();
                // Random bytes are (overwhelmingly) not the right signature.
                let result = c.handle_server_final(&msg);
                prop_assert_eq!(result.is_ok(), c.is_verified());
            }
        }
    }
}
