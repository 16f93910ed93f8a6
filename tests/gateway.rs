//! The gateway's per-request decision and forwarded headers, natively (the same logic runs in
//! the Worker; the wrangler tests cover the glue).

use edgeauth::claims::Claims;
use edgeauth::config::GatewayConfig;
use edgeauth::gateway::{self, Admitted, Inbound};
use edgeauth::refusal::Refusal;
use edgeauth::{mint, SigningKey};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;
const RULES: &str = r#"[
    {"path": "/public/*", "access": "public"},
    {"path": "/admin/*", "roles": ["admin"]},
    {"path": "/app/*", "access": "authenticated"}
]"#;

fn config() -> GatewayConfig {
    let key = SigningKey::from_seed(&mut [11u8; 32])
        .to_private_jwk()
        .to_string();
    GatewayConfig::from_lookup(|name| match name {
        "SIGNING_KEY" => Some(key.clone()),
        "ACCESS_RULES" => Some(RULES.into()),
        "ISSUER" => Some("https://edge.test".into()),
        "RESERVED_HEADERS" => Some("X-Remote-User".into()),
        _ => None,
    })
    .expect("valid config")
}

fn token(config: &GatewayConfig, roles: &[&str]) -> String {
    let claims = Claims {
        iss: "https://edge.test".into(),
        aud: vec!["edgeauth".into()],
        sub: "alice".into(),
        sid: "c2Vzc2lvbi1pZC0xMjM0NQ".into(),
        iat: NOW - 10,
        exp: NOW + 600,
        nbf: None,
        auth_time: NOW - 10,
        roles: roles.iter().map(|r| r.to_string()).collect(),
        name: None,
        email: None,
        extra: Default::default(),
    };
    mint(&claims, config.signing_key())
}

fn request<'a>(path: &'a str, cookie: Option<&'a str>, bearer: Option<&'a str>) -> Inbound<'a> {
    Inbound {
        method: "GET",
        path,
        accept: Some("application/json"),
        cookie,
        authorization: bearer,
    }
}

fn refusal(config: &GatewayConfig, inbound: &Inbound) -> Option<Refusal> {
    gateway::admit(config, inbound, NOW)
        .err()
        .map(|d| d.refusal)
}

#[test]
fn valid_cookie_and_bearer_are_admitted_with_identity() {
    let config = config();
    let token = token(&config, &["user"]);
    let cookie = format!("theme=dark; __Host-edgeauth={token}");
    let bearer = format!("Bearer {token}");
    for inbound in [
        request("/app/x", Some(&cookie), None),
        request("/app/x", None, Some(&bearer)),
    ] {
        let admitted = gateway::admit(&config, &inbound, NOW).expect("admitted");
        assert_eq!(admitted.path, "/app/x");
        assert_eq!(
            admitted.identity.map(|c| c.claims().sub.clone()).as_deref(),
            Some("alice")
        );
    }
}

#[test]
fn protected_routes_refuse_anonymous_and_bad_tokens() {
    let config = config();
    let token = token(&config, &["user"]);
    let mut forged = token.clone();
    forged.pop();
    forged.push(if token.ends_with('A') { 'B' } else { 'A' });
    let forged_cookie = format!("__Host-edgeauth={forged}");
    assert_eq!(
        refusal(&config, &request("/app/x", None, None)),
        Some(Refusal::Unauthenticated)
    );
    assert_eq!(
        refusal(&config, &request("/unlisted", None, None)),
        Some(Refusal::Unauthenticated)
    );
    assert_eq!(
        refusal(&config, &request("/app/x", Some(&forged_cookie), None)),
        Some(Refusal::Unauthenticated)
    );
    let mut navigation = request("/app/x", None, None);
    navigation.accept = Some("text/html,application/xhtml+xml,*/*;q=0.8");
    assert_eq!(refusal(&config, &navigation), Some(Refusal::LoginRequired));
    navigation.method = "POST";
    assert_eq!(
        refusal(&config, &navigation),
        Some(Refusal::Unauthenticated),
        "only GET/HEAD redirect"
    );
}

#[test]
fn roles_are_enforced() {
    let config = config();
    let user = format!("Bearer {}", token(&config, &["user"]));
    let admin = format!("Bearer {}", token(&config, &["user", "admin"]));
    let denied =
        gateway::admit(&config, &request("/admin/panel", None, Some(&user)), NOW).expect_err("403");
    assert_eq!(
        (denied.refusal, denied.reason, denied.sub.as_deref()),
        (Refusal::Forbidden, "missing_role", Some("alice"))
    );
    assert!(gateway::admit(&config, &request("/admin/panel", None, Some(&admin)), NOW).is_ok());
}

