//! The two ceremonies, as WebAuthn §7.1 (registering a new credential) and §7.2 (verifying an
//! authentication assertion) list their steps. Everything but the signature is decided here;
//! the signature is checked by WebCrypto in the Worker (ed25519-dalek / test keys natively) over
//! [`PendingSignIn::signed_message`], and only [`PendingSignIn::finish`] with its verdict yields
//! a [`SignedIn`].

use coset::cbor::{self, value::Value as Cbor};
use sha2::{Digest, Sha256};

use crate::encoding::der_signature;
use crate::login::oidc::jwks::Alg;

use super::authenticator_data::{AuthenticatorData, Flags};
use super::client_data::{self, Ceremony};
use super::cose::PublicKey;
use super::credential::{user_handle, StoredCredential};
use super::{PasskeyError, Settings};

/// Largest attestation object accepted, in bytes.
pub const MAX_ATTESTATION_BYTES: usize = 8192;

/// Attestation statement formats of the WebAuthn registry (§8, IANA). Statements are not
/// verified: the edge asks for `none`, and a statement in another format gives no extra trust
/// (the credential is trusted as the key the signed-in user, or the enrollment link's holder,
/// registered; no authenticator model is required).
const FORMATS: [&str; 7] = [
    "none",
    "packed",
    "tpm",
    "android-key",
    "android-safetynet",
    "fido-u2f",
    "apple",
];

/// What the ceremony expects, from the relying party's settings and the challenge.
pub struct Expected<'a> {
    /// The relying party.
    pub settings: &'a Settings,
    /// The challenge issued for this ceremony.
    pub challenge: &'a [u8],
    /// The origin the ceremony's request came to (the edge's, as the browser serializes it).
    pub request_origin: &'a str,
}

impl Expected<'_> {
    fn check(&self, client_data_json: &[u8], ceremony: Ceremony) -> Result<(), PasskeyError> {
        client_data::check(
            client_data_json,
            ceremony,
            self.challenge,
            self.settings,
            self.request_origin,
        )
    }

    /// §7.1 steps 13–15 / §7.2 steps 15–17: the RP ID hash, UP, and UV when required.
    fn check_authenticator(&self, data: &AuthenticatorData) -> Result<(), PasskeyError> {
        let rp_id_hash: [u8; 32] = Sha256::digest(self.settings.rp_id.as_bytes()).into();
        if data.rp_id_hash != rp_id_hash {
            return Err(PasskeyError("wrong_rp_id"));
        }
        if !data.flags.user_present() {
            return Err(PasskeyError("user_not_present"));
        }
        if self.settings.requires_user_verification() && !data.flags.user_verified() {
            return Err(PasskeyError("user_not_verified"));
        }
        Ok(())
    }
}

/// A credential just registered, to be stored.
#[derive(Debug, Clone, PartialEq)]
pub struct NewCredential {
    /// Its id.
    pub id: Vec<u8>,
    /// Its public key.
    pub public_key: PublicKey,
    /// Its signature counter now.
    pub sign_count: u32,
    /// The flags (BE/BS are recorded).
    pub flags: Flags,
    /// The attestation statement format.
    pub fmt: String,
}

/// Verifies a registration (§7.1): `client_data_json` and `attestation_object` as the browser
/// sent them, `claimed_id` its `rawId`.
pub fn register(
    expected: &Expected<'_>,
    client_data_json: &[u8],
    attestation_object: &[u8],
    claimed_id: &[u8],
) -> Result<NewCredential, PasskeyError> {
    expected.check(client_data_json, Ceremony::Register)?;
    let (fmt, statement, auth_data) = attestation(attestation_object)?;
    let data = AuthenticatorData::parse(&auth_data)?;
    expected.check_authenticator(&data)?;
    let Some(attested) = data.attested else {
        return Err(PasskeyError("no_attested_credential"));
    };
    if attested.id != claimed_id {
        return Err(PasskeyError("credential_id_mismatch"));
    }
    if !FORMATS.contains(&fmt.as_str()) {
        return Err(PasskeyError("unknown_attestation_format"));
    }
    if fmt == "none" && !matches!(&statement, Cbor::Map(members) if members.is_empty()) {
        return Err(PasskeyError("attestation_malformed"));
    }
    Ok(NewCredential {
        id: attested.id,
        public_key: attested.public_key,
        sign_count: data.sign_count,
        flags: data.flags,
        fmt,
    })
}

