//! Which inbound headers are ours (and so thrown away), and the identity headers we add.

use crate::config::{ConfigError, Vars};
use crate::token::claims::Claims;

/// Default prefix of the headers the edge owns: any inbound header starting with it is dropped.
pub const DEFAULT_PREFIX: &str = "x-auth-";

/// Headers meaningful only for one connection (RFC 9110 §7.6.1); never forwarded either way.
/// `upgrade` among them means no protocol switch (WebSocket) passes the edge: a socket would
/// outlive its session's expiry and revocation, which are checked per request.
pub const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Headers through which a client could make the origin route, dispatch or attribute a request
/// differently from what the edge checked: URL rewrites, method overrides, forwarded host,
/// prefix, scheme and client address. Never passed from the client (with every `x-forwarded-*`
/// name); the edge sets `X-Forwarded-For`, `-Proto` and `-Host` itself ([`RequestFacts`]).
pub const ROUTING_HEADERS: [&str; 27] = [
    "forwarded",
    "x-forwarded",
    "x-original-forwarded-for",
    "x-script-name",
    "x-scheme",
    "x-url-scheme",
    "x-arr-ssl",
    "x-remote-addr",
    "x-remote-ip",
    "x-originating-ip",
    "x-envoy-original-path",
    "fastly-client-ip",
    "x-original-url",
    "x-rewrite-url",
    "x-original-uri",
    "x-original-host",
    "x-original-method",
    "x-host",
    "x-http-method-override",
    "x-http-method",
    "x-method-override",
    "x-real-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "true-client-ip",
    "client-ip",
    "front-end-https",
];

/// What the edge knows of a request and states to the origin as `X-Forwarded-*`.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    /// The client's address (`CF-Connecting-IP`), when the platform gave one.
    pub client_ip: Option<&'a str>,
    /// `https` or `http`: the scheme the client used.
    pub proto: &'a str,
    /// The host (and port) the client asked for.
    pub host: &'a str,
}

impl RequestFacts<'_> {
    /// `X-Forwarded-For`, `X-Forwarded-Proto` and `X-Forwarded-Host`.
    pub fn headers(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(3);
        if let Some(ip) = self.client_ip.filter(|ip| is_header_text(ip)) {
            out.push(("x-forwarded-for", ip.to_owned()));
        }
        out.push(("x-forwarded-proto", self.proto.to_owned()));
        out.push(("x-forwarded-host", self.host.to_owned()));
        out
    }
}

/// Whether an inbound header is one of the [`ROUTING_HEADERS`] or `x-forwarded-*`, in any
/// spelling ([`canonical`]).
pub fn is_routing(name: &str) -> bool {
    is_routing_canonical(&canonical(name))
}

fn is_routing_canonical(name: &str) -> bool {
    name.starts_with("x-forwarded-") || ROUTING_HEADERS.contains(&name)
}

/// Cache-control fields addressed to CDNs and surrogates only: a response that gains a session
/// `Set-Cookie` loses them, or a CDN honouring them could store it.
pub const TARGETED_CACHE_CONTROL: [&str; 3] = [
    "cdn-cache-control",
    "cloudflare-cdn-cache-control",
    "surrogate-control",
];

/// The `Cache-Control` for a response that gains a session `Set-Cookie`: no shared cache may
/// store it. `None` when `existing` already forbids that (an unqualified `private`, or
/// `no-store`); otherwise the origin's directives without `public`, `s-maxage`,
/// `proxy-revalidate` and a qualified `private="…"`, plus `private`.
pub fn private_cache_control(existing: Option<&str>) -> Option<String> {
    let directives: Vec<&str> = existing
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    let name = |d: &str| {
        d.split('=')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    };
    let unqualified_private = |d: &str| d.eq_ignore_ascii_case("private");
    if directives
        .iter()
        .any(|d| unqualified_private(d) || name(d) == "no-store")
    {
        return None;
    }
    let mut kept: Vec<&str> = directives
        .into_iter()
        .filter(|d| {
            !matches!(
                name(d).as_str(),
                "public" | "s-maxage" | "proxy-revalidate" | "private"
            )
        })
        .collect();
    kept.insert(0, "private");
    Some(kept.join(", "))
}

