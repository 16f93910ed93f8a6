//! The per-request decision, as a pure function: which path, which identity, or which refusal;
//! and the exact headers the origin receives.

use crate::claims::{Claims, VerifiedClaims};
use crate::config::GatewayConfig;
use crate::cookie;
use crate::credentials::{self, Source};
use crate::error::Error;
use crate::headers::{self, RequestFacts, UnrepresentableClaim};
use crate::path;
use crate::refusal::Refusal;
use crate::token;

/// What the edge reads from a request to decide.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inbound<'a> {
    /// The HTTP method exactly as received (never mapped to a known one): rules see, and the
    /// origin receives, this string.
    pub method: &'a str,
    /// The path as received (no query).
    pub path: &'a str,
    /// The `Accept` header.
    pub accept: Option<&'a str>,
    /// The `Cookie` header.
    pub cookie: Option<&'a str>,
    /// The `Authorization` header.
    pub authorization: Option<&'a str>,
    /// The query string, without `?`.
    pub query: Option<&'a str>,
    /// The WebDAV `Destination` header (`COPY`, `MOVE`): a second path the origin acts on.
    pub destination: Option<&'a str>,
    /// The host (and port) the request was sent to: the only one a `Destination` may name.
    pub host: &'a str,
}

/// A request the edge lets through.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The normalized path that was checked and must be forwarded.
    pub path: String,
    /// The verified session, if one was presented and valid.
    pub identity: Option<VerifiedClaims>,
    /// Where the verified token came from (kept when the edge then ignores it as revoked, so it
    /// is still not forwarded).
    pub source: Option<Source>,
    /// Why a presented token was ignored on a public route (for the log).
    pub ignored: Option<&'static str>,
    /// The `Destination` header to forward: the inbound one with its path made canonical.
    pub destination: Option<String>,
}

/// A request the edge refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// What the client is told.
    pub refusal: Refusal,
    /// Why, for the log only.
    pub reason: &'static str,
    /// The normalized path, when it could be normalized.
    pub path: Option<String>,
    /// The verified user, when the refusal came after verification (missing role).
    pub sub: Option<String>,
}

/// Decides a request at time `now`: normalize the path, find its rule, read and verify the
/// session if the rule (or the client) brings one.
pub fn admit(config: &GatewayConfig, inbound: &Inbound, now: u64) -> Result<Admitted, Denied> {
    admit_with(config, inbound, |token| {
        token::verify(token, &config.keys, &config.session, now)
    })
}

