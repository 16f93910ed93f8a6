//! A provider's ID token, a back-channel logout token and a trusted issuer's access token: the
//! JWS shape and header first, then (only after the signature verified, which the Worker does in
//! WebCrypto) the claims, and the identity the provider's mapping makes of them.
//!
//! Input: the token as text; also `header JSON \0 payload JSON`, encoded here into a token
//! with a signature of each accepted length, so the claim checks see arbitrary claims.
//! Properties: nothing unverified completes; a completed ID token is the configured issuer's,
//! for our client id, with the login's nonce, unexpired, with a `sub` of 1 to 255 bytes and an
//! e-mail only when it is verified.
#![no_main]

use edgeauth::config::Vars;
use edgeauth::encoding::base64url;
use edgeauth::login::oidc::id_token::{Expected, UntrustedIdToken};
use edgeauth::login::oidc::Providers;
use edgeauth::login::Verdict;
use edgeauth_fuzz::{fields, text};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::OnceLock;

const NOW: u64 = 1_800_000_000;
const EXPECTED: Expected<'static> = Expected {
    issuer: "https://idp.example.com",
    client_id: "edge",
    nonce: "n-0S6_WzA2Mj",
    leeway_secs: 60,
    now: NOW,
};
const PROVIDERS: &str = r#"[{"id": "corp", "label": "Corp", "issuer": "https://idp.example.com",
    "client_id": "edge", "client_secret_secret": "S",
    "mapping": {"default_roles": ["user"], "groups_claim": "groups",
                "group_roles": {"admins": ["admin"]}, "email_domain_roles": {"example.com": ["staff"]},
                "allowed_email_domains": ["example.com"], "required_claims": {"hd": "example.com"},
                "keep_claims": ["groups", "department"]}}]"#;

fn providers() -> &'static Providers {
    static PROVIDERS_: OnceLock<Providers> = OnceLock::new();
    PROVIDERS_.get_or_init(|| {
        Providers::from_vars(&Vars::new(|name| match name {
            "IDENTITY_PROVIDERS" => Some(PROVIDERS.into()),
            "S" => Some("secret".into()),
            _ => None,
        }))
        .expect("the fuzz provider is valid")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Some(token) = text(data) {
        check(token);
    }
    let [header, payload] = fields::<2>(data);
    for signature_bytes in [64, 256] {
        let token = format!(
            "{}.{}.{}",
            base64url::encode(header),
            base64url::encode(payload),
            base64url::encode(&vec![0x5a; signature_bytes])
        );
        check(&token);
    }
});

fn check(token: &str) {
    if let Ok(parsed) = UntrustedIdToken::parse(token) {
        assert!(token.as_bytes().starts_with(parsed.signing_input()));
        assert!(parsed.kid().is_none_or(|kid| !kid.is_empty()));
    }
    if UntrustedIdToken::parse(token).is_ok_and(|t| t.complete(false, &EXPECTED).is_ok()) {
        panic!("an unverified ID token completed: {token:?}");
    }
    if let Ok(claims) = UntrustedIdToken::parse(token).and_then(|t| t.complete(true, &EXPECTED)) {
        assert_eq!(claims.all["iss"], EXPECTED.issuer);
        assert_eq!(claims.all["nonce"], EXPECTED.nonce);
        assert!(!claims.sub.is_empty() && claims.sub.len() <= 255);
        if claims.email.is_some() {
            let verified = &claims.all["email_verified"];
            assert!(
                verified == &Value::Bool(true) || verified == "true",
                "{verified:?}"
            );
        }
        let provider = providers().get("corp").expect("configured");
        if let Verdict::Authenticated(identity) = provider.mapping.identity("corp", &claims) {
            assert_eq!(identity.sub, format!("corp:{}", claims.sub));
        }
    }

    if let Ok(parsed) = UntrustedIdToken::parse_logout(token) {
        let _ = parsed.complete_logout(true, &EXPECTED);
    }
    if UntrustedIdToken::parse_logout(token)
        .is_ok_and(|t| t.complete_logout(false, &EXPECTED).is_ok())
    {
        panic!("an unverified logout token completed: {token:?}");
    }
    if let Ok(parsed) = UntrustedIdToken::parse_access(token) {
        let _ = parsed.verified_claims(true);
    }
    if UntrustedIdToken::parse_access(token).is_ok_and(|t| t.verified_claims(false).is_ok()) {
        panic!("an unverified access token's claims were read: {token:?}");
    }
}
