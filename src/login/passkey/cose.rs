//! A credential public key: the COSE_Key (RFC 9052/9053) an authenticator returns at
//! registration, parsed by `coset` and turned into the public JWK that WebCrypto imports, with
//! the one algorithm it signs with. Only ES256 (P-256), EdDSA (Ed25519) and RS256 (at least
//! 2048-bit) keys are accepted: what `pubKeyCredParams` asks for.

use coset::iana::{self, EnumI64};
use coset::{AsCborValue, CoseKey, KeyType, Label, RegisteredLabelWithPrivate};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::encoding::base64url;
use crate::login::oidc::jwks::{Alg, MIN_RSA_BYTES};

use super::PasskeyError;

/// The COSE algorithms the edge offers, most preferred first (`pubKeyCredParams`).
pub const OFFERED: [i64; 3] = [
    iana::Algorithm::EdDSA as i64,
    iana::Algorithm::ES256 as i64,
    iana::Algorithm::RS256 as i64,
];

/// A credential's public key, as stored and as WebCrypto imports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PublicKey {
    /// The COSE algorithm (`-8`, `-7` or `-257`).
    pub alg: i64,
    /// The public JWK (`kty`, `crv`, `x`, `y` / `n`, `e`), nothing else.
    pub jwk: Map<String, Value>,
}

impl PublicKey {
    /// The signature algorithm, for a key this module built (a stored one that says otherwise
    /// is refused).
    pub fn signature_alg(&self) -> Result<Alg, PasskeyError> {
        match self.alg {
            a if a == iana::Algorithm::ES256 as i64 => Ok(Alg::Es256),
            a if a == iana::Algorithm::EdDSA as i64 => Ok(Alg::EdDsa),
            a if a == iana::Algorithm::RS256 as i64 => Ok(Alg::Rs256),
            _ => Err(PasskeyError("unsupported_algorithm")),
        }
    }
}

