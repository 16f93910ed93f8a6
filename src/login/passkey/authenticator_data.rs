//! Authenticator data (WebAuthn §6.1): `rpIdHash (32) ‖ flags (1) ‖ signCount (4, big-endian)`,
//! then, when the AT flag says so, the attested credential (`aaguid (16) ‖ idLength (2) ‖ id ‖
//! COSE_Key`), then, when ED says so, a CBOR map of extensions. Every byte must be accounted
//! for: data after what the flags announce is refused.

use coset::cbor;

use super::cose::{self, PublicKey};
use super::PasskeyError;

/// Largest authenticator data accepted, in bytes (an RSA-4096 credential is ~600).
pub const MAX_BYTES: usize = 4096;
/// Longest credential id (WebAuthn §4: at most 1023 bytes).
pub const MAX_CREDENTIAL_ID_BYTES: usize = 1023;

/// The flags byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flags(pub u8);

impl Flags {
    /// User present.
    pub const UP: u8 = 0x01;
    /// User verified.
    pub const UV: u8 = 0x04;
    /// Backup eligible: the credential may be synced (a multi-device passkey).
    pub const BE: u8 = 0x08;
    /// Backed up: it is synced now.
    pub const BS: u8 = 0x10;
    /// Attested credential data follows.
    pub const AT: u8 = 0x40;
    /// Extensions follow.
    pub const ED: u8 = 0x80;

    fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }
    /// The user was present (touched, clicked).
    pub fn user_present(self) -> bool {
        self.has(Self::UP)
    }
    /// The authenticator verified the user (PIN, biometrics).
    pub fn user_verified(self) -> bool {
        self.has(Self::UV)
    }
    /// The credential may be backed up.
    pub fn backup_eligible(self) -> bool {
        self.has(Self::BE)
    }
    /// The credential is backed up.
    pub fn backed_up(self) -> bool {
        self.has(Self::BS)
    }
}

/// A credential created at registration.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestedCredential {
    /// The authenticator model (all zero under `none` attestation).
    pub aaguid: [u8; 16],
    /// The credential id.
    pub id: Vec<u8>,
    /// Its public key.
    pub public_key: PublicKey,
}

/// Parsed authenticator data, not yet compared with anything.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthenticatorData {
    /// SHA-256 of the RP ID the authenticator signed for.
    pub rp_id_hash: [u8; 32],
    /// The flags.
    pub flags: Flags,
    /// The signature counter (0 when the authenticator keeps none).
    pub sign_count: u32,
    /// The new credential, at registration.
    pub attested: Option<AttestedCredential>,
}