/// [`admit`], with the session token verified by `verify` (called at most once, with the
/// presented token) instead of [`token::verify`]: the adapter passes the verified-session cache
/// ([`crate::session_cache`]), which must answer exactly as `token::verify` would.
/// Rules and roles are checked here on every call, whatever `verify` is.
pub fn admit_with(
    config: &GatewayConfig,
    inbound: &Inbound,
    verify: impl FnOnce(&str) -> Result<VerifiedClaims, Error>,
) -> Result<Admitted, Denied> {
    let deny = |refusal, reason, path: Option<&str>| Denied {
        refusal,
        reason,
        path: path.map(str::to_owned),
        sub: None,
    };
    check_method(inbound.method).map_err(|(refusal, reason)| deny(refusal, reason, None))?;
    let path = path::normalize(inbound.path, config.path_parameters)
        .map_err(|_| deny(Refusal::BadRequest, "bad_path", None))?;
    if inbound.method.eq_ignore_ascii_case("POST") && inbound.query.is_some_and(has_method_override)
    {
        return Err(deny(Refusal::BadRequest, "method_override", Some(&path)));
    }
    let mut access = config.rules.access_for(inbound.method, &path);
    let destination = match inbound.destination {
        None => None,
        Some(value) => {
            let (origin, raw) = destination_parts(value, inbound.host)
                .ok_or_else(|| deny(Refusal::BadRequest, "bad_destination", Some(&path)))?;
            let target = path::normalize(raw, config.path_parameters)
                .map_err(|_| deny(Refusal::BadRequest, "bad_destination", Some(&path)))?;
            access.require(config.rules.access_for(inbound.method, &target));
            Some(format!("{origin}{target}"))
        }
    };
    let presented =
        credentials::extract(inbound.cookie, inbound.authorization, &config.cookie_name)
            .map_err(|_| deny(Refusal::BadRequest, "ambiguous_credentials", Some(&path)))?;
    let verified = presented.map(|(token, source)| verify(token).map(|claims| (claims, source)));

    let unauthenticated = if is_navigation(inbound) {
        Refusal::LoginRequired
    } else {
        Refusal::Unauthenticated
    };
    let decision = match (access.is_public(), verified) {
        (true, None) => Ok(admitted(path, None, None)),
        (true, Some(Ok((claims, source)))) => Ok(admitted(path, Some(claims), Some(source))),
        (true, Some(Err(e))) => {
            let mut admitted = admitted(path, None, None);
            admitted.ignored = Some(e.code());
            Ok(admitted)
        }
        (false, None) => Err(deny(unauthenticated, "no_token", Some(&path))),
        (false, Some(Err(e))) => Err(deny(unauthenticated, e.code(), Some(&path))),
        (false, Some(Ok((claims, source)))) => {
            if access.is_met_by(|role| claims.claims().has_role(role)) {
                Ok(admitted(path, Some(claims), Some(source)))
            } else {
                Err(Denied {
                    refusal: Refusal::Forbidden,
                    reason: "missing_role",
                    path: Some(path),
                    sub: Some(claims.claims().sub.clone()),
                })
            }
        }
    };
    decision.map(|admitted| Admitted {
        destination,
        ..admitted
    })
}

/// Whether a query names a method override (`_method`, as Rails, Laravel, Symfony and Express's
/// method-override read it on a POST): the origin would act on another method than the rules
/// checked. Keys are read as PHP reads them: decoded, cut at NUL, leading spaces dropped, `.`
/// and spaces turned into `_`.
fn has_method_override(query: &str) -> bool {
    query.split(['&', ';']).any(|pair| {
        let key = pair.split('=').next().unwrap_or_default().replace('+', " ");
        let key = path::decode(&key);
        let key = key.split('\0').next().unwrap_or_default().trim_start();
        let key: String = key
            .chars()
            .map(|c| if c == '.' || c == ' ' { '_' } else { c })
            .collect();
        key.eq_ignore_ascii_case("_method")
    })
}

/// A `Destination` header split into what precedes its path (`http://host` as given, empty for
/// a path alone) and its path. `None` unless it is an absolute path, or an `http(s)` URI naming
/// `host` without userinfo; a query or fragment is refused by the path's own check.
fn destination_parts<'d>(destination: &'d str, host: &str) -> Option<(&'d str, &'d str)> {
    if destination.starts_with('/') {
        return (!destination.starts_with("//")).then_some(("", destination));
    }
    let (scheme, rest) = destination.split_once("://")?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let path_at = rest.find('/')?;
    let authority = &rest[..path_at];
    if !authority.eq_ignore_ascii_case(host) {
        return None;
    }
    let split = scheme.len() + 3 + path_at;
    Some((&destination[..split], &destination[split..]))
}

/// Methods refused whatever the rules say: `TRACE`/`TRACK` echo the request (credentials
/// included) back, `CONNECT` asks for a tunnel.
pub const REFUSED_METHODS: [&str; 3] = ["TRACE", "TRACK", "CONNECT"];

/// A method is forwarded as itself or refused: never mapped to another one. 400 for what is not
/// an RFC 9110 token, 405 for [`REFUSED_METHODS`] in any case.
fn check_method(method: &str) -> Result<(), (Refusal, &'static str)> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method.is_empty() || method.len() > 32 || !method.bytes().all(is_tchar) {
        return Err((Refusal::BadRequest, "bad_method"));
    }
    if REFUSED_METHODS
        .iter()
        .any(|refused| refused.eq_ignore_ascii_case(method))
    {
        return Err((Refusal::MethodNotAllowed, "method_refused"));
    }
    Ok(())
}