/// The public key in a COSE_Key CBOR value.
pub fn from_cbor(value: coset::cbor::value::Value) -> Result<PublicKey, PasskeyError> {
    let key = CoseKey::from_cbor_value(value).map_err(|_| PasskeyError("cose_key_malformed"))?;
    let alg = match &key.alg {
        Some(RegisteredLabelWithPrivate::Assigned(alg)) => alg.to_i64(),
        _ => return Err(PasskeyError("cose_key_without_alg")),
    };
    let param = |label: i64| {
        key.params
            .iter()
            .find(|(l, _)| *l == Label::Int(label))
            .map(|(_, v)| v)
    };
    let bytes = |label: i64| match param(label) {
        Some(coset::cbor::value::Value::Bytes(b)) => Ok(b.as_slice()),
        _ => Err(PasskeyError("cose_key_malformed")),
    };
    let integer = |label: i64| match param(label) {
        Some(coset::cbor::value::Value::Integer(i)) => i64::try_from(*i).ok(),
        _ => None,
    };
    let mut jwk = Map::new();
    let mut set = |name: &str, value: String| {
        jwk.insert(name.into(), Value::String(value));
    };
    match (&key.kty, alg) {
        (KeyType::Assigned(iana::KeyType::EC2), a) if a == iana::Algorithm::ES256 as i64 => {
            if integer(iana::Ec2KeyParameter::Crv as i64) != Some(iana::EllipticCurve::P_256 as i64)
            {
                return Err(PasskeyError("unsupported_curve"));
            }
            let x = bytes(iana::Ec2KeyParameter::X as i64)?;
            let Ok(y) = bytes(iana::Ec2KeyParameter::Y as i64) else {
                // A compressed point (y as a sign bit) is not something WebCrypto imports.
                return Err(PasskeyError("cose_key_malformed"));
            };
            if x.len() != 32 || y.len() != 32 {
                return Err(PasskeyError("cose_key_malformed"));
            }
            set("kty", "EC".into());
            set("crv", "P-256".into());
            set("x", base64url::encode(x));
            set("y", base64url::encode(y));
        }
        (KeyType::Assigned(iana::KeyType::OKP), a) if a == iana::Algorithm::EdDSA as i64 => {
            if integer(iana::OkpKeyParameter::Crv as i64)
                != Some(iana::EllipticCurve::Ed25519 as i64)
            {
                return Err(PasskeyError("unsupported_curve"));
            }
            let x: [u8; 32] = bytes(iana::OkpKeyParameter::X as i64)?
                .try_into()
                .map_err(|_| PasskeyError("cose_key_malformed"))?;
            // A small-order point lets anyone forge signatures that a lenient verifier
            // accepts, and a non-canonical encoding is not one key: never registered (the
            // session keys' own checks, `token::keys::VerifyingKey::from_bytes`).
            if crate::token::keys::VerifyingKey::from_bytes(&x).is_err() {
                return Err(PasskeyError("weak_key"));
            }
            set("kty", "OKP".into());
            set("crv", "Ed25519".into());
            set("x", base64url::encode(&x));
        }
        (KeyType::Assigned(iana::KeyType::RSA), a) if a == iana::Algorithm::RS256 as i64 => {
            let n = bytes(iana::RsaKeyParameter::N as i64)?;
            let e = bytes(iana::RsaKeyParameter::E as i64)?;
            let n = strip_leading_zeros(n);
            let e = strip_leading_zeros(e);
            // e: odd and at least 3 (e = 1 makes every "signature" its own message).
            let e_ok = !e.is_empty() && e.len() <= 8 && e[e.len() - 1] & 1 == 1 && e != [1];
            if n.len() < MIN_RSA_BYTES || n.len() > 1024 || !e_ok {
                return Err(PasskeyError("weak_or_malformed_rsa_key"));
            }
            set("kty", "RSA".into());
            set("n", base64url::encode(n));
            set("e", base64url::encode(e));
        }
        _ => return Err(PasskeyError("unsupported_algorithm")),
    }
    Ok(PublicKey { alg, jwk })
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use coset::cbor::value::Value as Cbor;
    use coset::CoseKeyBuilder;

    fn ec2(alg: iana::Algorithm, curve: iana::EllipticCurve, x: usize, y: usize) -> Cbor {
        CoseKeyBuilder::new_ec2_pub_key(curve, vec![1; x], vec![2; y])
            .algorithm(alg)
            .build()
            .to_cbor_value()
            .expect("encodes")
    }

    #[test]
    fn a_p256_key_becomes_its_jwk() {
        let key = from_cbor(ec2(
            iana::Algorithm::ES256,
            iana::EllipticCurve::P_256,
            32,
            32,
        ))
        .expect("valid");
        assert_eq!(key.alg, -7);
        assert_eq!(key.signature_alg(), Ok(Alg::Es256));
        assert_eq!(key.jwk["kty"], "EC");
        assert_eq!(key.jwk["crv"], "P-256");
        assert_eq!(key.jwk["x"], base64url::encode(&[1; 32]));
        assert_eq!(key.jwk.len(), 4);
    }

    #[test]
    fn keys_we_cannot_verify_or_that_disagree_with_their_alg_are_refused() {
        let refused = |value, why| assert_eq!(from_cbor(value), Err(PasskeyError(why)));
        refused(
            ec2(iana::Algorithm::ES256, iana::EllipticCurve::P_384, 32, 32),
            "unsupported_curve",
        );
        refused(
            ec2(iana::Algorithm::ES256, iana::EllipticCurve::P_256, 31, 32),
            "cose_key_malformed",
        );
        refused(
            ec2(iana::Algorithm::ES384, iana::EllipticCurve::P_256, 32, 32),
            "unsupported_algorithm",
        );
        refused(
            ec2(iana::Algorithm::EdDSA, iana::EllipticCurve::P_256, 32, 32),
            "unsupported_algorithm",
        );
        let no_alg =
            CoseKeyBuilder::new_ec2_pub_key(iana::EllipticCurve::P_256, vec![1; 32], vec![2; 32])
                .build()
                .to_cbor_value()
                .expect("encodes");
        refused(no_alg, "cose_key_without_alg");
        let compressed =
            CoseKeyBuilder::new_ec2_pub_key_y_sign(iana::EllipticCurve::P_256, vec![1; 32], true)
                .algorithm(iana::Algorithm::ES256)
                .build()
                .to_cbor_value()
                .expect("encodes");
        refused(compressed, "cose_key_malformed");
        refused(Cbor::Text("key".into()), "cose_key_malformed");
        // Duplicate labels (coset polices them, as RFC 9052 requires).
        let duplicated = Cbor::Map(vec![
            (Cbor::Integer(1.into()), Cbor::Integer(2.into())),
            (Cbor::Integer(1.into()), Cbor::Integer(2.into())),
        ]);
        refused(duplicated, "cose_key_malformed");
    }

    #[test]
    fn small_order_ed25519_keys_are_refused() {
        let okp = |x: [u8; 32]| {
            CoseKeyBuilder::new_okp_key()
                .param(iana::OkpKeyParameter::Crv as i64, Cbor::from(6))
                .param(iana::OkpKeyParameter::X as i64, Cbor::Bytes(x.to_vec()))
                .algorithm(iana::Algorithm::EdDSA)
                .build()
                .to_cbor_value()
                .expect("encodes")
        };
        let mut identity = [0u8; 32];
        identity[0] = 1;
        assert_eq!(from_cbor(okp(identity)), Err(PasskeyError("weak_key")));
        assert_eq!(from_cbor(okp([0; 32])), Err(PasskeyError("weak_key")));
        // RFC 8032's first test key is a real one.
        let real: [u8; 32] =
            hex_literal("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
        assert!(from_cbor(okp(real)).is_ok());
    }

    fn hex_literal(text: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        for (i, byte) in out.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).expect("hex");
        }
        out
    }

    #[test]
    fn short_rsa_moduli_are_refused() {
        let rsa = |n: Vec<u8>| {
            Cbor::Map(vec![
                (Cbor::Integer(1.into()), Cbor::Integer(3.into())),
                (Cbor::Integer(3.into()), Cbor::Integer((-257).into())),
                (Cbor::Integer((-1).into()), Cbor::Bytes(n)),
                (Cbor::Integer((-2).into()), Cbor::Bytes(vec![1, 0, 1])),
            ])
        };
        assert!(from_cbor(rsa(vec![0xc5; 256])).is_ok());
        let with_e = |e: Vec<u8>| {
            Cbor::Map(vec![
                (Cbor::Integer(1.into()), Cbor::Integer(3.into())),
                (Cbor::Integer(3.into()), Cbor::Integer((-257).into())),
                (Cbor::Integer((-1).into()), Cbor::Bytes(vec![0xc5; 256])),
                (Cbor::Integer((-2).into()), Cbor::Bytes(e)),
            ])
        };
        for weak in [vec![1], vec![0, 1], vec![2], vec![]] {
            assert_eq!(
                from_cbor(with_e(weak.clone())),
                Err(PasskeyError("weak_or_malformed_rsa_key")),
                "e = {weak:?}"
            );
        }
        let mut padded = vec![0];
        padded.extend_from_slice(&[0xc5; 255]);
        assert_eq!(
            from_cbor(rsa(padded)),
            Err(PasskeyError("weak_or_malformed_rsa_key"))
        );
    }
}