/// One identity header the origin receives: the var that renames it, its default name, and its
/// value for a verified session. Adding a forwarded claim is one row of [`IDENTITY_HEADERS`]:
/// the configuration, the reserved-header check and the forwarded values all follow it.
#[derive(Clone, Copy)]
pub struct IdentityHeader {
    /// The variable that renames it (`HEADER_USER`…).
    pub var: &'static str,
    /// Its name unless renamed.
    pub default_name: &'static str,
    /// Its value from the verified claims and the signed assertion.
    pub value: fn(&Claims, &str) -> Result<String, UnrepresentableClaim>,
}

/// Every identity header, in the order the origin receives them.
pub const IDENTITY_HEADERS: [IdentityHeader; 5] = [
    IdentityHeader {
        var: "HEADER_USER",
        default_name: "X-Auth-User",
        value: |claims, _| header_text(&claims.sub, "sub"),
    },
    IdentityHeader {
        var: "HEADER_ROLES",
        default_name: "X-Auth-Roles",
        value: |claims, _| roles_text(&claims.roles),
    },
    IdentityHeader {
        var: "HEADER_SESSION",
        default_name: "X-Auth-Session",
        value: |claims, _| header_text(&claims.sid, "sid"),
    },
    IdentityHeader {
        var: "HEADER_EXPIRES",
        default_name: "X-Auth-Expires",
        value: |claims, _| Ok(claims.exp.to_string()),
    },
    IdentityHeader {
        var: "HEADER_ASSERTION",
        default_name: "X-Auth-Assertion",
        value: |_, assertion| Ok(assertion.to_owned()),
    },
];

/// The identity headers' names as configured, and the rule for spotting forged ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityHeaders {
    /// The names, in [`IDENTITY_HEADERS`] order.
    names: Vec<String>,
    prefix: String,
    reserved: Vec<String>,
}

/// A verified claim that cannot be put in a header without changing its meaning
/// (a control character, a non-ASCII byte, or a comma inside a role).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnrepresentableClaim(pub &'static str);

impl Default for IdentityHeaders {
    fn default() -> Self {
        IdentityHeaders {
            names: IDENTITY_HEADERS
                .iter()
                .map(|header| header.default_name.to_owned())
                .collect(),
            prefix: DEFAULT_PREFIX.into(),
            reserved: Vec::new(),
        }
    }
}

impl IdentityHeaders {
    /// The names from each header's var ([`IDENTITY_HEADERS`]), `IDENTITY_HEADER_PREFIX` (every
    /// inbound header with it is dropped) and `RESERVED_HEADERS` (comma-separated, also dropped).
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let mut names = Vec::with_capacity(IDENTITY_HEADERS.len());
        for header in &IDENTITY_HEADERS {
            let name = vars.text(header.var, header.default_name);
            if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
                return Err(ConfigError(format!(
                    "{}: {name:?} is not a header name",
                    header.var
                )));
            }
            names.push(name);
        }
        let headers = IdentityHeaders {
            names,
            ..IdentityHeaders::default()
        };
        Ok(headers.with_reserved(
            &vars.text("IDENTITY_HEADER_PREFIX", DEFAULT_PREFIX),
            &vars.list("RESERVED_HEADERS"),
        ))
    }

    /// Sets the owned prefix and the extra reserved names (compared after [`canonical`]).
    pub fn with_reserved(mut self, prefix: &str, reserved: &[String]) -> Self {
        self.prefix = canonical(prefix);
        self.reserved = reserved.iter().map(|name| canonical(name)).collect();
        self
    }

    /// Also withholds `names` (compared after [`canonical`]): credentials the edge reads and
    /// never forwards, such as the service token headers.
    pub fn also_reserving(mut self, names: &[&str]) -> Self {
        self.reserved
            .extend(names.iter().map(|name| canonical(name)));
        self
    }

    /// Whether an inbound header must be dropped because it could impersonate the edge:
    /// it carries our prefix, is configured as reserved, or is one of our output names —
    /// after lowercasing and mapping `_` and `.` to `-`, as many servers do.
    pub fn is_reserved(&self, name: &str) -> bool {
        self.is_reserved_canonical(&canonical(name))
    }

    /// Whether an inbound header never reaches the origin from the client: reserved
    /// ([`Self::is_reserved`]) or routing ([`is_routing`]); the name canonicalized once.
    pub fn is_withheld(&self, name: &str) -> bool {
        let name = canonical(name);
        self.is_reserved_canonical(&name) || is_routing_canonical(&name)
    }

    fn is_reserved_canonical(&self, name: &str) -> bool {
        (!self.prefix.is_empty() && name.starts_with(&self.prefix))
            || self.reserved.iter().any(|reserved| reserved == name)
            || self
                .names
                .iter()
                .any(|out| out.len() == name.len() && canonical(out) == name)
    }

    /// The identity headers for verified `claims`, with the signed `assertion`.
    pub fn values(
        &self,
        claims: &Claims,
        assertion: &str,
    ) -> Result<Vec<(&str, String)>, UnrepresentableClaim> {
        self.names
            .iter()
            .zip(&IDENTITY_HEADERS)
            .map(|(name, header)| Ok((name.as_str(), (header.value)(claims, assertion)?)))
            .collect()
    }
}

