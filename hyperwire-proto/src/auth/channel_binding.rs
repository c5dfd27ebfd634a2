//! `tls-server-end-point` channel-binding data (RFC 5929 §4.1): the hash of the
//! server's certificate, with the hash function of the certificate's signature
//! algorithm, except that MD5 and SHA-1 are replaced by SHA-256.

use alloc::vec::Vec;
use core::fmt;

use sha2::{Digest, Sha224, Sha256, Sha384, Sha512};

/// Why the channel-binding hash could not be computed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum EndPointError {
    /// The certificate is not DER that this parser understands.
    MalformedCertificate,
    /// The signature algorithm names no hash this binding can use (e.g. Ed25519,
    /// RSASSA-PSS), as PostgreSQL also refuses.
    UnsupportedSignatureAlgorithm,
}

impl fmt::Display for EndPointError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EndPointError::MalformedCertificate => "could not parse the server certificate",
            EndPointError::UnsupportedSignatureAlgorithm => {
                "the server certificate's signature algorithm has no hash usable for channel binding"
            }
        })
    }
}

impl core::error::Error for EndPointError {}

/// Reads one DER element: (tag, contents, rest).
fn element(der: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let (bytes, rest) = (rest.get(..n)?, rest.get(n..)?);
        (
            bytes
                .iter()
                .fold(0usize, |acc, &b| (acc << 8) | usize::from(b)),
            rest,
        )
    };
    Some((tag, rest.get(..len)?, rest.get(len..)?))
}

/// The DER-encoded OID of the certificate's outer signatureAlgorithm.
fn signature_algorithm(cert: &[u8]) -> Option<&[u8]> {
    let (0x30, cert, _) = element(cert)? else {
        return None;
    };
    let (0x30, _tbs, rest) = element(cert)? else {
        return None;
    };
    let (0x30, alg, _) = element(rest)? else {
        return None;
    };
    let (0x06, oid, _) = element(alg)? else {
        return None;
    };
    Some(oid)
}

/// The `tls-server-end-point` data for a DER certificate.
pub fn tls_server_end_point(cert_der: &[u8]) -> Result<Vec<u8>, EndPointError> {
    let oid = signature_algorithm(cert_der).ok_or(EndPointError::MalformedCertificate)?;
    const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01];
    const ECDSA_SHA1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x01];
    const ECDSA_SHA2: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03];
    let hash: fn(&[u8]) -> Vec<u8> = match oid {
        // md5WithRSA (4), sha1WithRSA (5), ecdsa-with-SHA1: SHA-256 per RFC 5929.
        [rest @ .., 4 | 5] if rest == RSA => |d| Sha256::digest(d).to_vec(),
        o if o == ECDSA_SHA1 => |d| Sha256::digest(d).to_vec(),
        [rest @ .., 11] if rest == RSA => |d| Sha256::digest(d).to_vec(),
        [rest @ .., 12] if rest == RSA => |d| Sha384::digest(d).to_vec(),
        [rest @ .., 13] if rest == RSA => |d| Sha512::digest(d).to_vec(),
        [rest @ .., 14] if rest == RSA => |d| Sha224::digest(d).to_vec(),
        [rest @ .., 1] if rest == ECDSA_SHA2 => |d| Sha224::digest(d).to_vec(),
        [rest @ .., 2] if rest == ECDSA_SHA2 => |d| Sha256::digest(d).to_vec(),
        [rest @ .., 3] if rest == ECDSA_SHA2 => |d| Sha384::digest(d).to_vec(),
        [rest @ .., 4] if rest == ECDSA_SHA2 => |d| Sha512::digest(d).to_vec(),
        _ => return Err(EndPointError::UnsupportedSignatureAlgorithm),
    };
    Ok(hash(cert_der))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use alloc::vec;

    /// A skeleton certificate: SEQUENCE { SEQUENCE {}, SEQUENCE { OID }, BIT STRING }.
    fn cert(oid: &[u8]) -> Vec<u8> {
        let mut alg = vec![0x06, oid.len() as u8];
        alg.extend_from_slice(oid);
        let mut body = vec![0x30, 0x00, 0x30, alg.len() as u8];
        body.extend(alg);
        body.extend([0x03, 0x01, 0x00]);
        let mut c = vec![0x30, body.len() as u8];
        c.extend(body);
        c
    }

    #[test]
    fn hash_follows_the_signature_algorithm() {
        let sha256_rsa = cert(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 11]);
        assert_eq!(
            tls_server_end_point(&sha256_rsa).unwrap(),
            Sha256::digest(&sha256_rsa).to_vec()
        );
        let sha1_rsa = cert(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 5]);
        assert_eq!(
            tls_server_end_point(&sha1_rsa).unwrap().len(),
            32,
            "SHA-1 becomes SHA-256"
        );
        let ecdsa384 = cert(&[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 3]);
        assert_eq!(
            tls_server_end_point(&ecdsa384).unwrap(),
            Sha384::digest(&ecdsa384).to_vec()
        );
        let ed25519 = cert(&[0x2b, 0x65, 0x70]);
        assert_eq!(
            tls_server_end_point(&ed25519),
            Err(EndPointError::UnsupportedSignatureAlgorithm)
        );
        assert_eq!(
            tls_server_end_point(&[0x30, 0x05]),
            Err(EndPointError::MalformedCertificate)
        );
        assert_eq!(
            tls_server_end_point(&[]),
            Err(EndPointError::MalformedCertificate)
        );
    }
}