/// The session token [`admit_with`] would hand to its `verify` for `inbound`, if any, so an
/// adapter can verify it beforehand (asynchronously) and then call [`admit_with`] with the
/// result. `None` when no token is presented or the credentials are ambiguous (which
/// [`admit_with`] refuses without verifying).
pub fn presented_token<'a>(config: &GatewayConfig, inbound: &Inbound<'a>) -> Option<&'a str> {
    credentials::extract(inbound.cookie, inbound.authorization, &config.cookie_name)
        .ok()
        .flatten()
        .map(|(token, _)| token)
}

fn admitted(path: String, identity: Option<VerifiedClaims>, source: Option<Source>) -> Admitted {
    Admitted {
        path,
        identity,
        source,
        ignored: None,
        destination: None,
    }
}

/// A top-level browser navigation: `GET`/`HEAD` that accepts HTML.
fn is_navigation(inbound: &Inbound) -> bool {
    matches!(inbound.method, "GET" | "HEAD")
        && inbound
            .accept
            .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/html"))
}

/// The login page URL that returns to `path` (and `query`) afterwards.
pub fn login_location(path: &str, query: Option<&str>) -> String {
    let mut next = path.to_owned();
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        next.push('?');
        next.push_str(query);
    }
    format!("/auth/login?next={}", encode_component(&next))
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
pub fn encode_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The token the origin receives as `X-Auth-Assertion`: the session's claims restated for the
/// origin's audience, issued now, expiring with the session.
pub fn assertion(config: &GatewayConfig, claims: &Claims, now: u64) -> String {
    let mut claims = claims.clone();
    claims.aud = vec![config.assertion_audience.clone()];
    claims.iat = now.min(claims.exp);
    token::mint(&claims, config.signing_key())
}

/// The headers sent to the origin: inbound headers minus hop-by-hop ones, every reserved
/// identity header and every routing header (in any spelling), the session cookie (unless
/// configured) and `Authorization` (a used or revoked bearer always; any other unless
/// `FORWARD_CLIENT_AUTHORIZATION`); plus `X-Forwarded-*` from `facts` and our identity headers
/// when there is a session.
pub fn forward_headers(
    config: &GatewayConfig,
    inbound: impl IntoIterator<Item = (String, String)>,
    admitted: &Admitted,
    facts: &RequestFacts,
    assertion: Option<&str>,
) -> Result<Vec<(String, String)>, UnrepresentableClaim> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (name, value) in inbound {
        if headers::is_hop_by_hop(&name) || config.headers.is_withheld(&name) {
            continue;
        }
        if name.eq_ignore_ascii_case("authorization")
            && (admitted.source == Some(Source::Bearer) || !config.forward_client_authorization)
        {
            continue;
        }
        if name.eq_ignore_ascii_case("cookie") {
            let kept = if config.forward_session_cookie {
                cookie::without_lookalikes(&value, &config.cookie_name)
            } else {
                cookie::without(&value, &config.cookie_name)
            };
            if let Some(kept) = kept {
                out.push((name, kept));
            }
            continue;
        }
        if name.eq_ignore_ascii_case("destination") {
            if let Some(destination) = &admitted.destination {
                out.push((name, destination.clone()));
            }
            continue;
        }
        out.push((name, value));
    }
    for (name, value) in facts.headers() {
        out.push((name.to_owned(), value));
    }
    if let (Some(identity), Some(assertion)) = (&admitted.identity, assertion) {
        for (name, value) in config.headers.values(identity.claims(), assertion)? {
            out.push((name.to_owned(), value));
        }
    }
    Ok(out)
}