fn header_text(value: &str, claim: &'static str) -> Result<String, UnrepresentableClaim> {
    if is_header_text(value) {
        Ok(value.to_owned())
    } else {
        Err(UnrepresentableClaim(claim))
    }
}

/// Roles, comma-separated: so no role may be empty or hold a comma.
fn roles_text(roles: &[String]) -> Result<String, UnrepresentableClaim> {
    if roles
        .iter()
        .any(|role| role.is_empty() || role.contains(',') || !is_header_text(role))
    {
        return Err(UnrepresentableClaim("roles"));
    }
    Ok(roles.join(","))
}

/// Whether `name` is a hop-by-hop header.
pub fn is_hop_by_hop(name: &str) -> bool {
    HOP_BY_HOP.iter().any(|h| h.eq_ignore_ascii_case(name))
}

/// The form used to compare header names: lowercase, `_` and `.` mapped to `-`.
pub fn canonical(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'_' | b'.' => '-',
            b => b.to_ascii_lowercase() as char,
        })
        .collect()
}

/// Visible ASCII and inner spaces only: no controls, no CR/LF, nothing a header could mangle.
fn is_header_text(value: &str) -> bool {
    !value.is_empty()
        && value.bytes().all(|b| (0x20..0x7f).contains(&b))
        && !value.starts_with(' ')
        && !value.ends_with(' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_level_headers_and_upgrade_are_hop_by_hop() {
        for name in [
            "Connection",
            "keep-alive",
            "TE",
            "Transfer-Encoding",
            "Upgrade",
        ] {
            assert!(is_hop_by_hop(name), "{name}");
        }
        for name in [
            "content-type",
            "set-cookie",
            "sec-websocket-key",
            "upgrade-insecure-requests",
        ] {
            assert!(!is_hop_by_hop(name), "{name}");
        }
    }

    #[test]
    fn routing_and_override_headers_are_never_the_clients() {
        for name in [
            "X-Original-URL",
            "x-rewrite-url",
            "X-HTTP-Method-Override",
            "X_HTTP_Method",
            "X-Method-Override",
            "X-Forwarded-Host",
            "X-Forwarded-Prefix",
            "x-forwarded-for",
            "X_Forwarded_Proto",
            "X-Forwarded-Anything",
            "Forwarded",
            "X-Real-IP",
            "True-Client-IP",
        ] {
            assert!(is_routing(name), "{name}");
        }
        for name in [
            "X-Script-Name",
            "x-arr-ssl",
            "X-Forwarded",
            "Fastly-Client-IP",
        ] {
            assert!(is_routing(name), "{name}");
        }
        for name in [
            "x-forwardedx",
            "Accept",
            "Content-Type",
            "X-Request-Id",
            "Origin",
        ] {
            assert!(!is_routing(name), "{name}");
        }
        let facts = RequestFacts {
            client_ip: Some("203.0.113.7"),
            proto: "https",
            host: "app.example",
        };
        assert_eq!(
            facts.headers(),
            vec![
                ("x-forwarded-for", "203.0.113.7".to_owned()),
                ("x-forwarded-proto", "https".to_owned()),
                ("x-forwarded-host", "app.example".to_owned()),
            ]
        );
        let no_ip = RequestFacts {
            client_ip: Some("1.2.3.4\r\nx: y"),
            ..facts
        };
        assert_eq!(
            no_ip.headers().len(),
            2,
            "an unrepresentable address is left out"
        );
    }

    #[test]
    fn a_renewed_cookie_makes_the_response_private() {
        for (origin, want) in [
            (None, Some("private")),
            (Some("public, max-age=600"), Some("private, max-age=600")),
            (
                Some("max-age=60, s-maxage=3600, Public, proxy-revalidate"),
                Some("private, max-age=60"),
            ),
            (Some("no-cache"), Some("private, no-cache")),
            (Some("private, max-age=5"), None),
            (
                Some("public, max-age=600, private=\"x-debug\""),
                Some("private, max-age=600"),
            ),
            (Some("no-store=\"x\""), None),
            (Some("no-store"), None),
            (Some("Private"), None),
        ] {
            assert_eq!(private_cache_control(origin).as_deref(), want, "{origin:?}");
        }
    }

    #[test]
    fn spoofed_identity_headers_are_reserved_in_every_spelling() {
        let headers =
            IdentityHeaders::default().with_reserved("x-auth-", &["X-Remote-User".into()]);
        for name in [
            "X-Auth-User",
            "x-auth-user",
            "X_Auth_User",
            "X.Auth.User",
            "x-AUTH_roles",
            "X-Auth-Anything-New",
            "x-remote-user",
            "X_Remote.User",
        ] {
            assert!(headers.is_reserved(name), "{name}");
        }
        for name in [
            "X-Authx",
            "Authorization",
            "X-Forwarded-For",
            "Cookie",
            "X-Auth",
        ] {
            assert!(!headers.is_reserved(name), "{name}");
        }
    }

    #[test]
    fn renamed_output_headers_are_still_reserved() {
        let vars = Vars::new(|name| (name == "HEADER_USER").then(|| "Remote-User".to_owned()));
        let headers = IdentityHeaders::from_vars(&vars).expect("valid");
        assert!(headers.is_reserved("remote_user"));
        assert!(
            headers.is_reserved("x-auth-user"),
            "the prefix still covers the default"
        );
    }

    #[test]
    fn empty_prefix_reserves_only_named_headers() {
        let headers = IdentityHeaders::default().with_reserved("", &[]);
        assert!(!headers.is_reserved("Accept"));
        assert!(headers.is_reserved("x-auth-user"));
    }

    #[test]
    fn refuses_claims_that_would_change_meaning_in_a_header() {
        let claims: Claims = serde_json::from_value(serde_json::json!({
            "iss": "i", "aud": "a", "sub": "alice", "sid": "s", "iat": 1, "exp": 2,
            "auth_time": 1, "roles": ["a", "b"]
        }))
        .expect("claims");
        let headers = IdentityHeaders::default();
        let values = headers.values(&claims, "tok").expect("plain claims");
        assert_eq!(values[1], ("X-Auth-Roles", "a,b".to_owned()));
        for (field, bad) in [
            ("sub", "alice\r\nX-Auth-User: admin"),
            ("sub", "jos\u{e9}"),
            ("roles", "a,admin"),
        ] {
            let mut claims = claims.clone();
            match field {
                "sub" => claims.sub = bad.into(),
                _ => claims.roles = vec![bad.into()],
            }
            assert!(headers.values(&claims, "tok").is_err(), "{bad:?}");
        }
    }
}
