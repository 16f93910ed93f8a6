//! The login in flight, kept by the browser instead of a store: provider, `state`, `nonce`, the
//! PKCE verifier, where to go afterwards and an expiry, sealed with the edge's Ed25519 key in a
//! short-lived `__Host-` cookie named after its state, so concurrent logins in one browser each
//! have their own. Opening checks the seal (WebCrypto in the Worker), the provider, the state
//! (constant time) and the expiry; the cookie is cleared on use.

use crate::encoding::base64url;
#[cfg(not(target_arch = "wasm32"))]
use crate::token::keys::SigningKey;
use crate::token::seal::{self, Sealed};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::id_token::IdClaims;
use super::OidcError;

/// How long a login may take at the provider, in seconds (at most 10 minutes).
pub const TRANSACTION_TTL_SECS: u64 = 600;
/// The seal's domain ([`crate::token::seal`]): a transaction is never mistaken for anything else
/// the edge signs.
const DOMAIN: &str = "edgeauth sso-transaction-v1.";
/// The cookie name's prefix; the first [`NAME_STATE_CHARS`] characters of the state follow.
pub const COOKIE_PREFIX: &str = "__Host-edgeauth-sso-";
/// How much of the state names the cookie.
pub const NAME_STATE_CHARS: usize = 16;
/// Longest `next` a transaction keeps (longer ones become `/`): each login in flight is a
/// cookie, and a browser's cookies together must stay small.
pub const MAX_NEXT_BYTES: usize = 512;
/// Largest sealed transaction accepted, in bytes.
pub const MAX_SEALED_BYTES: usize = 4096;

/// Random bytes a transaction needs: 32 each for state, nonce and PKCE verifier.
pub type Entropy = [u8; 96];

/// A login in flight.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transaction {
    /// The provider's id.
    pub provider: String,
    /// The `state` sent to the provider (base64url of 32 random bytes).
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE code verifier (RFC 7636), sent only to the token endpoint.
    pub verifier: String,
    /// Where to go after the login (already safe: [`crate::login::next::safe_next`]).
    pub next: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// Whether the provider was asked for a fresh login (`prompt=login`, `max_age=0`): the ID
    /// token must then say the user authenticated after the login began (`auth_time`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub reauth: bool,
}

impl Transaction {
    /// A new transaction for `provider`, from fresh `entropy`, at `now`.
    pub fn new(provider: &str, next: String, entropy: &Entropy, now: u64) -> Self {
        Transaction {
            provider: provider.to_owned(),
            state: base64url::encode(&entropy[..32]),
            nonce: base64url::encode(&entropy[32..64]),
            verifier: base64url::encode(&entropy[64..]),
            next: if next.len() > MAX_NEXT_BYTES {
                "/".to_owned()
            } else {
                next
            },
            exp: now + TRANSACTION_TTL_SECS,
            reauth: false,
        }
    }

    /// When the login began, Unix seconds.
    pub fn started(&self) -> u64 {
        self.exp.saturating_sub(TRANSACTION_TTL_SECS)
    }

    /// A login that asked for a fresh authentication ([`Self::reauth`]) must have had one: the
    /// ID token's `auth_time` no earlier than when the login began (within `leeway`). A
    /// provider that ignored `prompt=login` fails it. Any other login passes.
    pub fn check_fresh(&self, claims: &IdClaims, leeway: u64) -> Result<(), OidcError> {
        if !self.reauth {
            return Ok(());
        }
        match super::id_token::time(&claims.all, "auth_time") {
            Ok(Some(auth_time)) if auth_time.saturating_add(leeway) >= self.started() => Ok(()),
            Ok(Some(_)) => Err(OidcError::new("id_token", "not_reauthenticated")),
            _ => Err(OidcError::new("id_token", "no_auth_time")),
        }
    }

    /// The PKCE `code_challenge` for method `S256`: base64url(SHA-256(verifier)).
    pub fn code_challenge(&self) -> String {
        base64url::encode(&Sha256::digest(self.verifier.as_bytes()))
    }

    /// Its cookie's name.
    pub fn cookie_name(&self) -> String {
        cookie_name(&self.state).unwrap_or_default()
    }