#[test]
fn public_routes_pass_without_a_token_and_ignore_a_bad_one() {
    let config = config();
    let admitted = gateway::admit(&config, &request("/public/a", None, None), NOW).expect("public");
    assert!(admitted.identity.is_none());
    let admitted = gateway::admit(
        &config,
        &request("/public/a", Some("__Host-edgeauth=junk"), None),
        NOW,
    )
    .expect("public");
    assert!(admitted.identity.is_none());
    assert_eq!(admitted.ignored, Some("malformed"));
}

#[test]
fn path_tricks_never_reach_a_protected_resource_anonymously() {
    let config = config();
    for (raw, want) in [
        ("/public/../admin", Some(Refusal::Unauthenticated)),
        ("/public/%2e%2e/admin", Some(Refusal::Unauthenticated)),
        ("/public/%2E%2E/admin/x", Some(Refusal::Unauthenticated)),
        ("//admin", Some(Refusal::Unauthenticated)),
        ("/admin%2f..", Some(Refusal::BadRequest)),
        ("/public%2f..%2fadmin", Some(Refusal::BadRequest)),
        ("/public/..%5cadmin", Some(Refusal::BadRequest)),
        ("/ADMIN", Some(Refusal::Unauthenticated)),
        ("/admin;x", Some(Refusal::Unauthenticated)),
        ("/public;x/../admin", Some(Refusal::Unauthenticated)),
        ("/admin%00", Some(Refusal::BadRequest)),
        ("/admin%zz", Some(Refusal::BadRequest)),
        ("/public/ok", None),
    ] {
        assert_eq!(refusal(&config, &request(raw, None, None)), want, "{raw}");
    }
    let user = format!("Bearer {}", token(&config, &["user"]));
    assert_eq!(
        refusal(&config, &request("/admin;x", None, Some(&user))),
        Some(Refusal::Forbidden)
    );
    assert_eq!(
        refusal(&config, &request("/public/../admin/", None, Some(&user))),
        Some(Refusal::Forbidden)
    );
}

#[test]
fn ambiguous_credentials_are_bad_requests() {
    let config = config();
    let a = token(&config, &["user"]);
    let b = token(&config, &["admin"]);
    let cookie = format!("__Host-edgeauth={a}");
    let bearer = format!("Bearer {b}");
    assert_eq!(
        refusal(&config, &request("/public/x", Some(&cookie), Some(&bearer))),
        Some(Refusal::BadRequest)
    );
    let twice = format!("__Host-edgeauth={a}; __Host-edgeauth={a}");
    assert_eq!(
        refusal(&config, &request("/app/x", Some(&twice), None)),
        Some(Refusal::BadRequest)
    );
}

fn forwarded(
    config: &GatewayConfig,
    inbound: &[(&str, &str)],
    admitted: &Admitted,
) -> Vec<(String, String)> {
    let assertion = admitted
        .identity
        .as_ref()
        .map(|c| gateway::assertion(config, c.claims(), NOW));
    gateway::forward_headers(
        config,
        inbound.iter().map(|(n, v)| (n.to_string(), v.to_string())),
        admitted,
        assertion.as_deref(),
    )
    .expect("representable")
}

fn get<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
        .collect()
}

