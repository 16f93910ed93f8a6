//! What a provider's endpoints answer besides keys and ID tokens: its discovery document
//! (OpenID Connect Discovery, and RFC 8414 for a trusted issuer's `jwks_uri`), and GitHub's
//! token answer and API answers (`/user`, `/user/emails`, `/user/teams`).
//!
//! Input: the document; also read as `user \0 emails \0 teams` for GitHub.
//! Properties: an accepted discovery document names exactly the configured issuer, every
//! endpoint is https (http only for a provider on this machine, and then only to it), and the
//! trusted issuer's reading finds the same `jwks_uri`. GitHub's `sub` is the numeric id.
#![no_main]

use edgeauth::config::Vars;
use edgeauth::login::oidc::discovery::{jwks_uri, Discovery};
use edgeauth::login::oidc::{github, Providers};
use edgeauth::login::Verdict;
use edgeauth_fuzz::fields;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

const PROVIDERS: &str = r#"[
    {"id": "corp", "label": "Corp", "issuer": "https://idp.example.com",
     "client_id": "edge", "client_secret_secret": "S", "end_session": true},
    {"id": "dev", "label": "Dev", "issuer": "http://127.0.0.1:9000/realm",
     "client_id": "edge", "client_secret_secret": "S"},
    {"id": "gh", "kind": "github", "label": "GitHub", "client_id": "edge",
     "client_secret_secret": "S",
     "mapping": {"default_roles": ["user"], "group_roles": {"acme/eng": ["eng"]},
                 "allowed_groups": ["acme"], "keep_claims": ["groups"]}}
]"#;

fn providers() -> &'static Providers {
    static PROVIDERS_: OnceLock<Providers> = OnceLock::new();
    PROVIDERS_.get_or_init(|| {
        Providers::from_vars(&Vars::new(|name| match name {
            "IDENTITY_PROVIDERS" => Some(PROVIDERS.into()),
            "S" => Some("secret".into()),
            _ => None,
        }))
        .expect("the fuzz providers are valid")
    })
}

fuzz_target!(|data: &[u8]| {
    let providers = providers();
    for id in ["corp", "dev"] {
        let provider = providers.get(id).expect("configured");
        let local = provider.issuer.starts_with("http://");
        let parsed = Discovery::parse(data, provider);
        if let Ok(discovery) = &parsed {
            assert_eq!(discovery.issuer, provider.issuer);
            let endpoints = [
                Some(&discovery.authorization_endpoint),
                Some(&discovery.token_endpoint),
                Some(&discovery.jwks_uri),
                discovery.end_session_endpoint.as_ref(),
            ];
            for endpoint in endpoints.into_iter().flatten() {
                let https = endpoint
                    .get(..8)
                    .is_some_and(|s| s.eq_ignore_ascii_case("https://"));
                let http = endpoint
                    .get(..7)
                    .is_some_and(|s| s.eq_ignore_ascii_case("http://"));
                assert!(https || (local && http), "{endpoint:?} for {id}");
                assert!(!endpoint.contains('#'), "{endpoint:?}");
            }
        }
        let uri = jwks_uri(data, &provider.issuer);
        if let (Ok(discovery), Ok(uri)) = (&parsed, &uri) {
            assert_eq!(&discovery.jwks_uri, uri);
        }
    }

    let _ = github::access_token(data);
    let [user, emails, teams] = fields::<3>(data);
    let teams = Some(teams).filter(|t| !t.is_empty());
    if let Ok(claims) = github::claims(user, emails, teams) {
        assert!(
            claims.sub.bytes().all(|b| b.is_ascii_digit()),
            "{:?}",
            claims.sub
        );
        let mapping = &providers.get("gh").expect("configured").mapping;
        if let Verdict::Authenticated(identity) = mapping.identity("gh", &claims) {
            assert!(identity.sub.starts_with("gh:"), "{:?}", identity.sub);
        }
    }
});
