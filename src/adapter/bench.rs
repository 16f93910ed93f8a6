//! Bench-only route, compiled in only with the `bench` cargo feature (which only `make bench`
//! passes, into its own output directory): no var, secret or request can turn it on in a
//! production bundle, because the code is not there.
//!
//! `POST /__bench/verify?mode=first|hit&n=N` with the token in the body verifies it `N` times in
//! this one request and answers `{"n","ms","us_per_op","ok"}`: `first` runs the request path's
//! fresh verification each time (core pre-checks, WebCrypto Ed25519, claims: what a request
//! without a cache hit pays), `hit` asks a verified-session cache that already holds the token
//! (what a repeat request pays instead), `mint` mints the token's `X-Auth-Assertion` (what a
//! first sight pays on top of verifying; WebCrypto `Ed25519` sign, the key imported once),
//! `whole` a first sight's whole work (verify and mint), `decide` runs a
//! cache-hit request's own work without I/O (decision and forwarded headers); `parse` and
//! `subtle` split `first` in two: the core's share (parse, strict checks and claims, with a
//! verdict of `true` instead of a signature check) and the WebCrypto call alone (through
//! wasm-bindgen, awaited).
//!
//! `issuer` and `service` a machine credential's first sight (an external access token, a
//! service token) without its I/O; `sso`, `passkey` and `password` run one login method's own work at the edge (see each
//! function), without its KV or provider I/O.
//!
//! `POST /__bench/verify?mode=memory` fills the isolate's verified-session cache through the
//! request path with `SESSION_CACHE_SIZE` distinct sessions (minted here, each like the body's
//! token but with its own `sid`) and answers the wasm linear memory before and after
//! (`{"entries","cache_bytes","memory_before","memory_after"}`, bytes).

use crate::config::GatewayConfig;
use crate::gateway;
use crate::gateway::headers::RequestFacts;
use crate::token::session_cache::{Session, SessionCache};
use crate::token::UntrustedToken;
use worker::{Date, Request, Response};

use super::token::{self as session, ed25519};
use super::{respond, signing, state};

/// Path of the bench route.
pub const PATH: &str = "/__bench/verify";

