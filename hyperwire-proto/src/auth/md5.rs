//! PostgreSQL's legacy MD5 password authentication (`AuthenticationMD5Password`).

use ::md5::{Digest, Md5};
use alloc::vec::Vec;

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Appends the lowercase hexadecimal form of `bytes` to `out`.
fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        // `b >> 4` and `b & 0x0f` are both < 16, so `get` always succeeds.
        out.extend(HEX.get(usize::from(b >> 4)));
        out.extend(HEX.get(usize::from(b & 0x0f)));
    }
}

/// Computes the response to PostgreSQL's `AuthenticationMD5Password` request:
/// `"md5" + hex(md5(hex(md5(password + user)) + salt))`.
///
/// The result is 35 ASCII bytes, without the trailing NUL that the
/// `PasswordMessage` adds on the wire. `user` is the role name sent in the
/// startup message; `salt` is the 4-byte salt from the server's request.
#[must_use]
pub fn md5_password(user: &[u8], password: &[u8], salt: [u8; 4]) -> Vec<u8> {
    let inner = Md5::new()
        .chain_update(password)
        .chain_update(user)
        .finalize();
    let mut inner_hex = Vec::with_capacity(32);
    push_hex(&mut inner_hex, &inner);

    let outer = Md5::new()
        .chain_update(&inner_hex)
        .chain_update(salt)
        .finalize();
    let mut out = Vec::with_capacity(35);
    out.extend_from_slice(b"md5");
    push_hex(&mut out, &outer);
    out
}

#[cfg(test)]
mod tests {
    use super::md5_password;

    // Expected values computed independently with Python's hashlib:
    // 'md5' + md5(md5(p + u).hexdigest().encode() + salt).hexdigest()
    #[test]
    fn known_value() {
        assert_eq!(
            md5_password(b"postgres", b"secret", [1, 2, 3, 4]),
            b"md5bb41a296aab6baccb36ff243a562abff".to_vec()
        );
    }

    #[test]
    fn empty_password_and_high_salt_bytes() {
        assert_eq!(
            md5_password(b"alice", b"", [0xff, 0x00, 0x80, 0x7f]),
            b"md5735f4f0a8d65d4a665052098ce838166".to_vec()
        );
    }

    #[test]
    fn hex_is_lowercase_and_length_35() {
        let r = md5_password(b"u", b"p", [0; 4]);
        assert_eq!(r.len(), 35);
        assert!(r.starts_with(b"md5"));
        assert!(r
            .iter()
            .skip(3)
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c)));
    }
}
