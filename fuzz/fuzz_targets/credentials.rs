//! The credential a request presents: the `Cookie` header (the session cookie found once, or
//! refused as ambiguous; the header the origin receives without it), `Authorization`, the two
//! service token headers, and the sealed cookie values the edge takes back (single sign-on
//! transactions, passkey challenges, enrollment links), whose payload is only read once sealed.
//!
//! Input: `cookie \0 authorization \0 service token id \0 service token secret`.
//! Properties: a found cookie value is part of the header; the header the origin receives
//! without the session cookie holds no session cookie (nor, found that way, an ambiguous one);
//! a bearer token is one non-empty word; a cookie and a bearer token that differ are refused.
#![no_main]

use edgeauth::gateway::cookie::{self, DEFAULT_NAME};
use edgeauth::gateway::credentials::{extract, CredentialError, Source};
use edgeauth::login::oidc::transaction::SealedTransaction;
use edgeauth::login::passkey::challenge::SealedChallenge;
use edgeauth::login::passkey::client_data::Ceremony;
use edgeauth::login::passkey::enrollment::SealedEnrollment;
use edgeauth::machine::service_token::Presented;
use edgeauth_fuzz::{fields, lossy};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;

fuzz_target!(|data: &[u8]| {
    let [cookie_header, authorization, client_id, secret] = fields::<4>(data).map(lossy);
    let header = cookie_header.as_ref();

    for name in [DEFAULT_NAME, "session"] {
        let found = cookie::find(header, name);
        if let Ok(Some(value)) = found {
            assert!(header.contains(value), "{header:?} -> {value:?}");
        }
        if let Some(kept) = cookie::without(header, name) {
            assert_eq!(
                cookie::find(&kept, name),
                Ok(None),
                "{header:?} -> {kept:?}"
            );
        }
        let _ = cookie::without_lookalikes(header, name);
    }

    let presented = extract(
        Some(header),
        Some(authorization.as_ref()).filter(|a| !a.is_empty()),
        DEFAULT_NAME,
    );
    match presented {
        Ok(Some((token, source))) => {
            assert!(!token.is_empty(), "{data:?}");
            if source == Source::Bearer {
                assert!(!token.contains([' ', '\t', ',']), "{token:?}");
            }
        }
        Ok(None) => {}
        Err(CredentialError::Conflicting) => {
            assert!(matches!(cookie::find(header, DEFAULT_NAME), Ok(Some(_))));
        }
        Err(_) => {}
    }

    if let Some(presented) = Presented::parse(&client_id, &secret) {
        assert_eq!(presented.client_id, client_id.trim());
    }

    // The cookie's value (or the whole field) read as each sealed value the edge sets: split
    // and decoded, never opened without a verified seal.
    let found = cookie::find(header, DEFAULT_NAME).ok().flatten();
    for value in [Some(header), found].into_iter().flatten() {
        let transaction = || SealedTransaction::parse(value);
        let challenge = || SealedChallenge::parse(value);
        let enrollment = || SealedEnrollment::parse(value);
        assert!(!transaction().is_ok_and(|t| t.open(false, "corp", "state", NOW).is_ok()));
        assert!(!challenge().is_ok_and(|c| c.open(false, Ceremony::SignIn, NOW).is_ok()));
        assert!(!enrollment().is_ok_and(|e| e.open(false, NOW).is_ok()));
        let _ = transaction().map(|t| t.open(true, "corp", "state", NOW));
        let _ = challenge().map(|c| c.open(true, Ceremony::Register, NOW));
        let _ = enrollment().map(|e| e.open(true, NOW));
    }
});