/// Runs the timed loop described in the module documentation.
pub async fn handle(mut req: Request, config: &GatewayConfig) -> Response {
    let url = match super::request_url::of(&req) {
        Ok(url) => url,
        Err(_) => return respond::json_text(400, r#"{"error":"url"}"#, "no-store"),
    };
    let (mut mode, mut n) = (String::from("first"), 1000u64);
    for (name, value) in url.query_pairs() {
        match name.as_ref() {
            "mode" => mode = value.into_owned(),
            "n" => n = value.parse().unwrap_or(1000).clamp(1, 10_000_000),
            _ => {}
        }
    }
    let token = req.text().await.unwrap_or_default();
    let token = token.trim();
    let now = Date::now().as_millis() / 1000;
    let mut ok = 0u64;
    match mode.as_str() {
        "hit" => {
            let mut cache = SessionCache::new(16);
            if let Ok(verified) =
                session::verify_fresh(token, &config.keys, &config.session, now).await
            {
                let claims = gateway::assertion_claims(config, &verified, now);
                let assertion = signing::mint(config, &claims).await.unwrap_or_default();
                let entry = Session {
                    verified,
                    assertion,
                };
                cache.insert(token, &entry, &config.session, now);
            }
            let start = Date::now().as_millis();
            for _ in 0..n {
                let answer = cache.get(token, now);
                ok += u64::from(std::hint::black_box(answer).is_some());
            }
            timed(n, Date::now().as_millis() - start, ok)
        }
        "memory" => fill_cache(token, config, now).await,
        "hit_isolate" => {
            // A hit in the isolate's own cache, however full it is (after `memory`, row 5b).
            if session::verify(config, token, now).await.is_err() {
                return respond::json_text(400, r#"{"error":"token"}"#, "no-store");
            }
            let start = Date::now().as_millis();
            for _ in 0..n {
                ok += u64::from(session::verify(config, token, now).await.is_ok());
            }
            timed(n, Date::now().as_millis() - start, ok)
        }
        "revocation" => revocation_at_scale(token, config, n, now).await,
        "parse" => {
            let start = Date::now().as_millis();
            for _ in 0..n {
                let answer = UntrustedToken::parse(token, config.session.max_token_bytes)
                    .and_then(|t| t.prepare(&config.keys))
                    .and_then(|p| p.complete_with_external_verdict(true, &config.session, now));
                ok += u64::from(std::hint::black_box(answer).is_ok());
            }
            timed(n, Date::now().as_millis() - start, ok)
        }
        "subtle" => {
            let Ok(pending) = UntrustedToken::parse(token, config.session.max_token_bytes)
                .and_then(|t| t.prepare(&config.keys))
            else {
                return respond::json_text(400, r#"{"error":"token"}"#, "no-store");
            };
            let start = Date::now().as_millis();
            for _ in 0..n {
                let (key, input, sig) =
                    (pending.key(), pending.signing_input(), pending.signature());
                ok += u64::from(std::hint::black_box(ed25519::verify(key, input, sig).await));
            }
            timed(n, Date::now().as_millis() - start, ok)
        }
        "decide" => {
            // A request's own work in edgeauth with a cache hit, without I/O: the decision
            // (session cache, rules) and the headers the origin gets (typical browser headers).
            let cookie = format!("{}={token}", config.cookie_name);
            let inbound = gateway::Inbound {
                method: "GET",
                path: "/app",
                accept: Some("text/html,application/xhtml+xml"),
                cookie: Some(&cookie),
                ..gateway::Inbound::default()
            };
            let headers = [
                ("accept", "text/html,application/xhtml+xml"),
                ("accept-encoding", "gzip, br"),
                ("accept-language", "en-GB,en;q=0.9"),
                ("cookie", cookie.as_str()),
                ("host", "app.example.com"),
                (
                    "user-agent",
                    "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                ),
                ("x-auth-user", "spoofed"),
            ];
            // As the request path does it (plan, the Worker's verifier, decide), less the
            // revocation copy, which needs the KV binding.
            let decide = || async {
                let plan = gateway::plan(config, &inbound).ok()?;
                let session = session::verify(config, plan.token()?, now).await.ok()?;
                let admitted =
                    gateway::decide(plan, Some(gateway::Checked::Valid(session.verified)), now)
                        .ok()?;
                Some((admitted, session.assertion))
            };
            let _ = decide().await;
            let start = Date::now().as_millis();
            for _ in 0..n {
                let decision = decide().await;
                let forwarded = decision.and_then(|(admitted, assertion)| {
                    let inbound = headers.iter().map(|(k, v)| (k.to_string(), v.to_string()));
                    let facts = RequestFacts {
                        client_ip: Some("203.0.113.7"),
                        proto: "https",
                        host: "app.example.com",
                    };
                    gateway::forward_headers(config, inbound, &admitted, &facts, Some(&assertion))
                        .ok()
                });
                ok += u64::from(std::hint::black_box(forwarded).is_some());
            }
            timed(n, Date::now().as_millis() - start, ok)
        }
        "mint" => {
            let Ok(verified) =
                session::verify_fresh(token, &config.keys, &config.session, now).await
            else {
                return respond::json_text(400, r#"{"error":"token"}"#, "no-store");
            };
            let claims = gateway::assertion_claims(config, &verified, now);
            let _ = signing::mint(config, &claims).await; // the key's import, once per isolate
            let start = Date::now().as_millis();
            for _ in 0..n {
                let claims = gateway::assertion_claims(config, &verified, now);
                let assertion = signing::mint(config, &claims).await;
                ok += u64::from(std::hint::black_box(assertion).is_ok());
            }
            timed(n, Date::now().as_millis() - start, ok)
        }
        "bound" => {
            // A request-bound assertion: claims for this request, minted (no cache can serve it).
            let Ok(verified) =
                session::verify_fresh(token, &config.keys, &config.session, now).await
            else {
                return respond::json_text(400, r#"{"error":"token"}"#, "no-store");
            };
            let request = gateway::BoundRequest {
                method: "POST",
                proto: "https",
                host: "app.example.com",
                path: "/pay/invoices/2026",
            };
            let start = Date::now().as_millis();
            for _ in 0..n {
                let mut jti = [0u8; 16];
                let _ = getrandom::fill(&mut jti);
                let claims = gateway::request_assertion_claims(
                    config,
                    &verified,
                    &request,
                    crate::encoding::base64url::encode(&jti),
                    now,
                );
                let assertion = signing::mint(config, &claims).await;
                ok += u64::from(std::hint::black_box(assertion).is_ok());
            }
            timed(n, Date::now().as_millis() - start, ok)
        }
        "whole" => {
            // A first sight's whole work: verify (no cache) and mint the assertion.
            let start = Date::now().as_millis();
            for _ in 0..n {
                let Ok(verified) =
                    session::verify_fresh(token, &config.keys, &config.session, now).await
                else {
                    break;
                };
                let claims = gateway::assertion_claims(config, &verified, now);
                let assertion = signing::mint(config, &claims).await;
                ok += u64::from(std::hint::black_box(assertion).is_ok());
            }
            timed(n, Date::now().as_millis() - start, ok)
        }
        "sso" => sso_callback(token, config, n, now).await,
        "issuer" => issuer_first_sight(token, config, n, now).await,
        "rules" => rules_decision(token, n, now),
        "hosts" => host_lookup(token, n),
        "service" => service_token_use(token, config, n, now).await,
        "passkey" => passkey_sign_in(token, config, n, now).await,
        "password" => {
            // A password login's own work: PBKDF2 (100,000 iterations, WebCrypto) against the
            // decoy, the same cost as a real record.
            let hash = crate::login::kv_passwords::decoy_hash();
            let start = Date::now().as_millis();
            for _ in 0..n {
                let matched =
                    crate::adapter::login::pbkdf2::verify_password(b"a password", &hash).await;
                ok += u64::from(matched.is_ok());
            }
            timed(n, Date::now().as_millis() - start, ok)
        }
        _ => {
            let start = Date::now().as_millis();
            for _ in 0..n {
                let answer = session::verify_fresh(token, &config.keys, &config.session, now).await;
                ok += u64::from(std::hint::black_box(answer).is_ok());
            }
            timed(n, Date::now().as_millis() - start, ok)
        }
    }
}

/// A single sign-on callback's own work, without the provider's I/O: parse the ID token, choose
/// the key, import it and verify the signature through WebCrypto (as the callback does), check
/// the claims, map the identity and mint the session. The body is
/// `{"id_token","jwk","issuer","client_id","nonce"}`.
async fn sso_callback(body: &str, config: &GatewayConfig, n: u64, now: u64) -> Response {
    use crate::login::oidc::id_token::{Expected, UntrustedIdToken};
    use crate::login::oidc::jwks::ProviderKeys;
    use crate::login::oidc::mapping::Mapping;
    use crate::login::{self, Verdict};
    let Ok(input) = serde_json::from_str::<serde_json::Value>(body) else {
        return respond::json_text(400, r#"{"error":"body"}"#, "no-store");
    };
    let text = |name: &str| input.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    let jwks = serde_json::json!({ "keys": [input.get("jwk")] }).to_string();
    let (Ok(keys), Ok(mapping)) = (
        ProviderKeys::parse(jwks.as_bytes()),
        Mapping::from_json(Default::default()),
    ) else {
        return respond::json_text(400, r#"{"error":"jwk"}"#, "no-store");
    };
    let expected = Expected {
        issuer: text("issuer"),
        client_id: text("client_id"),
        nonce: text("nonce"),
        leeway_secs: config.session.leeway_secs,
        now,
    };
    let mut ok = 0u64;
    let start = Date::now().as_millis();
    for _ in 0..n {
        let Ok(token) = UntrustedIdToken::parse(text("id_token")) else {
            break;
        };
        let Ok(key) = keys.select(token.kid(), token.alg()) else {
            break;
        };
        let verified = crate::adapter::webcrypto::verify(
            &key.jwk,
            token.alg(),
            token.signing_input(),
            token.signature(),
        )
        .await
        .unwrap_or(false);
        let Ok(claims) = token.complete(verified, &expected) else {
            break;
        };
        if let Verdict::Authenticated(identity) = mapping.identity("bench", &claims) {
            let session = login::new_session_claims(config, &identity, "sid".into(), now);
            let minted = signing::mint(config, &session).await;
            ok += u64::from(std::hint::black_box(minted).is_ok());
        }
    }
    timed(n, Date::now().as_millis() - start, ok)
}

/// A trusted issuer's access token at first sight, without fetching the JWKS: parse, choose the
/// key, import it and verify through WebCrypto, check the claims, map the identity and mint the
/// assertion (as `adapter::machine::issuer` and the verifier do). The body is
/// `{"token","jwk","issuer","audience"}`.
async fn issuer_first_sight(body: &str, config: &GatewayConfig, n: u64, now: u64) -> Response {
    use crate::login::oidc::jwks::ProviderKeys;
    use crate::machine::issuer::TrustedIssuers;
    let Ok(input) = serde_json::from_str::<serde_json::Value>(body) else {
        return respond::json_text(400, r#"{"error":"body"}"#, "no-store");
    };
    let text = |name: &str| input.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    let entry = serde_json::json!([{
        "id": "bench", "issuer": text("issuer"), "audiences": [text("audience")],
        "jwks_uri": format!("{}/jwks", text("issuer")),
    }])
    .to_string();
    let vars = crate::config::Vars::new(|name| (name == "TRUSTED_ISSUERS").then(|| entry.clone()));
    let jwks = serde_json::json!({ "keys": [input.get("jwk")] }).to_string();
    let (Ok(issuers), Ok(keys)) = (
        TrustedIssuers::from_vars(&vars, &config.session, &config.providers),
        ProviderKeys::parse(jwks.as_bytes()),
    ) else {
        return respond::json_text(400, r#"{"error":"issuer"}"#, "no-store");
    };
    let token = text("token");
    let mut ok = 0u64;
    let start = Date::now().as_millis();
    for _ in 0..n {
        let Some(issuer) = issuers.for_token(token) else {
            break;
        };
        let Ok(parsed) = issuer.parse(token) else {
            break;
        };
        let Ok(key) = keys.select(parsed.kid(), parsed.alg()) else {
            break;
        };
        let verified = crate::adapter::webcrypto::verify(
            &key.jwk,
            parsed.alg(),
            parsed.signing_input(),
            parsed.signature(),
        )
        .await
        .unwrap_or(false);
        let Ok(identity) = issuer.complete(parsed, verified, &config.session, now) else {
            break;
        };
        let claims = gateway::assertion_claims(config, &identity, now);
        ok += u64::from(std::hint::black_box(signing::mint(config, &claims).await).is_ok());
    }
    timed(n, Date::now().as_millis() - start, ok)
}

/// The rules' decision for one request, as `gateway::plan` and `gateway::decide` make it:
/// `access_for` (every reading of the path) and `evaluate` for a session's subject. The body is
/// `{"rules": [...], "path": "...", "claims": {...}}`, the subject's claims beside `sub`
/// `bench`, roles `["staff"]` and an e-mail at `example.com`.
fn rules_decision(body: &str, n: u64, now: u64) -> Response {
    use crate::gateway::rules::{AccessRules, Subject, Verdict};
    let Ok(input) = serde_json::from_str::<serde_json::Value>(body) else {
        return respond::json_text(400, r#"{"error":"body"}"#, "no-store");
    };
    let rules_text = input
        .get("rules")
        .map(|r| r.to_string())
        .unwrap_or_default();
    let Ok(rules) = AccessRules::from_json(&rules_text, false) else {
        return respond::json_text(400, r#"{"error":"rules"}"#, "no-store");
    };
    let path = input.get("path").and_then(|p| p.as_str()).unwrap_or("/");
    let claims = input
        .get("claims")
        .and_then(|c| c.as_object())
        .cloned()
        .unwrap_or_default();
    let roles = vec!["staff".to_owned()];
    let subject = Subject {
        sub: "bench",
        roles: &roles,
        email: Some("bench@example.com"),
        claims: &claims,
        login_time: Some(now),
    };
    let mut ok = 0u64;
    let start = Date::now().as_millis();
    for _ in 0..n {
        let verdict = rules
            .access_for("GET", path)
            .evaluate(Some(&subject), now, false);
        ok += u64::from(std::hint::black_box(verdict) == Verdict::Pass);
    }
    timed(n, Date::now().as_millis() - start, ok)
}

/// Finding whom a request is for by its host (`apps::Deployment::site`), in a deployment built
/// from the body's vars (`{"vars": {...}, "host": "..."}`: `APPS` with as many apps as asked).
fn host_lookup(body: &str, n: u64) -> Response {
    use crate::apps::{Deployment, Site};
    let Ok(input) = serde_json::from_str::<serde_json::Value>(body) else {
        return respond::json_text(400, r#"{"error":"body"}"#, "no-store");
    };
    let vars = input
        .get("vars")
        .and_then(|v| v.as_object())
        .cloned()
        .unwrap_or_default();
    let Ok(deployment) =
        Deployment::from_lookup(|name| vars.get(name).and_then(|v| v.as_str()).map(str::to_owned))
    else {
        return respond::json_text(400, r#"{"error":"vars"}"#, "no-store");
    };
    let host = input.get("host").and_then(|h| h.as_str());
    let mut ok = 0u64;
    let start = Date::now().as_millis();
    for _ in 0..n {
        let site = deployment.site(std::hint::black_box(host));
        ok += u64::from(matches!(site, Ok(Site::App(_))));
    }
    timed(n, Date::now().as_millis() - start, ok)
}

/// A service token's use, without the KV read: the format, the record, the digest compared in
/// constant time, and the assertion minted. The body is `{"client_id","secret","record"}`.
async fn service_token_use(body: &str, config: &GatewayConfig, n: u64, now: u64) -> Response {
    use crate::machine::service_token::{check, Presented};
    let Ok(input) = serde_json::from_str::<serde_json::Value>(body) else {
        return respond::json_text(400, r#"{"error":"body"}"#, "no-store");
    };
    let text = |name: &str| input.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    let mut ok = 0u64;
    let start = Date::now().as_millis();
    for _ in 0..n {
        let Some(presented) = Presented::parse(text("client_id"), text("secret")) else {
            break;
        };
        let Ok(identity) = check(
            &presented,
            Some(text("record")),
            &config.session,
            config.sessions.ttl_secs,
            now,
        ) else {
            break;
        };
        let claims = gateway::assertion_claims(config, &identity, now);
        ok += u64::from(std::hint::black_box(signing::mint(config, &claims).await).is_ok());
    }
    timed(n, Date::now().as_millis() - start, ok)
}

/// A passkey sign-in's own work, without the KV reads and writes: the core's checks (client
/// data, authenticator data, DER to `r || s`, the signed message), the key import and ECDSA /
/// Ed25519 / RSA verification through WebCrypto (as the route does), the counter, and the session
/// mint. The body is `{"rp_id","origin","challenge","client_data_json","authenticator_data",
/// "signature","jwk","alg"}` (binary members in base64url).
async fn passkey_sign_in(body: &str, config: &GatewayConfig, n: u64, now: u64) -> Response {
    use crate::encoding::base64url;
    use crate::login::passkey::ceremony::{self, Expected};
    use crate::login::passkey::cose::PublicKey;
    use crate::login::passkey::credential::{Profile, StoredCredential};
    use crate::login::passkey::{Settings, UserVerification};
    let Ok(input) = serde_json::from_str::<serde_json::Value>(body) else {
        return respond::json_text(400, r#"{"error":"body"}"#, "no-store");
    };
    let text = |name: &str| input.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    let bytes = |name: &str| base64url::decode(text(name)).unwrap_or_default();
    let settings = Settings {
        rp_id: text("rp_id").into(),
        rp_name: "bench".into(),
        origins: vec![text("origin").into()],
        user_verification: UserVerification::Required,
    };
    let record = StoredCredential {
        id: "YmVuY2g".into(),
        user: "user-1".into(),
        public_key: PublicKey {
            alg: input
                .get("alg")
                .and_then(|a| a.as_i64())
                .unwrap_or_default(),
            jwk: input
                .get("jwk")
                .and_then(|j| j.as_object())
                .cloned()
                .unwrap_or_default(),
        },
        counter: 0,
        transports: vec![],
        name: "bench".into(),
        created: now,
        backup_eligible: false,
        backed_up: false,
    };
    let profile = Profile {
        roles: vec!["user".into()],
        name: None,
        email: None,
        disabled: false,
        enrollments_after: None,
    };
    let (challenge, client_data, data, signature) = (
        bytes("challenge"),
        bytes("client_data_json"),
        bytes("authenticator_data"),
        bytes("signature"),
    );
    let mut ok = 0u64;
    let start = Date::now().as_millis();
    for _ in 0..n {
        let expected = Expected {
            settings: &settings,
            challenge: &challenge,
            request_origin: &settings.origins[0],
        };
        let Ok(pending) = ceremony::sign_in(
            &expected,
            &record,
            &client_data,
            &data,
            &signature,
            None,
            true,
        ) else {
            break;
        };
        let valid = crate::adapter::login::passkey::signature_valid(&pending, &record)
            .await
            .unwrap_or(false);
        let Ok(signed_in) = pending.finish(valid, record.counter) else {
            break;
        };
        let identity = profile.identity(&record.user, signed_in.flags.user_verified());
        let session = crate::login::new_session_claims(config, &identity, "sid".into(), now);
        let minted = signing::mint(config, &session).await;
        ok += u64::from(std::hint::black_box(minted).is_ok());
    }
    timed(n, Date::now().as_millis() - start, ok)
}

fn timed(n: u64, ms: u64, ok: u64) -> Response {
    let us = ms as f64 * 1000.0 / n as f64;
    respond::json_text(
        200,
        &format!(r#"{{"n":{n},"ms":{ms},"us_per_op":{us:.3},"ok":{ok}}}"#),
        "no-store",
    )
}

async fn fill_cache(token: &str, config: &GatewayConfig, now: u64) -> Response {
    let Ok(template) = session::verify_fresh(token, &config.keys, &config.session, now).await
    else {
        return respond::json_text(400, r#"{"error":"token"}"#, "no-store");
    };
    let memory_before = memory_bytes();
    let mut claims = template.into_claims();
    for i in 0..config.session_cache_size {
        claims.sid = format!("{:022}", i);
        let Ok(minted) = signing::mint(config, &claims).await else {
            return respond::json_text(500, r#"{"error":"mint"}"#, "no-store");
        };
        if session::verify(config, &minted, now).await.is_err() {
            return respond::json_text(500, r#"{"error":"fill"}"#, "no-store");
        }
    }
    let (entries, cache_bytes) = state::with_session_cache(config, |c| (c.len(), c.bytes()));
    let memory_after = memory_bytes();
    respond::json_text(
        200,
        &format!(
            r#"{{"entries":{entries},"cache_bytes":{cache_bytes},"memory_before":{memory_before},"memory_after":{memory_after}}}"#
        ),
        "no-store",
    )
}

/// The revocation document at scale: the body is `{"token", "document"}`, a document of many
/// entries. Reports the time to parse it (an isolate's refresh; the best of a few), the memory
/// the parsed copy holds, and the per-request check of a session against it (`n` times).
async fn revocation_at_scale(body: &str, config: &GatewayConfig, n: u64, now: u64) -> Response {
    use crate::gateway::revocation::RevocationList;
    let Ok(input) = serde_json::from_str::<serde_json::Value>(body) else {
        return respond::json_text(400, r#"{"error":"body"}"#, "no-store");
    };
    let text = |name: &str| input.get(name).and_then(|v| v.as_str()).unwrap_or_default();
    let Ok(verified) =
        session::verify_fresh(text("token"), &config.keys, &config.session, now).await
    else {
        return respond::json_text(400, r#"{"error":"token"}"#, "no-store");
    };
    let document = text("document");
    // The copy an isolate holds: what parsing it first grows the memory by.
    let memory_before = memory_bytes();
    let Ok(list) = RevocationList::parse(document) else {
        return respond::json_text(400, r#"{"error":"document"}"#, "no-store");
    };
    let memory_after = memory_bytes();
    let mut parse_ms = u64::MAX;
    for _ in 0..3 {
        let start = Date::now().as_millis();
        let parsed = RevocationList::parse(document);
        parse_ms = parse_ms.min(Date::now().as_millis() - start);
        if parsed.is_err() {
            return respond::json_text(400, r#"{"error":"document"}"#, "no-store");
        }
    }
    let mut ok = 0u64;
    let start = Date::now().as_millis();
    for _ in 0..n {
        ok += u64::from(std::hint::black_box(list.check(&verified)).is_ok());
    }
    let check_ms = Date::now().as_millis() - start;
    respond::json_text(
        200,
        &format!(
            r#"{{"entries":{},"parse_ms":{parse_ms},"check_us":{:.3},"ok":{ok},"n":{n},"memory_delta":{}}}"#,
            list.len(),
            (check_ms as f64 * 1000.0) / n as f64,
            memory_after.saturating_sub(memory_before)
        ),
        "no-store",
    )
}

/// The wasm linear memory's current size in bytes (it only grows).
fn memory_bytes() -> usize {
    core::arch::wasm32::memory_size(0) * 65536
}