    /// What to sign to seal it ([`crate::token::seal`]).
    pub fn to_seal(&self) -> crate::token::ToSign {
        // Serializing plain strings and numbers cannot fail; an empty payload never opens.
        seal::to_seal(DOMAIN, &serde_json::to_vec(self).unwrap_or_default())
    }

    /// The sealed form, the cookie's value ([`seal`]).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn seal(&self, key: &SigningKey) -> String {
        // Serializing plain strings and a number cannot fail; an empty payload never opens.
        seal::seal(DOMAIN, &serde_json::to_vec(self).unwrap_or_default(), key)
    }
}

/// The cookie that holds the transaction with `state`; `None` for a state that is not one of
/// ours (wrong length or alphabet), which no cookie can match.
pub fn cookie_name(state: &str) -> Option<String> {
    let is_ours = state.len() == 43
        && state
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    is_ours.then(|| format!("{COOKIE_PREFIX}{}", &state[..NAME_STATE_CHARS]))
}

/// A transaction cookie's value whose seal is not checked yet.
#[derive(Debug)]
pub struct SealedTransaction(Sealed);

impl SealedTransaction {
    /// Splits and decodes a cookie value.
    pub fn parse(value: &str) -> Result<Self, OidcError> {
        Sealed::parse(DOMAIN, value, MAX_SEALED_BYTES)
            .map(SealedTransaction)
            .map_err(|e| OidcError::new("transaction", e.reason()))
    }

    /// The bytes the seal signs.
    pub fn signing_input(&self) -> &[u8] {
        self.0.signing_input()
    }

    /// The seal: an Ed25519 signature by the edge's signing key.
    pub fn signature(&self) -> &[u8; 64] {
        self.0.signature()
    }