#[test]
fn forwarded_headers_drop_spoofs_and_carry_verified_identity() {
    let config = config();
    let token = token(&config, &["user", "ops"]);
    let cookie = format!("theme=dark; __Host-edgeauth={token}; lang=en");
    let bearer = format!("Bearer {token}");
    let inbound = request("/app/x", Some(&cookie), Some(&bearer));
    let admitted = gateway::admit(&config, &inbound, NOW).expect("admitted");
    let headers = forwarded(
        &config,
        &[
            ("X-Auth-User", "admin"),
            ("x-auth-user", "admin"),
            ("X_Auth_User", "admin"),
            ("X.Auth.User", "admin"),
            ("X-Auth-Roles", "admin"),
            ("X-Remote-User", "admin"),
            ("Connection", "keep-alive"),
            ("Accept", "application/json"),
            ("Cookie", &cookie),
            ("Authorization", &bearer),
        ],
        &admitted,
    );
    assert_eq!(get(&headers, "x-auth-user"), ["alice"]);
    assert_eq!(get(&headers, "x-auth-roles"), ["user,ops"]);
    assert_eq!(get(&headers, "x-auth-session"), ["c2Vzc2lvbi1pZC0xMjM0NQ"]);
    assert_eq!(
        get(&headers, "x-auth-expires"),
        [(NOW + 600).to_string().as_str()]
    );
    assert!(get(&headers, "X_Auth_User").is_empty() && get(&headers, "X.Auth.User").is_empty());
    assert!(get(&headers, "x-remote-user").is_empty());
    assert!(get(&headers, "connection").is_empty());
    assert!(
        get(&headers, "authorization").is_empty(),
        "used bearer is removed"
    );
    assert_eq!(
        get(&headers, "cookie"),
        ["theme=dark; lang=en"],
        "session cookie removed"
    );
    assert_eq!(get(&headers, "accept"), ["application/json"]);

    // The assertion verifies for the origin's audience and is not a session.
    let assertion = get(&headers, "x-auth-assertion")[0].to_owned();
    let origin_rules = edgeauth::Validation::new("https://edge.test", "origin");
    let claims =
        edgeauth::verify(&assertion, &config.keys, &origin_rules, NOW).expect("origin verifies");
    assert_eq!(claims.claims().sub, "alice");
    assert!(
        edgeauth::verify(&assertion, &config.keys, &config.session, NOW).is_err(),
        "not a session"
    );
    let replayed = format!("Bearer {assertion}");
    assert_eq!(
        refusal(&config, &request("/app/x", None, Some(&replayed))),
        Some(Refusal::Unauthenticated)
    );
}

#[test]
fn anonymous_public_requests_carry_no_identity_and_keep_foreign_authorization() {
    let config = config();
    let inbound = request("/public/x", None, Some("Basic dXNlcjpwdw=="));
    let admitted = gateway::admit(&config, &inbound, NOW).expect("public");
    let headers = forwarded(
        &config,
        &[
            ("X-Auth-User", "admin"),
            ("Authorization", "Basic dXNlcjpwdw=="),
        ],
        &admitted,
    );
    assert!(get(&headers, "x-auth-user").is_empty());
    assert_eq!(get(&headers, "authorization"), ["Basic dXNlcjpwdw=="]);
}

#[test]
fn login_location_encodes_next() {
    assert_eq!(
        gateway::login_location("/app/x", Some("a=1&b=2")),
        "/auth/login?next=%2Fapp%2Fx%3Fa%3D1%26b%3D2"
    );
    assert_eq!(gateway::login_location("/", None), "/auth/login?next=%2F");
}

proptest! {
    /// What we check is what the origin gets: a normalized path survives URL parsing unchanged.
    #[test]
    fn normalized_paths_survive_url_parsing(raw in "/[a-zA-Z0-9._~%/;:@!$&'()*+,=-]{0,40}") {
        if let Ok(path) = edgeauth::path::normalize(&raw) {
            let url = url::Url::parse(&format!("http://origin.test{path}?q=1")).expect("url");
            prop_assert_eq!(url.path(), path.as_str());
        }
    }
}

/// `presented_token` names exactly the token `admit_with` verifies (none when it verifies none),
/// so an adapter that verifies beforehand verifies the right one.
#[test]
fn presented_token_is_the_token_admit_with_verifies() {
    let config = config();
    let good = token(&config, &["user"]);
    let bearer = format!("Bearer {good}");
    let cookie = format!("__Host-edgeauth={good}");
    let other = format!("Bearer {}", token(&config, &["admin"]));
    let cases = [
        request("/app/x", None, None),
        request("/app/x", Some(&cookie), None),
        request("/app/x", None, Some(&bearer)),
        request("/public/a", Some(&cookie), Some(&bearer)),
        request("/app/x", Some(&cookie), Some(&other)), // ambiguous: refused unverified
        request("/%2e%2e/x", Some(&cookie), None),
    ];
    for inbound in cases {
        let mut seen = None;
        let _ = gateway::admit_with(&config, &inbound, |t| {
            seen = Some(t.to_owned());
            edgeauth::verify(t, &config.keys, &config.session, NOW)
        });
        let presented = gateway::presented_token(&config, &inbound);
        if let Some(seen) = seen {
            assert_eq!(presented, Some(seen.as_str()), "{inbound:?}");
        } else {
            assert!(
                presented.is_none() || gateway::admit(&config, &inbound, NOW).is_err(),
                "{inbound:?}"
            );
        }
    }
}
