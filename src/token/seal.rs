//! Small values the edge hands to the browser and must get back unchanged (a login in flight, a
//! passkey challenge, an enrollment link): `base64url(payload).base64url(signature)`, an Ed25519
//! signature by the edge's signing key over a per-use domain string and the encoded payload.
//!
//! Every domain holds a space, which no base64url text (and so no JWS signing input of a
//! session token) can: a sealed value is never mistaken for a session or for another kind of
//! sealed value. The seal is checked by the caller (WebCrypto in the Worker, ed25519-dalek on
//! the host) over [`Sealed::signing_input`].

use crate::encoding::base64url;
#[cfg(not(target_arch = "wasm32"))]
use crate::token::keys::SigningKey;
use crate::token::ToSign;

/// What to sign to seal `payload` for `domain`.
pub fn to_seal(domain: &str, payload: &[u8]) -> ToSign {
    ToSign::new(
        format!("{domain}{}", base64url::encode(payload)),
        domain.len(),
    )
}

/// Seals `payload` for `domain` with `key` here (host builds).
#[cfg(not(target_arch = "wasm32"))]
pub fn seal(domain: &str, payload: &[u8], key: &SigningKey) -> String {
    let unsigned = to_seal(domain, payload);
    let signature = key.sign(unsigned.input());
    unsigned.finish(&signature)
}

/// Why a value is not a sealed value at all (the seal itself is checked afterwards).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Malformed {
    /// Longer than the caller's cap.
    TooLarge,
    /// Not two dot-separated parts.
    Shape,
    /// The payload is not base64url.
    Base64,
    /// The signature is not 64 bytes of base64url.
    Signature,
}

impl Malformed {
    /// A short reason for the log.
    pub fn reason(self) -> &'static str {
        match self {
            Malformed::TooLarge => "too_large",
            Malformed::Shape => "shape",
            Malformed::Base64 => "base64",
            Malformed::Signature => "signature",
        }
    }
}

/// A sealed value split and decoded, its seal not checked yet.
#[derive(Debug)]
pub struct Sealed {
    signing_input: String,
    payload: Vec<u8>,
    signature: [u8; 64],
}

impl Sealed {
    /// Splits and decodes `value`, sealed for `domain`, of at most `max_bytes`.
    pub fn parse(domain: &str, value: &str, max_bytes: usize) -> Result<Self, Malformed> {
        if value.len() > max_bytes {
            return Err(Malformed::TooLarge);
        }
        let (payload_b64, signature_b64) = value.split_once('.').ok_or(Malformed::Shape)?;
        let payload = base64url::decode(payload_b64).ok_or(Malformed::Base64)?;
        let signature: [u8; 64] = base64url::decode(signature_b64)
            .and_then(|s| s.try_into().ok())
            .ok_or(Malformed::Signature)?;
        Ok(Sealed {
            signing_input: format!("{domain}{payload_b64}"),
            payload,
            signature,
        })
    }

    /// The bytes the seal signs.
    pub fn signing_input(&self) -> &[u8] {
        self.signing_input.as_bytes()
    }

    /// The seal: an Ed25519 signature by the edge's signing key.
    pub fn signature(&self) -> &[u8; 64] {
        &self.signature
    }

    /// The payload, to be trusted only once the seal verified (`sealed_by_us`); `None` otherwise.
    pub fn open(self, sealed_by_us: bool) -> Option<Vec<u8>> {
        sealed_by_us.then_some(self.payload)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SigningKey {
        SigningKey::from_seed(&mut [9u8; 32])
    }

    fn check(domain: &str, value: &str, key: &SigningKey) -> Option<Vec<u8>> {
        let sealed = Sealed::parse(domain, value, 4096).ok()?;
        let ok = key
            .verifying_key()
            .verify(sealed.signing_input(), sealed.signature())
            .is_ok();
        sealed.open(ok)
    }

    #[test]
    fn a_seal_opens_only_for_its_domain_and_key() {
        let sealed = seal("edgeauth test-v1.", b"{\"a\":1}", &key());
        assert_eq!(
            check("edgeauth test-v1.", &sealed, &key()),
            Some(b"{\"a\":1}".to_vec())
        );
        assert_eq!(check("edgeauth other-v1.", &sealed, &key()), None);
        let other = SigningKey::from_seed(&mut [8u8; 32]);
        assert_eq!(check("edgeauth test-v1.", &sealed, &other), None);
        let (_, signature) = sealed.split_once('.').expect("two parts");
        let forged = format!("{}.{signature}", base64url::encode(b"{\"a\":2}"));
        assert_eq!(check("edgeauth test-v1.", &forged, &key()), None);
    }

    #[test]
    fn malformed_values_are_named() {
        let parse = |v: &str| Sealed::parse("d ", v, 64).map(|_| ());
        assert_eq!(parse(&"a".repeat(65)), Err(Malformed::TooLarge));
        assert_eq!(parse("abc"), Err(Malformed::Shape));
        assert_eq!(parse("a+b.c"), Err(Malformed::Base64));
        assert_eq!(parse("abc.abcd"), Err(Malformed::Signature));
    }
}