    /// Opens the transaction once the seal verified (`sealed_by_us`: an Ed25519 check of
    /// [`Self::signature`] over [`Self::signing_input`] under our signing key), for a callback
    /// to `provider` with `state` at `now`.
    pub fn open(
        self,
        sealed_by_us: bool,
        provider: &str,
        state: &str,
        now: u64,
    ) -> Result<Transaction, OidcError> {
        let refuse = |why| OidcError::new("transaction", why);
        let payload = self
            .0
            .open(sealed_by_us)
            .ok_or_else(|| refuse("bad_seal"))?;
        let transaction: Transaction =
            serde_json::from_slice(&payload).map_err(|_| refuse("payload"))?;
        if !bool::from(transaction.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(refuse("state_mismatch"));
        }
        if transaction.provider != provider {
            return Err(refuse("other_provider"));
        }
        if now >= transaction.exp {
            return Err(refuse("expired"));
        }
        Ok(transaction)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn key() -> SigningKey {
        SigningKey::from_seed(&mut [5u8; 32])
    }

    fn transaction() -> Transaction {
        let mut entropy = [0u8; 96];
        for (i, b) in entropy.iter_mut().enumerate() {
            *b = i as u8;
        }
        Transaction::new("corp", "/app".into(), &entropy, NOW)
    }

    #[test]
    fn a_fresh_login_is_one_the_provider_says_began_after_the_login() {
        let claims = |auth_time: Option<u64>| IdClaims {
            sub: "u".into(),
            email: None,
            name: None,
            sid: None,
            all: match auth_time {
                Some(t) => serde_json::json!({ "auth_time": t }),
                None => serde_json::json!({}),
            }
            .as_object()
            .cloned()
            .unwrap_or_default(),
        };
        let mut t = transaction();
        assert_eq!(t.check_fresh(&claims(None), 30), Ok(()), "not asked for");
        t.reauth = true;
        assert_eq!(t.check_fresh(&claims(Some(NOW + 5)), 30), Ok(()));
        assert_eq!(
            t.check_fresh(&claims(Some(NOW - 30)), 30),
            Ok(()),
            "within the leeway"
        );
        assert!(
            t.check_fresh(&claims(Some(NOW - 31)), 30).is_err(),
            "an old login"
        );
        assert!(t.check_fresh(&claims(None), 30).is_err(), "no auth_time");
        // It travels in the sealed cookie.
        let opened = open(&t.seal(&key()), "corp", &t.state, NOW).expect("opens");
        assert!(opened.reauth);
    }

    /// Opens with the seal checked by ed25519-dalek, as WebCrypto does in the Worker.
    fn open(value: &str, provider: &str, state: &str, now: u64) -> Result<Transaction, OidcError> {
        let sealed = SealedTransaction::parse(value)?;
        let verified = key()
            .verifying_key()
            .verify(sealed.signing_input(), sealed.signature())
            .is_ok();
        sealed.open(verified, provider, state, now)
    }

    #[test]
    fn a_sealed_transaction_opens_once_for_its_own_callback() {
        let t = transaction();
        assert_eq!(t.state.len(), 43);
        assert_ne!(t.state, t.nonce);
        assert!(t.cookie_name().starts_with("__Host-edgeauth-sso-"));
        assert_eq!(cookie_name(&t.state), Some(t.cookie_name()));
        let sealed = t.seal(&key());
        assert_eq!(open(&sealed, "corp", &t.state, NOW + 1), Ok(t.clone()));
    }

    #[test]
    fn a_long_next_is_not_kept() {
        let long = format!("/{}", "a".repeat(MAX_NEXT_BYTES));
        assert_eq!(Transaction::new("corp", long, &[0; 96], NOW).next, "/");
        let fits = format!("/{}", "a".repeat(MAX_NEXT_BYTES - 1));
        assert_eq!(
            Transaction::new("corp", fits.clone(), &[0; 96], NOW).next,
            fits
        );
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636 Appendix B.
        let t = Transaction {
            verifier: "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk".into(),
            ..transaction()
        };
        assert_eq!(
            t.code_challenge(),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn every_tampering_is_refused() {
        let t = transaction();
        let sealed = t.seal(&key());
        let code = |r: Result<Transaction, OidcError>| r.map_err(|e| e.0);
        let refused = |why: &str| Err(format!("transaction:{why}"));
        assert_eq!(
            code(open(&sealed, "corp", &transaction_state(&t, 'A'), NOW)),
            refused("state_mismatch")
        );
        assert_eq!(
            code(open(&sealed, "other", &t.state, NOW)),
            refused("other_provider")
        );
        assert_eq!(
            code(open(&sealed, "corp", &t.state, t.exp)),
            refused("expired")
        );
        let (payload, signature) = sealed.split_once('.').expect("two parts");
        let forged = Transaction {
            next: "https://evil.example".into(),
            ..t.clone()
        };
        let forged_payload = base64url::encode(&serde_json::to_vec(&forged).expect("json"));
        assert_eq!(
            code(open(
                &format!("{forged_payload}.{signature}"),
                "corp",
                &t.state,
                NOW
            )),
            refused("bad_seal")
        );
        let other_key = SigningKey::from_seed(&mut [6u8; 32]);
        assert_eq!(
            code(open(&t.seal(&other_key), "corp", &t.state, NOW)),
            refused("bad_seal")
        );
        // A signature by our key over something else (no domain prefix) does not seal.
        let bare = base64url::encode(&key().sign(payload.as_bytes()));
        assert_eq!(
            code(open(&format!("{payload}.{bare}"), "corp", &t.state, NOW)),
            refused("bad_seal")
        );
        for broken in ["", "x", "a.b", &format!("{payload}.{signature}x")] {
            assert!(open(broken, "corp", &t.state, NOW).is_err(), "{broken}");
        }
    }

    fn transaction_state(t: &Transaction, last: char) -> String {
        let mut state = t.state.clone();
        let replaced = state.pop();
        state.push(if replaced == Some(last) { 'B' } else { last });
        state
    }

    #[test]
    fn only_states_of_our_shape_name_a_cookie() {
        assert_eq!(cookie_name("short"), None);
        assert_eq!(cookie_name(&"a".repeat(44)), None);
        assert_eq!(cookie_name(&format!("{}=", "a".repeat(42))), None);
        assert!(cookie_name(&"a".repeat(43)).is_some());
    }
}
