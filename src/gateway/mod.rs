//! The decision on every forwarded request, in two pure phases around the adapter's I/O:
//! [`plan`] (the canonical path, its rules, the credential presented) and [`decide`] (given
//! what verification and revocation said: admitted or denied); then exactly the headers the
//! origin receives ([`forward_headers`]).

pub mod cookie;
pub mod credentials;
pub mod headers;
pub mod path;
pub mod revocation;
pub mod rules;

use crate::config::GatewayConfig;
use crate::login::next;
use crate::machine::service_token;
use crate::refusal::{Denied, Refusal};
#[cfg(not(target_arch = "wasm32"))]
use crate::token;
use crate::token::claims::{Claims, VerifiedClaims};
use crate::token::error::Error;
use credentials::Source;
use headers::{RequestFacts, UnrepresentableClaim};
use rules::{Requirement, Subject, Verdict};

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
    /// The service token headers (client id, secret), under their configured names.
    pub service_token: (Option<&'a str>, Option<&'a str>),
    /// `Sec-Fetch-Mode`: how the browser says it sends the request (`navigate`, `cors`, …).
    pub fetch_mode: Option<&'a str>,
    /// `X-Requested-With` (`XMLHttpRequest` from jQuery, Angular and the like).
    pub requested_with: Option<&'a str>,
    /// `Origin`.
    pub origin: Option<&'a str>,
    /// `Access-Control-Request-Method`: with `OPTIONS` and `Origin`, a CORS preflight.
    pub cors_request_method: Option<&'a str>,
    /// Whether the request has a body (a `Content-Length` above 0, or a `Transfer-Encoding`):
    /// a preflight never does.
    pub has_body: bool,
}

/// A request the edge lets through.
#[derive(Debug, Clone)]
pub struct Admitted {
    /// The normalized path that was checked and must be forwarded.
    pub path: String,
    /// The verified, unrevoked session, if one was presented.
    pub identity: Option<VerifiedClaims>,
    /// Where the presented token came from (kept when the edge then ignores it, revoked on a
    /// public route, so it is still not forwarded).
    pub source: Option<Source>,
    /// Why a presented token was ignored on a public route (for the log).
    pub ignored: Option<&'static str>,
    /// The `Destination` header to forward: the inbound one with its path made canonical.
    pub destination: Option<String>,
    /// Whether the assertion must be bound to this request ([`request_assertion_claims`]).
    pub bound_assertion: bool,
    /// A CORS preflight let through by its rule: forwarded anonymously, without `Cookie` or
    /// `Authorization`.
    pub preflight: bool,
}

/// What the edge must know before any I/O, from the request alone: the canonical path, what it
/// requires, and the credential presented (extracted once, here).
#[derive(Debug, Clone)]
pub struct Plan<'c, 'r> {
    path: String,
    requirement: Requirement<'c>,
    destination: Option<String>,
    presented: Option<Presented<'r>>,
    navigation: bool,
    preflight: bool,
    bound_assertion: bool,
    query: Option<&'r str>,
}

/// The one credential a request presents.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented<'r> {
    /// A token: our session, or (only as a bearer) a trusted issuer's access token.
    Token(&'r str, Source),
    /// A well-formed service token.
    ServiceToken(service_token::Presented<'r>),
    /// Service token headers that are not a client id and secret (one missing, or malformed):
    /// an invalid credential, like a token that does not verify.
    BadServiceToken,
}

impl Presented<'_> {
    /// Where it was found.
    pub fn source(&self) -> Source {
        match self {
            Presented::Token(_, source) => *source,
            Presented::ServiceToken(_) | Presented::BadServiceToken => Source::ServiceToken,
        }
    }
}

