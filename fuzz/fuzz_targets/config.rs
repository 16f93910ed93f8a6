//! The configuration: every Worker var and secret read into one `GatewayConfig`, each
//! section also read alone (so a bad section does not hide the ones after it), then a request
//! or two decided with what was accepted.
//!
//! Input: `NAME=value` records separated by NUL; names not given fall back to a valid signing
//! key and nothing else. `ACCESS_RULES`, `IDENTITY_PROVIDERS`, `TRUSTED_ISSUERS`, `PREVIOUS_KEYS`
//! and the rest are all reached this way.
//! Properties: nothing panics; an accepted configuration has a valid cookie name and an
//! assertion audience other than the sessions'; deciding a request with it never panics.
#![no_main]

use edgeauth::config::{GatewayConfig, Vars};
use edgeauth::gateway::headers::IdentityHeaders;
use edgeauth::gateway::rules::AccessRules;
use edgeauth::gateway::{self, revocation, Inbound};
use edgeauth::login::oidc::Providers;
use edgeauth::login::{passkey, upstream, PasswordStore, SessionSettings};
use edgeauth::machine::issuer::TrustedIssuers;
use edgeauth::machine::service_token;
use edgeauth::token::jwk::public_keys_from_json;
use edgeauth::token::validation::Validation;
use edgeauth::{mint, Claims, SigningKey};
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const NOW: u64 = 1_800_000_000;

fn signing_key() -> &'static str {
    static KEY: OnceLock<String> = OnceLock::new();
    KEY.get_or_init(|| {
        SigningKey::from_seed(&mut [4u8; 32])
            .to_private_jwk()
            .to_string()
    })
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut vars: BTreeMap<&str, &str> = BTreeMap::new();
    for record in text.split('\0') {
        if let Some((name, value)) = record.split_once('=') {
            vars.insert(name, value);
        }
    }
    let lookup = |name: &str| match vars.get(name) {
        Some(value) => Some((*value).to_owned()),
        None if name == "SIGNING_KEY" => Some(signing_key().to_owned()),
        None => None,
    };

    // Each section alone.
    let sections = Vars::new(lookup);
    let _ = AccessRules::from_vars(&sections);
    let _ = IdentityHeaders::from_vars(&sections);
    let _ = PasswordStore::from_vars(&sections);
    let _ = passkey::Settings::from_vars(&sections);
    let _ = service_token::Settings::from_vars(&sections);
    let _ = service_token::header_names(&sections);
    let _ = upstream::Settings::from_vars(&sections);
    let _ = revocation::Settings::from_vars(&sections);
    let _ = SessionSettings::from_vars(&sections, 86_400);
    if let Some(keys) = vars.get("PREVIOUS_KEYS") {
        let _ = public_keys_from_json(keys);
    }
    let session = Validation::from_vars(&sections);
    let providers = Providers::from_vars(&sections);
    if let (Ok(session), Ok(providers)) = (&session, &providers) {
        let _ = TrustedIssuers::from_vars(&sections, session, providers);
    }

    // All of it.
    let Ok(config) = GatewayConfig::from_lookup(lookup) else {
        return;
    };
    assert!(!config.cookie_name.is_empty());
    assert!(config
        .cookie_name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)));
    assert_ne!(config.assertion_audience, config.session.audience);

    let claims = Claims {
        iss: config.session.issuer.clone(),
        aud: vec![config.session.audience.clone()],
        sub: "alice".into(),
        sid: "AAAAAAAAAAAAAAAAAAAAAA".into(),
        iat: NOW - 10,
        exp: NOW + 600,
        nbf: None,
        auth_time: NOW - 10,
        roles: vec!["admin".into(), "user".into()],
        name: None,
        email: None,
        extra: Default::default(),
    };
    let bearer = format!("Bearer {}", mint(&claims, config.signing_key()));
    for (method, path, authorization) in [
        ("GET", "/", None),
        ("GET", "/admin/users", Some(bearer.as_str())),
        ("POST", "/app/1", Some(bearer.as_str())),
    ] {
        let inbound = Inbound {
            method,
            path,
            accept: Some("application/json"),
            authorization,
            host: "edge.test",
            ..Inbound::default()
        };
        if let Ok(admitted) = gateway::admit(&config, &inbound, NOW) {
            if let Some(session) = &admitted.identity {
                let _ = gateway::assertion(&config, session, NOW);
            }
        }
    }
});