impl AuthenticatorData {
    /// Parses `bytes` strictly.
    pub fn parse(bytes: &[u8]) -> Result<Self, PasskeyError> {
        let malformed = || PasskeyError("authenticator_data_malformed");
        if bytes.len() > MAX_BYTES {
            return Err(PasskeyError("authenticator_data_too_large"));
        }
        if bytes.len() < 37 {
            return Err(malformed());
        }
        let (head, mut rest) = bytes.split_at(37);
        let mut rp_id_hash = [0u8; 32];
        rp_id_hash.copy_from_slice(&head[..32]);
        let flags = Flags(head[32]);
        let sign_count = u32::from_be_bytes([head[33], head[34], head[35], head[36]]);
        if flags.backed_up() && !flags.backup_eligible() {
            // §6.1: BS without BE is invalid.
            return Err(malformed());
        }
        let attested = if flags.has(Flags::AT) {
            if rest.len() < 18 {
                return Err(malformed());
            }
            let mut aaguid = [0u8; 16];
            aaguid.copy_from_slice(&rest[..16]);
            let id_len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
            rest = &rest[18..];
            if id_len == 0 || id_len > MAX_CREDENTIAL_ID_BYTES || rest.len() < id_len {
                return Err(malformed());
            }
            let (id, after) = rest.split_at(id_len);
            rest = after;
            let key: cbor::value::Value =
                cbor::de::from_reader(&mut rest).map_err(|_| PasskeyError("cbor_malformed"))?;
            Some(AttestedCredential {
                aaguid,
                id: id.to_vec(),
                public_key: cose::from_cbor(key)?,
            })
        } else {
            None
        };
        if flags.has(Flags::ED) {
            let extensions: cbor::value::Value =
                cbor::de::from_reader(&mut rest).map_err(|_| PasskeyError("cbor_malformed"))?;
            if !extensions.is_map() {
                return Err(malformed());
            }
        }
        if !rest.is_empty() {
            return Err(malformed());
        }
        Ok(AuthenticatorData {
            rp_id_hash,
            flags,
            sign_count,
            attested,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coset::iana;
    use coset::{AsCborValue, CoseKeyBuilder};

    fn cose_key() -> Vec<u8> {
        let value = CoseKeyBuilder::new_okp_key()
            .param(
                iana::OkpKeyParameter::Crv as i64,
                cbor::value::Value::from(6),
            )
            .param(
                iana::OkpKeyParameter::X as i64,
                cbor::value::Value::Bytes(vec![3; 32]),
            )
            .algorithm(iana::Algorithm::EdDSA)
            .build()
            .to_cbor_value()
            .expect("encodes");
        let mut out = Vec::new();
        cbor::ser::into_writer(&value, &mut out).expect("encodes");
        out
    }

    fn data(flags: u8, count: u32, attested: Option<&[u8]>, tail: &[u8]) -> Vec<u8> {
        let mut out = vec![9u8; 32];
        out.push(flags);
        out.extend_from_slice(&count.to_be_bytes());
        if let Some(id) = attested {
            out.extend_from_slice(&[0; 16]);
            out.extend_from_slice(&(id.len() as u16).to_be_bytes());
            out.extend_from_slice(id);
            out.extend_from_slice(&cose_key());
        }
        out.extend_from_slice(tail);
        out
    }

    #[test]
    fn sign_in_data_has_hash_flags_and_counter() {
        let parsed = AuthenticatorData::parse(&data(0x05, 7, None, &[])).expect("valid");
        assert_eq!(parsed.rp_id_hash, [9; 32]);
        assert!(parsed.flags.user_present() && parsed.flags.user_verified());
        assert_eq!(parsed.sign_count, 7);
        assert_eq!(parsed.attested, None);
    }

    #[test]
    fn registration_data_carries_the_new_credential() {
        let parsed =
            AuthenticatorData::parse(&data(0x45, 0, Some(&[1, 2, 3]), &[])).expect("valid");
        let attested = parsed.attested.expect("attested");
        assert_eq!(attested.id, [1, 2, 3]);
        assert_eq!(attested.public_key.alg, -8);
        // Extensions after the key, announced by ED.
        let with_extensions = data(0xc5, 0, Some(&[1]), &[0xa0]);
        assert!(AuthenticatorData::parse(&with_extensions).is_ok());
    }

    #[test]
    fn bytes_the_flags_do_not_announce_are_refused() {
        let refused = |bytes: Vec<u8>| AuthenticatorData::parse(&bytes).map(|_| ());
        let malformed = Err(PasskeyError("authenticator_data_malformed"));
        assert_eq!(
            refused(data(0x05, 0, None, &[0])),
            malformed,
            "trailing byte"
        );
        assert_eq!(
            refused(data(0x45, 0, Some(&[1]), &[0xa0])),
            malformed,
            "extensions without ED"
        );
        assert_eq!(
            refused(data(0x85, 0, None, &[0x01])),
            malformed,
            "ED with a non-map"
        );
        assert_eq!(
            refused(data(0x45, 0, None, &[])),
            malformed,
            "AT without a credential"
        );
        assert_eq!(
            refused(data(0x15, 0, None, &[])),
            malformed,
            "BS without BE"
        );
        assert_eq!(refused(vec![0; 36]), malformed, "too short");
        let mut cut = data(0x45, 0, Some(&[1]), &[]);
        cut.pop();
        assert_eq!(
            refused(cut),
            Err(PasskeyError("cbor_malformed")),
            "truncated key"
        );
        let mut long_id = data(0x45, 0, Some(&[1]), &[]);
        long_id[53] = 0xff; // the id length now points past the end
        assert_eq!(refused(long_id), malformed);
        assert_eq!(
            refused(vec![0; MAX_BYTES + 1]),
            Err(PasskeyError("authenticator_data_too_large"))
        );
    }
}