/// The attestation object: exactly `{"fmt": text, "attStmt": map, "authData": bytes}`, each once,
/// nothing after it.
fn attestation(bytes: &[u8]) -> Result<(String, Cbor, Vec<u8>), PasskeyError> {
    if bytes.len() > MAX_ATTESTATION_BYTES {
        return Err(PasskeyError("attestation_too_large"));
    }
    let mut rest = bytes;
    let value: Cbor =
        cbor::de::from_reader(&mut rest).map_err(|_| PasskeyError("cbor_malformed"))?;
    if !rest.is_empty() {
        return Err(PasskeyError("attestation_malformed"));
    }
    let Cbor::Map(members) = value else {
        return Err(PasskeyError("attestation_malformed"));
    };
    let (mut fmt, mut statement, mut auth_data) = (None, None, None);
    for (name, value) in members {
        let slot_taken = match (name.as_text(), value) {
            (Some("fmt"), Cbor::Text(text)) => fmt.replace(text).is_some(),
            (Some("attStmt"), map @ Cbor::Map(_)) => statement.replace(map).is_some(),
            (Some("authData"), Cbor::Bytes(data)) => auth_data.replace(data).is_some(),
            _ => true,
        };
        if slot_taken {
            return Err(PasskeyError("attestation_malformed"));
        }
    }
    match (fmt, statement, auth_data) {
        (Some(fmt), Some(statement), Some(auth_data)) => Ok((fmt, statement, auth_data)),
        _ => Err(PasskeyError("attestation_malformed")),
    }
}

/// A sign-in whose every check passed but the signature's.
#[derive(Debug)]
pub struct PendingSignIn {
    message: Vec<u8>,
    signature: Vec<u8>,
    alg: Alg,
    data: AuthenticatorData,
}

/// A verified sign-in.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedIn {
    /// The new signature counter, to store.
    pub sign_count: u32,
    /// The flags (UV decides `amr`; BS is recorded).
    pub flags: Flags,
}

/// Checks a sign-in (§7.2) with `credential`, the stored record of the presented credential
/// id: client data, authenticator data, and the user handle (`presented_user_handle`), which
/// must be the owner's when sent and must be sent when the user was not `identified` by a
/// username before the ceremony (step 6). `signature` is as the authenticator made it (DER for
/// ES256).
pub fn sign_in(
    expected: &Expected<'_>,
    credential: &StoredCredential,
    client_data_json: &[u8],
    authenticator_data: &[u8],
    signature: &[u8],
    presented_user_handle: Option<&[u8]>,
    identified: bool,
) -> Result<PendingSignIn, PasskeyError> {
    match presented_user_handle {
        Some(handle) if handle != user_handle(&credential.user) => {
            return Err(PasskeyError("user_handle_mismatch"))
        }
        None if !identified => return Err(PasskeyError("user_handle_missing")),
        _ => {}
    }
    expected.check(client_data_json, Ceremony::SignIn)?;
    let data = AuthenticatorData::parse(authenticator_data)?;
    expected.check_authenticator(&data)?;
    if data.attested.is_some() {
        return Err(PasskeyError("authenticator_data_malformed"));
    }
    let alg = credential.public_key.signature_alg()?;
    let signature = match alg {
        Alg::Es256 => der_signature::p256_raw(signature)
            .ok_or(PasskeyError("signature_malformed"))?
            .to_vec(),
        Alg::EdDsa if signature.len() == 64 => signature.to_vec(),
        Alg::Rs256 if (256..=1024).contains(&signature.len()) => signature.to_vec(),
        _ => return Err(PasskeyError("signature_malformed")),
    };
    let mut message = authenticator_data.to_vec();
    message.extend_from_slice(&Sha256::digest(client_data_json));
    Ok(PendingSignIn {
        message,
        signature,
        alg,
        data,
    })
}

impl PendingSignIn {
    /// What the authenticator signed: `authenticatorData ‖ SHA-256(clientDataJSON)`.
    pub fn signed_message(&self) -> &[u8] {
        &self.message
    }

    /// The signature in WebCrypto's form (`r ‖ s` for ES256).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// The algorithm to verify with.
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// Finishes once the signature was checked (`signature_valid`), against the counter stored
    /// with the credential: a counter that does not grow (when either is non-zero) may be a
    /// cloned authenticator and refuses the sign-in (§7.2 step 21).
    pub fn finish(
        self,
        signature_valid: bool,
        stored_counter: u32,
    ) -> Result<SignedIn, PasskeyError> {
        if !signature_valid {
            return Err(PasskeyError("bad_signature"));
        }
        let count = self.data.sign_count;
        if (count != 0 || stored_counter != 0) && count <= stored_counter {
            return Err(PasskeyError("counter_regression"));
        }
        Ok(SignedIn {
            sign_count: count,
            flags: self.data.flags,
        })
    }
}
