//! The gateway's per-request decision and forwarded headers, natively (the same logic runs in
//! the Worker; the wrangler tests cover the glue).

use edgeauth::config::GatewayConfig;
use edgeauth::gateway::credentials::Source;
use edgeauth::gateway::headers::RequestFacts;
use edgeauth::gateway::{self, Admitted, Checked, Inbound};
use edgeauth::login::session_routes;
use edgeauth::refusal::Refusal;
use edgeauth::token::claims::{Claims, VerifiedClaims};
use edgeauth::{mint, SigningKey};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;
const FACTS: RequestFacts<'static> = RequestFacts {
    client_ip: Some("203.0.113.7"),
    proto: "https",
    host: "edge.test",
};
const RULES: &str = r#"[
    {"path": "/public/*", "access": "public"},
    {"path": "/admin/*", "roles": ["admin"]},
    {"path": "/app/*", "access": "authenticated"}
]"#;

fn config() -> GatewayConfig {
    config_with(&[])
}

/// The test configuration with `vars` set on top.
fn config_with(vars: &[(&str, &str)]) -> GatewayConfig {
    let key = SigningKey::from_seed(&mut [11u8; 32])
        .to_private_jwk()
        .to_string();
    GatewayConfig::from_lookup(|name| {
        if let Some((_, value)) = vars.iter().find(|(var, _)| *var == name) {
            return Some(value.to_string());
        }
        match name {
            "SIGNING_KEY" => Some(key.clone()),
            "ACCESS_RULES" => Some(RULES.into()),
            "ISSUER" => Some("https://edge.test".into()),
            "RESERVED_HEADERS" => Some("X-Remote-User".into()),
            _ => None,
        }
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
        host: "edge.test",
        ..Inbound::default()
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
        (
            denied.refusal,
            denied.reason.as_ref(),
            denied.sub.as_deref()
        ),
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
        ("/admin;x", Some(Refusal::BadRequest)),
        ("/public;x/../admin", Some(Refusal::BadRequest)),
        ("/public/..;x/admin", Some(Refusal::BadRequest)),
        ("/public/..;/admin", Some(Refusal::BadRequest)),
        ("/public/%2e%2e;x/admin", Some(Refusal::BadRequest)),
        ("/public/;x/../admin", Some(Refusal::BadRequest)),
        ("/public/..%3bx/admin", Some(Refusal::BadRequest)),
        ("/admin.", Some(Refusal::Unauthenticated)),
        ("/public/admin.", None),
        ("/public/..%20/admin", Some(Refusal::BadRequest)),
        (
            "/public/%EF%BC%8E%EF%BC%8E/admin",
            Some(Refusal::BadRequest),
        ),
        ("/admin%20", Some(Refusal::Unauthenticated)),
        ("/ADMIN.json", Some(Refusal::Unauthenticated)),
        ("/public/%c0%ae%c0%ae/admin", Some(Refusal::BadRequest)),
        ("/public/%252e%252e/admin", Some(Refusal::BadRequest)),
        ("/admin%00", Some(Refusal::BadRequest)),
        ("/admin%zz", Some(Refusal::BadRequest)),
        ("/public/ok", None),
    ] {
        assert_eq!(refusal(&config, &request(raw, None, None)), want, "{raw}");
    }
    let user = format!("Bearer {}", token(&config, &["user"]));
    assert_eq!(
        refusal(&config, &request("/admin;x", None, Some(&user))),
        Some(Refusal::BadRequest)
    );
    assert_eq!(
        refusal(&config, &request("/public/../admin/", None, Some(&user))),
        Some(Refusal::Forbidden)
    );
}

/// With `PATH_PARAMETERS=strip` every spelling through a public prefix lands on the protected
/// path, which is both matched and forwarded.
#[test]
fn stripped_parameters_are_matched_and_forwarded_as_tomcat_reads_them() {
    let config = config_with(&[("PATH_PARAMETERS", "strip")]);
    let user = format!("Bearer {}", token(&config, &["user"]));
    let admin = format!("Bearer {}", token(&config, &["admin"]));
    for raw in [
        "/admin;x",
        "/admin;x;y",
        "/public/..;x/admin",
        "/public/..;/admin",
        "/public/.;x/../admin",
        "/public/;x/../admin",
        "/public;x/../admin",
        "/;x/admin",
        "/public/%2e%2e;x/admin",
        "/public/.%2e;x/admin",
    ] {
        assert_eq!(
            refusal(&config, &request(raw, None, None)),
            Some(Refusal::Unauthenticated),
            "{raw}"
        );
        assert_eq!(
            refusal(&config, &request(raw, None, Some(&user))),
            Some(Refusal::Forbidden),
            "{raw}"
        );
        let admitted = gateway::admit(&config, &request(raw, None, Some(&admin)), NOW)
            .expect("an admin passes");
        assert_eq!(admitted.path, "/admin", "{raw}");
    }
    let admitted = gateway::admit(
        &config,
        &request("/public/a;jsessionid=1/b", None, None),
        NOW,
    )
    .expect("public");
    assert_eq!(admitted.path, "/public/a/b");
}

#[test]
fn methods_are_decided_as_received_and_trace_is_refused() {
    let config = config_with(&[(
        "ACCESS_RULES",
        r#"[{"path": "/dav/*", "methods": ["GET"], "access": "public"}]"#,
    )]);
    let with_method = |method| Inbound {
        method,
        ..request("/dav/file", None, None)
    };
    assert_eq!(refusal(&config, &with_method("GET")), None);
    assert_eq!(refusal(&config, &with_method("HEAD")), None);
    for method in ["PROPFIND", "MKCOL", "PUT"] {
        assert_eq!(
            refusal(&config, &with_method(method)),
            Some(Refusal::Unauthenticated),
            "{method} is not GET"
        );
    }
    for method in ["TRACE", "TRACK", "CONNECT", "trace"] {
        assert_eq!(
            refusal(&config, &with_method(method)),
            Some(Refusal::MethodNotAllowed),
            "{method}"
        );
    }
    for method in ["", "GE T", "GET\r\n", "G(ET"] {
        assert_eq!(
            refusal(&config, &with_method(method)),
            Some(Refusal::BadRequest),
            "{method:?}"
        );
    }
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
    // A second `Cookie` line, as the runtime joins it: refused, on public routes too.
    for joined in [
        format!("theme=dark, __Host-edgeauth={a}"),
        format!("__Host-edgeauth={a}, __Host-edgeauth={b}"),
    ] {
        for path in ["/app/x", "/public/x"] {
            assert_eq!(
                refusal(&config, &request(path, Some(&joined), None)),
                Some(Refusal::BadRequest),
                "{path} {joined}"
            );
        }
    }
}

fn forwarded(
    config: &GatewayConfig,
    inbound: &[(&str, &str)],
    admitted: &Admitted,
) -> Vec<(String, String)> {
    let assertion = admitted
        .identity
        .as_ref()
        .map(|c| gateway::assertion(config, c, NOW));
    gateway::forward_headers(
        config,
        inbound.iter().map(|(n, v)| (n.to_string(), v.to_string())),
        admitted,
        &FACTS,
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

/// The origin acts on the path of `Destination` (COPY, MOVE) and on `_method`: both are checked,
/// or refused.
#[test]
fn a_second_path_or_method_the_origin_acts_on_is_checked() {
    let config = config();
    let user = format!("Bearer {}", token(&config, &["user"]));
    let admin = format!("Bearer {}", token(&config, &["admin"]));
    let copy = |destination, bearer| Inbound {
        method: "COPY",
        destination: Some(destination),
        ..request("/public/x", None, Some(bearer))
    };
    for destination in [
        "https://edge.test/admin/x",
        "/admin/x",
        "HTTP://EDGE.test/ADMIN/x",
        "/public/../admin/x",
    ] {
        assert_eq!(
            refusal(&config, &copy(destination, &user)),
            Some(Refusal::Forbidden),
            "{destination}"
        );
        assert_eq!(
            refusal(&config, &copy(destination, &admin)),
            None,
            "{destination}"
        );
    }
    assert_eq!(refusal(&config, &copy("/public/y", &user)), None);
    for destination in [
        "/admin;x",
        "/public/a%2fb",
        "admin/x",
        "//evil.example/x",
        "https://edge.test",
        "",
        "/admin/secret?x=://h/public/y",
        "/admin/secret#://h/public/y",
        "http://edge.test\\admin\\x/public/y",
        "http://edge.test#/public/y",
        "http://edge.test?/public/y",
        "http://other.example/public/y",
        "http://u@edge.test/public/y",
        "ftp://edge.test/public/y",
    ] {
        assert_eq!(
            refusal(&config, &copy(destination, &admin)),
            Some(Refusal::BadRequest),
            "{destination:?}"
        );
    }
    // The forwarded Destination is the canonical one that was checked.
    let admitted = gateway::admit(
        &config,
        &copy("http://edge.test/public/%7euser/../y//z", &user),
        NOW,
    )
    .expect("public destination");
    assert_eq!(
        admitted.destination.as_deref(),
        Some("http://edge.test/public/y/z")
    );
    let headers = forwarded(&config, &[("Destination", "/anything")], &admitted);
    assert_eq!(
        get(&headers, "destination"),
        ["http://edge.test/public/y/z"]
    );

    for query in [
        "_method=DELETE",
        "a=1&_method=DELETE",
        "%5Fmethod=PUT",
        "_METHOD=x",
        "_method",
        ".method=DELETE",
        "%2Emethod=DELETE",
        "_method%00x=DELETE",
        "a=1;_method=PUT",
        "+_method=PUT",
    ] {
        let inbound = Inbound {
            method: "POST",
            query: Some(query),
            ..request("/public/x", None, None)
        };
        assert_eq!(
            refusal(&config, &inbound),
            Some(Refusal::BadRequest),
            "{query}"
        );
    }
    let inbound = Inbound {
        method: "POST",
        query: Some("method=x&_methods=1"),
        ..request("/public/x", None, None)
    };
    assert_eq!(refusal(&config, &inbound), None);
    let get = Inbound {
        query: Some("_method=DELETE"),
        ..request("/public/x", None, None)
    };
    assert_eq!(refusal(&config, &get), None, "only a POST is overridden");
}

#[test]
fn authorization_the_edge_did_not_use_is_dropped_unless_configured() {
    let forged = format!("Bearer {}x", token(&config(), &["admin"]));
    let valid = format!("Bearer {}", token(&config(), &["user"]));
    for (forward, authorization, want) in [
        (false, "Basic dXNlcjpwdw==", None),
        (false, forged.as_str(), None),
        (false, "Bearer not-even-a-jws", None),
        (false, valid.as_str(), None),
        (true, "Basic dXNlcjpwdw==", Some("Basic dXNlcjpwdw==")),
        (true, forged.as_str(), Some(forged.as_str())),
        (true, valid.as_str(), None),
    ] {
        let config = config_with(&[(
            "FORWARD_CLIENT_AUTHORIZATION",
            if forward { "true" } else { "false" },
        )]);
        let inbound = request("/public/x", None, Some(authorization));
        let admitted = gateway::admit(&config, &inbound, NOW).expect("public");
        let headers = forwarded(
            &config,
            &[("X-Auth-User", "admin"), ("Authorization", authorization)],
            &admitted,
        );
        let want: Vec<&str> = want.into_iter().collect();
        assert_eq!(
            get(&headers, "authorization"),
            want,
            "{forward} {authorization}"
        );
        if admitted.identity.is_none() {
            assert!(get(&headers, "x-auth-user").is_empty());
        }
    }
    // A revoked session counts as none but keeps its source: never forwarded, opt-in or not.
    let config = config_with(&[("FORWARD_CLIENT_AUTHORIZATION", "true")]);
    let revoked = Admitted {
        path: "/public/x".into(),
        identity: None,
        source: Some(edgeauth::gateway::credentials::Source::Bearer),
        ignored: Some("revoked_session"),
        destination: None,
        bound_assertion: false,
        preflight: false,
    };
    let headers = forwarded(&config, &[("Authorization", valid.as_str())], &revoked);
    assert!(get(&headers, "authorization").is_empty());
}

/// With `FORWARD_SESSION_COOKIE` the verified session cookie reaches the origin, and a lookalike
/// an origin could read instead of it (another case, percent-encoded, PHP's `.`) never does.
#[test]
fn a_forwarded_session_cookie_travels_without_its_lookalikes() {
    let token = token(&config(), &["user"]);
    let cookie = format!(
        "__HOST-EDGEAUTH=forged; __Host-edgeauth={token}; %5F%5FHost-edgeauth=x; ..Host-edgeauth=y; a=1"
    );
    for (forward, want) in [
        (true, format!("__Host-edgeauth={token}; a=1")),
        (false, "a=1".to_owned()),
    ] {
        let config = config_with(&[(
            "FORWARD_SESSION_COOKIE",
            if forward { "true" } else { "false" },
        )]);
        let admitted =
            gateway::admit(&config, &request("/app/x", Some(&cookie), None), NOW).expect("session");
        let headers = forwarded(&config, &[("Cookie", cookie.as_str())], &admitted);
        assert_eq!(get(&headers, "cookie"), [want.as_str()], "{forward}");
    }
    // A session cookie the edge did not admit as a session (forged, expired, or revoked on a
    // public route) never reaches the origin, configured or not.
    let config = config_with(&[("FORWARD_SESSION_COOKIE", "true")]);
    let forged = format!("__Host-edgeauth={token}x; a=1");
    let ignored =
        gateway::admit(&config, &request("/public/x", Some(&forged), None), NOW).expect("public");
    let headers = forwarded(&config, &[("Cookie", forged.as_str())], &ignored);
    assert_eq!(get(&headers, "cookie"), ["a=1"]);
    let valid = format!("__Host-edgeauth={token}; a=1");
    let plan = gateway::plan(&config, &request("/public/x", Some(&valid), None)).expect("plan");
    let checked = Checked::Revoked(verified(&config, &["user"]), "revoked_session");
    let revoked = gateway::decide(plan, Some(checked), NOW).expect("public");
    let headers = forwarded(&config, &[("Cookie", valid.as_str())], &revoked);
    assert_eq!(get(&headers, "cookie"), ["a=1"]);
}

#[test]
fn routing_headers_are_the_edges_never_the_clients() {
    let config = config();
    let admitted = gateway::admit(&config, &request("/public/x", None, None), NOW).expect("public");
    let headers = forwarded(
        &config,
        &[
            ("X-Original-URL", "/admin"),
            ("X-Rewrite-URL", "/admin"),
            ("X-HTTP-Method-Override", "DELETE"),
            ("X-Method-Override", "DELETE"),
            ("X_HTTP_Method", "DELETE"),
            ("X-Forwarded-Host", "evil.example"),
            ("X-Forwarded-Prefix", "/admin"),
            ("X-Forwarded-For", "10.0.0.1"),
            ("X-Forwarded-Proto", "http"),
            ("Forwarded", "for=10.0.0.1;host=evil.example"),
            ("X-Real-IP", "10.0.0.1"),
            ("Accept", "text/plain"),
        ],
        &admitted,
    );
    for name in [
        "x-original-url",
        "x-rewrite-url",
        "x-http-method-override",
        "x-method-override",
        "x_http_method",
        "x-forwarded-prefix",
        "forwarded",
        "x-real-ip",
    ] {
        assert!(get(&headers, name).is_empty(), "{name}");
    }
    assert_eq!(get(&headers, "x-forwarded-for"), ["203.0.113.7"]);
    assert_eq!(get(&headers, "x-forwarded-host"), ["edge.test"]);
    assert_eq!(get(&headers, "x-forwarded-proto"), ["https"]);
    assert_eq!(get(&headers, "accept"), ["text/plain"]);
}

#[test]
fn login_location_encodes_next() {
    assert_eq!(
        edgeauth::login::next::login_location("/app/x", Some("a=1&b=2")),
        "/auth/login?next=%2Fapp%2Fx%3Fa%3D1%26b%3D2"
    );
    assert_eq!(
        edgeauth::login::next::login_location("/", None),
        "/auth/login?next=%2F"
    );
}

proptest! {
    /// What we check is what the origin gets: a normalized path survives URL parsing unchanged.
    #[test]
    fn normalized_paths_survive_url_parsing(raw in "/[a-zA-Z0-9._~%/;:@!$&'()*+,=-]{0,40}") {
        if let Ok(path) = edgeauth::gateway::path::normalize(&raw, edgeauth::gateway::path::Parameters::Strip) {
            let url = url::Url::parse(&format!("http://origin.test{path}?q=1")).expect("url");
            prop_assert_eq!(url.path(), path.as_str());
        }
    }
}

/// The credential is extracted once, in `plan`: what `decide` is told about is that token, and
/// ambiguous or malformed credentials are refused before anything is verified.
#[test]
fn plan_names_the_one_token_to_verify() {
    let config = config();
    let good = token(&config, &["user"]);
    let bearer = format!("Bearer {good}");
    let cookie = format!("__Host-edgeauth={good}");
    let other = format!("Bearer {}", token(&config, &["admin"]));
    for (inbound, expected) in [
        (request("/app/x", None, None), None),
        (request("/app/x", Some(&cookie), None), Some(good.as_str())),
        (request("/app/x", None, Some(&bearer)), Some(good.as_str())),
        (
            request("/public/a", Some(&cookie), Some(&bearer)),
            Some(good.as_str()),
        ),
    ] {
        let plan = gateway::plan(&config, &inbound).expect("planned");
        assert_eq!(plan.token(), expected, "{inbound:?}");
    }
    for (inbound, reason) in [
        (
            request("/app/x", Some(&cookie), Some(&other)),
            "ambiguous_credentials",
        ),
        (
            request("/app/x", None, Some("Bearer a b")),
            "ambiguous_credentials",
        ),
        (request("/a%2fb", Some(&cookie), None), "bad_path"),
    ] {
        let denied = gateway::plan(&config, &inbound).expect_err(reason);
        assert_eq!(
            (denied.refusal, denied.reason.as_ref()),
            (Refusal::BadRequest, reason)
        );
    }
}

fn verified(config: &GatewayConfig, roles: &[&str]) -> VerifiedClaims {
    edgeauth::verify(&token(config, roles), &config.keys, &config.session, NOW).expect("valid")
}

/// A revoked session (or one that cannot be checked against a fresh revocation list) counts as
/// no session: anonymous on a public route, its source kept so it is still not forwarded; on a
/// protected route refused like a missing one, logged with the revocation reason and the user.
#[test]
fn a_revoked_session_counts_as_none() {
    let config = config();
    let bearer = format!("Bearer {}", token(&config, &["admin"]));
    let decide = |inbound: &Inbound, reason| {
        let plan = gateway::plan(&config, inbound).expect("planned");
        let checked = Checked::Revoked(verified(&config, &["admin"]), reason);
        gateway::decide(plan, Some(checked), NOW)
    };
    let public = decide(
        &request("/public/a", None, Some(&bearer)),
        "revoked_session",
    )
    .expect("public stays public");
    assert!(public.identity.is_none());
    assert_eq!(public.ignored, Some("revoked_session"));
    assert_eq!(public.source, Some(Source::Bearer));
    let headers = forwarded(&config, &[("Authorization", bearer.as_str())], &public);
    assert!(get(&headers, "authorization").is_empty());
    assert!(get(&headers, "x-auth-user").is_empty());

    for reason in ["revoked_session", "revoked_user", "revocation_unavailable"] {
        let denied = decide(&request("/admin/x", None, Some(&bearer)), reason).expect_err(reason);
        assert_eq!(
            (
                denied.refusal,
                denied.reason.as_ref(),
                denied.sub.as_deref()
            ),
            (Refusal::Unauthenticated, reason, Some("alice"))
        );
        assert_eq!(denied.sid.as_deref(), Some("c2Vzc2lvbi1pZC0xMjM0NQ"));
    }
    let navigation = Inbound {
        accept: Some("text/html"),
        query: Some("a=1"),
        ..request("/admin/x", None, Some(&bearer))
    };
    let denied = decide(&navigation, "revoked_user").expect_err("login again");
    assert_eq!(denied.refusal, Refusal::LoginRequired);
    assert_eq!(
        denied.location.as_deref(),
        Some("/auth/login?next=%2Fadmin%2Fx%3Fa%3D1")
    );
}

/// `decide` with each verification outcome, on a public and a protected route.
#[test]
fn decide_admits_only_what_the_rules_and_the_session_allow() {
    let config = config();
    let bearer = format!("Bearer {}", token(&config, &["user"]));
    let decide = |path, checked: Option<Checked>| {
        let inbound = request(path, None, checked.is_some().then_some(bearer.as_str()));
        gateway::decide(
            gateway::plan(&config, &inbound).expect("planned"),
            checked,
            NOW,
        )
    };
    let valid = || Some(Checked::Valid(verified(&config, &["user"])));
    let invalid = || Some(Checked::Invalid(edgeauth::Error::Expired));
    assert!(decide("/public/a", None)
        .expect("public")
        .identity
        .is_none());
    assert!(decide("/public/a", valid())
        .expect("public")
        .identity
        .is_some());
    let ignored = decide("/public/a", invalid()).expect("public");
    assert_eq!(
        (ignored.identity.is_none(), ignored.ignored),
        (true, Some("expired"))
    );
    assert!(decide("/app/x", valid()).expect("user").identity.is_some());
    for (path, checked, refusal, reason) in [
        ("/app/x", None, Refusal::Unauthenticated, "no_token"),
        ("/app/x", invalid(), Refusal::Unauthenticated, "expired"),
        ("/admin/x", valid(), Refusal::Forbidden, "missing_role"),
    ] {
        let denied = decide(path, checked).expect_err(reason);
        assert_eq!((denied.refusal, denied.reason.as_ref()), (refusal, reason));
        assert_eq!(denied.path.as_deref(), Some(path));
    }
}

/// `/auth/session`, `/auth/revoke` and `/auth/logout` act only for a session that verifies and,
/// for the first two, is not revoked; revoking needs the role, and same-origin with a cookie.
#[test]
fn auth_routes_act_only_for_the_current_session() {
    let config = config();
    let good = token(&config, &["admin"]);
    let cookie = format!("__Host-edgeauth={good}");
    let bearer = format!("Bearer {good}");
    let other = format!("Bearer {}", token(&config, &["user"]));
    assert_eq!(
        session_routes::presented(&config, Some(&cookie), None),
        Ok((good.as_str(), Source::Cookie))
    );
    assert_eq!(
        session_routes::presented(&config, None, Some(&bearer)),
        Ok((good.as_str(), Source::Bearer))
    );
    for (cookie, authorization, refusal, reason) in [
        (None, None, Refusal::Unauthenticated, "no_token"),
        (
            Some(cookie.as_str()),
            Some(other.as_str()),
            Refusal::BadRequest,
            "ambiguous_credentials",
        ),
    ] {
        let denied = session_routes::presented(&config, cookie, authorization).expect_err(reason);
        assert_eq!((denied.refusal, denied.reason.as_ref()), (refusal, reason));
    }

    let admin = verified(&config, &["admin"]);
    assert!(session_routes::current(Checked::Valid(admin.clone())).is_ok());
    for (checked, reason) in [
        (
            Checked::Invalid(edgeauth::Error::BadSignature),
            "bad_signature",
        ),
        (
            Checked::Revoked(admin.clone(), "revoked_user"),
            "revoked_user",
        ),
        (
            Checked::Revoked(admin.clone(), "revocation_unavailable"),
            "revocation_unavailable",
        ),
    ] {
        let denied = session_routes::current(checked).expect_err(reason);
        assert_eq!(
            (denied.refusal, denied.reason.as_ref()),
            (Refusal::Unauthenticated, reason)
        );
    }

    let user = verified(&config, &["user"]);
    assert!(session_routes::may_revoke(&config, &admin, Source::Cookie, true).is_ok());
    assert!(session_routes::may_revoke(&config, &admin, Source::Bearer, false).is_ok());
    for (session, source, same_origin, refusal) in [
        (&admin, Source::Cookie, false, Refusal::CrossSite),
        (&user, Source::Bearer, true, Refusal::Forbidden),
        (&user, Source::Cookie, false, Refusal::CrossSite),
    ] {
        let denied =
            session_routes::may_revoke(&config, session, source, same_origin).expect_err("refused");
        assert_eq!(denied.refusal, refusal);
        assert_eq!(denied.sub.as_deref(), Some("alice"));
    }

    let listed = |sid: &str| sid == "c2Vzc2lvbi1pZC0xMjM0NQ";
    let sid = "c2Vzc2lvbi1pZC0xMjM0NQ".to_owned();
    assert_eq!(
        session_routes::sessions_to_end(&admin, false, |_| false),
        std::slice::from_ref(&sid)
    );
    assert!(session_routes::sessions_to_end(&admin, false, listed).is_empty());
    // Without a sign-on claim, "every app" is this session alone.
    assert_eq!(
        session_routes::sessions_to_end(&admin, true, |_| false),
        [sid]
    );
    assert!(session_routes::logout_shows_page(Some("text/html,*/*")));
    assert!(!session_routes::logout_shows_page(Some("application/json")));
    assert!(!session_routes::logout_shows_page(None));
}

/// A session for `alice` that logged in `age` seconds ago (`auth_time` and `login_time`), with
/// `extra` claims.
fn session_aged(config: &GatewayConfig, age: u64, extra: serde_json::Value) -> String {
    let serde_json::Value::Object(mut extra) = extra else {
        panic!("an object")
    };
    extra.insert("login_time".into(), (NOW - age).into());
    let claims = Claims {
        iss: "https://edge.test".into(),
        aud: vec!["edgeauth".into()],
        sub: "alice".into(),
        sid: "c2Vzc2lvbi1pZC0xMjM0NQ".into(),
        iat: NOW - 10,
        exp: NOW + 600,
        nbf: None,
        auth_time: NOW - age,
        roles: vec!["staff".into()],
        name: None,
        email: Some("alice@example.com".into()),
        extra,
    };
    mint(&claims, config.signing_key())
}

#[test]
fn scripts_get_401_and_only_navigations_are_sent_to_log_in() {
    let config = config();
    let page = |fetch_mode, requested_with| Inbound {
        accept: Some("text/html,application/xhtml+xml"),
        fetch_mode,
        requested_with,
        ..request("/app/x", None, None)
    };
    let denied = gateway::admit(&config, &page(None, None), NOW).expect_err("no session");
    assert_eq!(denied.refusal, Refusal::LoginRequired);
    assert_eq!(
        denied.location.as_deref(),
        Some("/auth/login?next=%2Fapp%2Fx")
    );
    assert_eq!(
        refusal(&config, &page(Some("navigate"), None)),
        Some(Refusal::LoginRequired)
    );
    for (mode, with) in [
        (Some("cors"), None),
        (Some("same-origin"), None),
        (Some("no-cors"), None),
        (None, Some("XMLHttpRequest")),
        (Some("navigate"), Some("XMLHttpRequest")),
    ] {
        assert_eq!(
            refusal(&config, &page(mode, with)),
            Some(Refusal::Unauthenticated),
            "{mode:?} {with:?}"
        );
    }
}

#[test]
fn a_login_too_old_for_a_rule_is_sent_to_log_in_again() {
    let config = config_with(&[(
        "ACCESS_RULES",
        r#"[{"path": "/pay/*", "roles": ["staff"], "max_auth_age_secs": 300},
            {"path": "/admin/*", "effect": "deny", "login": ["password"]},
            {"path": "/admin/*", "email_domains": ["example.com"]}]"#,
    )]);
    let old = format!(
        "Bearer {}",
        session_aged(&config, 301, serde_json::json!({"amr": ["fed"]}))
    );
    let fresh = format!(
        "Bearer {}",
        session_aged(&config, 10, serde_json::json!({"amr": ["fed"]}))
    );
    assert!(gateway::admit(&config, &request("/pay/1", None, Some(&fresh)), NOW).is_ok());
    let api =
        gateway::admit(&config, &request("/pay/1", None, Some(&old)), NOW).expect_err("too old");
    assert_eq!(
        (api.refusal, api.reason.as_ref(), api.sub.as_deref()),
        (Refusal::Unauthenticated, "login_too_old", Some("alice"))
    );
    let browser = Inbound {
        accept: Some("text/html"),
        ..request("/pay/1", None, Some(&old))
    };
    let sent = gateway::admit(&config, &browser, NOW).expect_err("too old");
    assert_eq!(sent.refusal, Refusal::LoginRequired);
    assert_eq!(
        sent.location.as_deref(),
        Some("/auth/login?next=%2Fpay%2F1&reauth=1")
    );
    // Deny beside allow on one path: the password login is refused, the SSO one admitted.
    assert!(gateway::admit(&config, &request("/admin/x", None, Some(&fresh)), NOW).is_ok());
    let password = format!(
        "Bearer {}",
        session_aged(&config, 10, serde_json::json!({"amr": ["pwd"]}))
    );
    let denied = gateway::admit(&config, &request("/admin/x", None, Some(&password)), NOW)
        .expect_err("denied");
    assert_eq!(
        (denied.refusal, denied.reason.as_ref()),
        (Refusal::Forbidden, "denied_by_rule")
    );
}

#[test]
fn a_cors_preflight_passes_unauthenticated_only_where_its_rule_says() {
    let config = config_with(&[(
        "ACCESS_RULES",
        r#"[{"path": "/api/*", "roles": ["staff"], "preflight": "pass"}, {"path": "/app/*", "access": "authenticated"}]"#,
    )]);
    let preflight = |path, origin, method| Inbound {
        method: "OPTIONS",
        origin,
        cors_request_method: method,
        ..request(path, None, None)
    };
    let admitted = gateway::admit(
        &config,
        &preflight("/api/x", Some("https://app.example"), Some("PUT")),
        NOW,
    )
    .expect("a preflight passes");
    assert!(admitted.identity.is_none());
    for inbound in [
        preflight("/app/x", Some("https://app.example"), Some("PUT")),
        preflight("/api/x", None, Some("PUT")),
        preflight("/api/x", Some("https://app.example"), None),
        Inbound {
            method: "PUT",
            ..preflight("/api/x", Some("https://app.example"), Some("PUT"))
        },
    ] {
        assert_eq!(
            refusal(&config, &inbound),
            Some(Refusal::Unauthenticated),
            "{inbound:?}"
        );
    }
}

#[test]
fn a_bound_assertion_names_its_request_and_expires_within_a_minute() {
    use edgeauth::gateway::{request_assertion_claims, BoundRequest, REQUEST_ASSERTION_TTL_SECS};
    let bound = config_with(&[(
        "ACCESS_RULES",
        r#"[{"path": "/pay/*", "roles": ["user"], "assertion": "request"}, {"path": "/app/*", "access": "authenticated"}]"#,
    )]);
    let bearer = format!("Bearer {}", token(&bound, &["user"]));
    let pay = gateway::admit(&bound, &request("/pay/1", None, Some(&bearer)), NOW).expect("ok");
    assert!(pay.bound_assertion, "the rule asks for it");
    let app = gateway::admit(&bound, &request("/app/1", None, Some(&bearer)), NOW).expect("ok");
    assert!(!app.bound_assertion);
    let everywhere = config_with(&[("ASSERTION_BINDING", "request")]);
    let bearer = format!("Bearer {}", token(&everywhere, &["user"]));
    let app =
        gateway::admit(&everywhere, &request("/app/1", None, Some(&bearer)), NOW).expect("ok");
    assert!(
        app.bound_assertion,
        "ASSERTION_BINDING=request binds every one"
    );
    assert!(GatewayConfig::from_lookup(|name| match name {
        "SIGNING_KEY" => Some(
            SigningKey::from_seed(&mut [11u8; 32])
                .to_private_jwk()
                .to_string()
        ),
        "ASSERTION_BINDING" => Some("sometimes".into()),
        _ => None,
    })
    .is_err());

    let session = app.identity.expect("a session");
    let request = BoundRequest {
        method: "POST",
        proto: "https",
        host: "app.example.com",
        path: "/app/1",
    };
    let claims = request_assertion_claims(&everywhere, &session, &request, "jti-1".into(), NOW);
    assert_eq!(claims.extra["htm"], "POST");
    assert_eq!(claims.extra["htu"], "https://app.example.com/app/1");
    assert_eq!(claims.extra["jti"], "jti-1");
    assert_eq!(claims.exp, NOW + REQUEST_ASSERTION_TTL_SECS);
    assert_eq!(claims.aud, ["origin"]);
    assert_eq!(claims.sub, "alice");
}

#[test]
fn a_passed_preflight_carries_no_identity_and_no_credentials() {
    let config = config_with(&[(
        "ACCESS_RULES",
        r#"[{"path": "/api/*", "roles": ["staff"], "preflight": "pass"}]"#,
    )]);
    let token = session_aged(&config, 10, serde_json::json!({"amr": ["pwd"]}));
    let cookie = format!("__Host-edgeauth={token}; theme=dark");
    let bearer = format!("Bearer {token}");
    let preflight = Inbound {
        method: "OPTIONS",
        origin: Some("https://app.example"),
        cors_request_method: Some("DELETE"),
        ..request("/api/x", Some(&cookie), None)
    };
    let admitted = gateway::admit(&config, &preflight, NOW).expect("a preflight passes");
    assert!(admitted.preflight && admitted.identity.is_none());
    let headers = forwarded(
        &config,
        &[
            ("Cookie", cookie.as_str()),
            ("Authorization", bearer.as_str()),
            ("Origin", "https://app.example"),
        ],
        &admitted,
    );
    assert!(get(&headers, "cookie").is_empty(), "no cookie at all");
    assert!(get(&headers, "authorization").is_empty());
    assert!(get(&headers, "x-auth-user").is_empty());
    assert_eq!(get(&headers, "origin"), ["https://app.example"]);
    // With a body, or a requested method that is no method, it is no preflight.
    for inbound in [
        Inbound {
            has_body: true,
            ..preflight
        },
        Inbound {
            cors_request_method: Some("DEL ETE"),
            ..preflight
        },
    ] {
        let admitted = gateway::admit(&config, &inbound, NOW);
        assert!(admitted.map_or(true, |a| !a.preflight), "{inbound:?}");
    }
}

#[test]
fn only_xmlhttprequest_marks_a_script() {
    let config = config();
    let page = |with| Inbound {
        accept: Some("text/html"),
        fetch_mode: Some("navigate"),
        requested_with: with,
        ..request("/app/x", None, None)
    };
    assert_eq!(
        refusal(&config, &page(Some("com.example.app"))),
        Some(Refusal::LoginRequired),
        "Android WebView"
    );
    assert_eq!(
        refusal(&config, &page(Some("xmlhttprequest"))),
        Some(Refusal::Unauthenticated)
    );
}

#[test]
fn a_claims_condition_must_name_a_claim_some_session_carries() {
    let rules = r#"[{"path": "/eng/*", "claims": [{"claim": "groups", "any_of": ["eng"]}]}]"#;
    let key = SigningKey::from_seed(&mut [11u8; 32])
        .to_private_jwk()
        .to_string();
    let load = |providers: Option<&str>| {
        GatewayConfig::from_lookup(|name| match name {
            "SIGNING_KEY" => Some(key.clone()),
            "ACCESS_RULES" => Some(rules.into()),
            "IDENTITY_PROVIDERS" => providers.map(str::to_owned),
            "CORP_SECRET" => Some("s".into()),
            _ => None,
        })
        .map(|_| ())
        .map_err(|e| e.0)
    };
    let error = load(None).expect_err("no session carries groups");
    assert!(error.contains("keep_claims"), "{error}");
    let keeping = r#"[{"id": "corp", "label": "Corp", "issuer": "https://corp.example", "client_id": "c",
        "client_secret_secret": "CORP_SECRET", "mapping": {"keep_claims": ["groups"]}}]"#;
    assert_eq!(load(Some(keeping)), Ok(()));
}