impl<'r> Plan<'_, 'r> {
    /// The canonical path, the one checked and forwarded.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// What the rules decide for `subject` (`None`: no valid session) at `now`, and which rule
    /// decided: exactly what [`decide`] applies, for `edgeauth check-policy`.
    pub fn explain(&self, subject: Option<&Subject>, now: u64) -> rules::Decision {
        self.requirement.explain(subject, now, self.preflight)
    }

    /// Whether the request is a browser navigation (sent to log in rather than answered 401).
    pub fn is_navigation(&self) -> bool {
        self.navigation
    }

    /// The credential to check, if one was presented.
    pub fn presented(&self) -> Option<Presented<'r>> {
        self.presented
    }

    /// The token to verify, if a token was presented.
    pub fn token(&self) -> Option<&'r str> {
        match self.presented {
            Some(Presented::Token(token, _)) => Some(token),
            _ => None,
        }
    }
}

/// What became of the presented token, the input [`decide`] needs from the adapter's I/O.
#[derive(Debug, Clone)]
pub enum Checked {
    /// It did not verify.
    Invalid(Error),
    /// It verified, but is revoked or could not be checked against a fresh enough revocation
    /// list (the reason): it counts as no session at all.
    Revoked(VerifiedClaims, &'static str),
    /// It verified and is not revoked.
    Valid(VerifiedClaims),
}

/// Decides a request at time `now` with the core's own verifier ([`token::verify`]) and no
/// revocation list: [`plan`], then [`decide`]. The Worker does the same with its verifier and
/// its revocation copy in between.
#[cfg(not(target_arch = "wasm32"))]
pub fn admit(config: &GatewayConfig, inbound: &Inbound, now: u64) -> Result<Admitted, Denied> {
    let plan = plan(config, inbound)?;
    let checked =
        plan.token().map(
            |token| match token::verify(token, &config.keys, &config.session, now) {
                Ok(session) => Checked::Valid(session),
                Err(e) => Checked::Invalid(e),
            },
        );
    decide(plan, checked, now)
}

/// The first phase, pure and before any I/O: the method, the canonical path (and
/// `Destination`'s), the rules both require, and the credential presented. Refuses what is
/// malformed or ambiguous whatever the rules say.
pub fn plan<'c, 'r>(
    config: &'c GatewayConfig,
    inbound: &Inbound<'r>,
) -> Result<Plan<'c, 'r>, Denied> {
    check_method(inbound.method)?;
    let path = path::normalize(inbound.path, config.path_parameters)
        .map_err(|_| Denied::new(Refusal::BadRequest, "bad_path"))?;
    let refuse = |reason: &'static str| Denied::new(Refusal::BadRequest, reason).at(&path);
    if inbound.method.eq_ignore_ascii_case("POST") && inbound.query.is_some_and(has_method_override)
    {
        return Err(refuse("method_override"));
    }
    let mut requirement = config.rules.access_for(inbound.method, &path);
    let destination = match inbound.destination {
        None => None,
        Some(value) => {
            let (origin, raw) =
                destination_parts(value, inbound.host).ok_or_else(|| refuse("bad_destination"))?;
            let target = path::normalize(raw, config.path_parameters)
                .map_err(|_| refuse("bad_destination"))?;
            requirement.require(config.rules.access_for(inbound.method, &target));
            Some(format!("{origin}{target}"))
        }
    };
    let token = credentials::extract(inbound.cookie, inbound.authorization, &config.cookie_name)
        .map_err(|_| refuse("ambiguous_credentials"))?
        .map(|(token, source)| Presented::Token(token, source));
    // With service tokens off, their headers are only withheld from the origin.
    let service = match (&config.service_tokens, inbound.service_token) {
        (None, _) | (_, (None, None)) => None,
        (Some(_), (Some(id), Some(secret))) => Some(
            service_token::Presented::parse(id, secret)
                .map_or(Presented::BadServiceToken, Presented::ServiceToken),
        ),
        (Some(_), _) => Some(Presented::BadServiceToken),
    };
    let presented = match (token, service) {
        (Some(_), Some(_)) => return Err(refuse("ambiguous_credentials")),
        (token, service) => token.or(service),
    };
    Ok(Plan {
        bound_assertion: config.bind_assertions || requirement.binds_assertion(),
        path,
        requirement,
        destination,
        presented,
        navigation: is_navigation(inbound),
        preflight: is_preflight(inbound),
        query: inbound.query,
    })
}

/// The second phase, pure: the plan and what became of its credential (`None` when none was
/// presented) decide at `now`. The rules see the valid, unrevoked session or nobody: a token that
/// does not verify, or a revoked session, counts as none (anonymous on a public route, refused
/// like a missing one on a protected route). A session whose login is older than a rule allows
/// is sent to log in again.
pub fn decide(plan: Plan, checked: Option<Checked>, now: u64) -> Result<Admitted, Denied> {
    // The source of a token that verified (revoked or not): such a token is never forwarded.
    let source = match &checked {
        Some(Checked::Valid(_) | Checked::Revoked(..)) => {
            plan.presented.map(|presented| presented.source())
        }
        _ => None,
    };
    let (identity, unusable, revoked): (Option<VerifiedClaims>, Option<&'static str>, _) =
        match checked {
            None => (None, None, None),
            Some(Checked::Valid(session)) => (Some(session), None, None),
            Some(Checked::Invalid(e)) => (None, Some(e.code()), None),
            Some(Checked::Revoked(session, reason)) => (None, Some(reason), Some(session)),
        };
    let claims = identity.as_ref().map(VerifiedClaims::claims);
    let subject = claims.map(Subject::of);
    let to_login = |reason: &'static str, location: String| {
        let denied = Denied::new(Refusal::Unauthenticated, reason).at(&plan.path);
        if plan.navigation {
            Denied {
                refusal: Refusal::LoginRequired,
                location: Some(location),
                ..denied
            }
        } else {
            denied
        }
    };
    match plan
        .requirement
        .evaluate(subject.as_ref(), now, plan.preflight)
    {
        Verdict::Preflight => Ok(Admitted {
            path: plan.path.clone(),
            identity: None,
            source,
            ignored: Some("preflight"),
            destination: plan.destination.clone(),
            bound_assertion: false,
            preflight: true,
        }),
        Verdict::Pass => Ok(Admitted {
            path: plan.path.clone(),
            identity,
            source,
            ignored: unusable,
            destination: plan.destination.clone(),
            bound_assertion: plan.bound_assertion,
            preflight: false,
        }),
        Verdict::NeedsSession => {
            let denied = to_login(
                unusable.unwrap_or("no_token"),
                next::login_location(&plan.path, plan.query),
            );
            Err(match &revoked {
                Some(session) => denied.of(session),
                None => denied,
            })
        }
        Verdict::LoginTooOld => {
            let denied = to_login(
                "login_too_old",
                next::reauthentication_location(&plan.path, plan.query),
            );
            Err(match &identity {
                Some(session) => denied.of(session),
                None => denied,
            })
        }
        Verdict::Refused(reason) => {
            let denied = Denied::new(Refusal::Forbidden, reason).at(&plan.path);
            Err(match &identity {
                Some(session) => denied.of(session),
                None => denied,
            })
        }
    }
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
fn check_method(method: &str) -> Result<(), Denied> {
    let is_tchar = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if method.is_empty() || method.len() > 32 || !method.bytes().all(is_tchar) {
        return Err(Denied::new(Refusal::BadRequest, "bad_method"));
    }
    if REFUSED_METHODS
        .iter()
        .any(|refused| refused.eq_ignore_ascii_case(method))
    {
        return Err(Denied::new(Refusal::MethodNotAllowed, "method_refused"));
    }
    Ok(())
}

/// A CORS preflight (Fetch §4.8): `OPTIONS` with `Origin` and an `Access-Control-Request-Method`
/// that is a method, and no body. Where a rule lets preflights pass, it reaches the origin
/// anonymously and without credentials ([`forward_headers`]).
pub fn is_preflight(inbound: &Inbound) -> bool {
    inbound.method == "OPTIONS"
        && inbound.origin.is_some()
        && inbound
            .cors_request_method
            .is_some_and(|method| check_method(method).is_ok())
        && !inbound.has_body
}

/// A top-level browser navigation, sent to log in rather than answered 401: `GET`/`HEAD` that
/// accepts HTML, is not marked as a script's (`X-Requested-With: XMLHttpRequest`; Android's
/// WebView puts its app's name there on navigations), and, when the browser says
/// how it sends it (`Sec-Fetch-Mode`), is a navigation. So a `fetch` or XHR call never gets a
/// login page, whatever it accepts.
pub fn is_navigation(inbound: &Inbound) -> bool {
    matches!(inbound.method, "GET" | "HEAD")
        && inbound
            .accept
            .is_some_and(|accept| accept.to_ascii_lowercase().contains("text/html"))
        && !inbound
            .requested_with
            .is_some_and(|with| with.eq_ignore_ascii_case("XMLHttpRequest"))
        && inbound
            .fetch_mode
            .is_none_or(|mode| mode.eq_ignore_ascii_case("navigate"))
}

/// The claims of the token the origin receives as `X-Auth-Assertion`: the session's claims
/// restated for the origin's audience, issued now, expiring with the session.
pub fn assertion_claims(config: &GatewayConfig, session: &VerifiedClaims, now: u64) -> Claims {
    let mut claims = session.claims().clone();
    claims.aud = vec![config.assertion_audience.clone()];
    claims.iat = now.min(claims.exp);
    claims
}

/// How long a request-bound assertion is valid: long enough for the origin to receive it, too
/// short to be kept and used later.
pub const REQUEST_ASSERTION_TTL_SECS: u64 = 60;

/// The request a bound assertion was made for.
#[derive(Debug, Clone, Copy)]
pub struct BoundRequest<'a> {
    /// The method, as received and forwarded.
    pub method: &'a str,
    /// `http` or `https`, as the client reached the edge.
    pub proto: &'a str,
    /// The host (and port) the client asked for.
    pub host: &'a str,
    /// The canonical path, the one checked and forwarded.
    pub path: &'a str,
}

/// The claims of an assertion bound to one request: [`assertion_claims`] plus what the request
/// was, in DPoP's terms (RFC 9449 §4.2): `htm`, the method, and `htu`, the URL without query or
/// fragment (`proto://host/canonical-path`); a `jti` (random, from the caller) by which an
/// origin can refuse a second use, and an `exp` at most [`REQUEST_ASSERTION_TTL_SECS`] away.
/// An origin that checks them refuses the assertion replayed to any other request.
pub fn request_assertion_claims(
    config: &GatewayConfig,
    session: &VerifiedClaims,
    request: &BoundRequest,
    jti: String,
    now: u64,
) -> Claims {
    let mut claims = assertion_claims(config, session, now);
    claims.exp = claims
        .exp
        .min(now.saturating_add(REQUEST_ASSERTION_TTL_SECS));
    claims.extra.insert("htm".into(), request.method.into());
    claims.extra.insert(
        "htu".into(),
        format!("{}://{}{}", request.proto, request.host, request.path).into(),
    );
    claims.extra.insert("jti".into(), jti.into());
    claims
}

/// [`assertion_claims`] minted here (host builds; the Worker signs through WebCrypto).
#[cfg(not(target_arch = "wasm32"))]
pub fn assertion(config: &GatewayConfig, session: &VerifiedClaims, now: u64) -> String {
    token::mint(
        &assertion_claims(config, session, now),
        config.signing_key(),
    )
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
        if admitted.preflight
            && (name.eq_ignore_ascii_case("authorization") || name.eq_ignore_ascii_case("cookie"))
        {
            continue; // a preflight carries no credentials, and none is passed on
        }
        if name.eq_ignore_ascii_case("authorization")
            && (admitted.source == Some(Source::Bearer) || !config.forward_client_authorization)
        {
            continue;
        }
        if name.eq_ignore_ascii_case("cookie") {
            // Only a cookie the edge verified and admitted is forwarded, and only when configured:
            // an invalid or revoked one never reaches the origin.
            let verified_cookie =
                admitted.identity.is_some() && admitted.source == Some(Source::Cookie);
            let kept = if config.forward_session_cookie && verified_cookie {
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
