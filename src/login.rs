//! Login, the pure half: what `POST /auth/login` reads and decides before and after it asks a
//! user store, with no `worker` types.
//!
//! - [`safe_next`]: where to send the browser afterwards, only ever a path on this origin.
//! - [`is_same_origin`]: the cross-site check on every state-changing `/auth/*` POST.
//! - [`LoginRequest::parse`]: the form or JSON body, size-capped, strictly decoded.
//! - [`UserRecord::parse`] (the Workers KV store, key [`user_key`]) and
//!   [`Identity::from_upstream`] (the upstream store's answer): both fail closed.
//! - [`DECOY_PASSWORD_HASH`]: the PBKDF2 work burned for an unknown user.
//! - [`new_session_claims`] and [`renewal`]: the claims of a new session and of a renewed one.

use crate::claims::Claims;
use crate::config::GatewayConfig;
use crate::password::PasswordHash;
use crate::strict_json::{self, StrictJsonError};
use serde_json::{Map, Value};
use std::fmt;
use zeroize::Zeroizing;

/// Largest login request body accepted, in bytes (8 KiB). Larger bodies are refused with
/// [`LoginError::TooLarge`] (answered 413) before any parsing.
pub const MAX_LOGIN_BODY_BYTES: usize = 8 * 1024;
/// Longest `next` accepted, in bytes (2 KiB); longer values become `/`.
pub const MAX_NEXT_BYTES: usize = 2048;
/// Longest username, in bytes.
pub const MAX_USERNAME_BYTES: usize = 128;
/// Longest password, in bytes. Bounds the PBKDF2 input an attacker can make us hash.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// Longest role name, in bytes.
pub const MAX_ROLE_BYTES: usize = 128;
/// Most roles one user may have.
pub const MAX_ROLES: usize = 64;
/// Longest `name` or `email`, in bytes.
pub const MAX_PROFILE_BYTES: usize = 256;
/// Largest upstream user store answer accepted, in bytes (16 KiB).
pub const MAX_UPSTREAM_BODY_BYTES: usize = 16 * 1024;

/// The one message every failed login shows, whatever failed (unknown user, wrong password,
/// disabled user): the page and the JSON body never say which.
pub const INVALID_CREDENTIALS: &str = "Invalid username or password.";

/// A PBKDF2 hash of a random password that was thrown away, at [`crate::password::ITERATIONS`].
///
/// When the username is unknown (or its record cannot be read), the login still derives
/// PBKDF2 of the submitted password against this hash and refuses whatever comes out. The
/// unknown user then costs the same 100,000 iterations as a known one, so the response time does
/// not tell an attacker which usernames exist. It only holds if stored records use the same
/// iteration count (the CLI's `hash-password` does by default). Nobody knows a password that
/// matches it, and the caller refuses the login even if one did.
pub const DECOY_PASSWORD_HASH: &str =
    "$pbkdf2-sha256$i=100000$L0rYnj9cnp95eoCKCvPNpQ$09GixMytcRiyNmeoQmhQ1jSbYUreqj/izxUZmH/RMBg";

/// [`DECOY_PASSWORD_HASH`], parsed.
pub fn decoy_hash() -> PasswordHash {
    PasswordHash::parse(DECOY_PASSWORD_HASH).expect("the decoy is a valid PHC string (tested)")
}

/// The Workers KV key of a user's record: `user:<username>`.
pub fn user_key(username: &str) -> String {
    format!("user:{username}")
}

// ---------------------------------------------------------------------------------------------
// next

/// Where to go after logging in: `raw` when it is a path on this origin, else `/`.
///
/// Accepted: at most [`MAX_NEXT_BYTES`] of visible ASCII (no spaces, controls or non-ASCII:
/// browsers send paths percent-encoded), starting with exactly one `/` (so `//host` and
/// `/\host`, which browsers read as another host, are refused), with no backslash anywhere.
/// Then the value is percent-decoded once and checked again: invalid percent-encoding, a
/// decoded `/` or `\` right after the first `/` (`/%2f/host`, `/%5chost`), a decoded backslash
/// anywhere, or any decoded control character (`%0d%0a`, `%09`, `%00`, `%7f`, C1 controls) is
/// refused. An encoded `/` further in (`/a%2fb`) is an ordinary path and kept. Schemes
/// (`https:`, `javascript:`) cannot pass: nothing that starts with a single `/` has one.
///
/// The returned value is `raw` unchanged (not the decoded form), ready for a `Location` header.
pub fn safe_next(raw: Option<&str>) -> String {
    match raw {
        Some(raw) if is_safe_next(raw) => raw.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_safe_next(raw: &str) -> bool {
    if raw.len() > MAX_NEXT_BYTES
        || !raw.bytes().all(|b| b.is_ascii_graphic() && b != b'\\')
        || !starts_with_one_slash(raw.as_bytes())
    {
        return false;
    }
    let Some(decoded) = percent_decode(raw.as_bytes()) else {
        return false;
    };
    starts_with_one_slash(&decoded)
        && !decoded.iter().any(|&b| b == b'\\' || b.is_ascii_control())
        && !String::from_utf8_lossy(&decoded)
            .chars()
            .any(char::is_control)
}

fn starts_with_one_slash(path: &[u8]) -> bool {
    path.first() == Some(&b'/') && !matches!(path.get(1), Some(b'/' | b'\\'))
}

/// Decodes every `%XX` once; `None` on a `%` not followed by two hex digits.
fn percent_decode(input: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len());
    let mut bytes = input.iter();
    while let Some(&b) = bytes.next() {
        if b == b'%' {
            let high = hex_value(*bytes.next()?)?;
            let low = hex_value(*bytes.next()?)?;
            out.push(high << 4 | low);
        } else {
            out.push(b);
        }
    }
    Some(out)
}

fn hex_value(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

// ---------------------------------------------------------------------------------------------
// Same-origin check

/// Whether a state-changing request comes from this origin.
///
/// - `Origin` present: it must equal `expected_origin` (`scheme://host[:port]`) exactly, with
///   scheme and host compared case-insensitively. `Origin: null` (sandboxed frames, some
///   redirects), a trailing `/`, or an explicit default port that `expected_origin` does not
///   have are all refused.
/// - `Origin` absent: `Sec-Fetch-Site` must be `same-origin` or `none` (the user typed or
///   bookmarked it).
/// - Neither header: refused (fail closed). Current browsers send at least one of them on every
///   POST, so only old browsers and non-browser clients lack both; a script calling the JSON
///   login must send an `Origin` naming this origin.
///
/// A `Sec-Fetch-Site` of `cross-site` or `same-site` refuses the request even when `Origin`
/// matches: the two headers then disagree and neither is trusted.
pub fn is_same_origin(
    origin: Option<&str>,
    sec_fetch_site: Option<&str>,
    expected_origin: &str,
) -> bool {
    let site_allows = |site: &str| matches!(site.trim(), "same-origin" | "none");
    if sec_fetch_site.is_some_and(|site| !site_allows(site)) {
        return false;
    }
    match origin {
        Some(origin) => origins_equal(origin, expected_origin),
        None => sec_fetch_site.is_some(),
    }
}

fn origins_equal(received: &str, expected: &str) -> bool {
    let (Some((scheme_a, host_a)), Some((scheme_b, host_b))) =
        (received.split_once("://"), expected.split_once("://"))
    else {
        return false;
    };
    let is_authority = |host: &str| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_graphic() && !b"/?#@\\".contains(&b))
    };
    is_authority(host_a)
        && is_authority(host_b)
        && scheme_a.eq_ignore_ascii_case(scheme_b)
        && host_a.eq_ignore_ascii_case(host_b)
}

// ---------------------------------------------------------------------------------------------
// Login request

/// How the login was submitted, which decides how the answer looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginKind {
    /// `application/x-www-form-urlencoded`: a browser form; answer with a redirect or the page.
    Form,
    /// `application/json`: an API client or the page's script; answer with JSON.
    Json,
}

/// A login request body, decoded and checked. The password is wiped from memory on drop and
/// never printed by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginRequest {
    /// Form or JSON.
    pub kind: LoginKind,
    /// The username: 1 to [`MAX_USERNAME_BYTES`] bytes of visible ASCII without `,` (see
    /// [`is_valid_username`]); spaces and tabs around it are trimmed.
    pub username: String,
    /// The password: 1 to [`MAX_PASSWORD_BYTES`] bytes of UTF-8, as typed (never trimmed).
    pub password: Zeroizing<String>,
    /// Where to go afterwards, already passed through [`safe_next`]: the form's `next` field,
    /// or `/` when absent (always `/` for JSON, whose clients do not follow redirects).
    pub next: String,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("kind", &self.kind)
            .field("username", &self.username)
            .field("password", &"***OMITTED***")
            .field("next", &self.next)
            .finish()
    }
}

/// Why a login request body was refused. Logs may show it; the client sees only the generic
/// answer for its status (413 for [`LoginError::TooLarge`], 415 or 400 for
/// [`LoginError::UnsupportedMediaType`], 400 for the rest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginError {
    /// The body is larger than [`MAX_LOGIN_BODY_BYTES`].
    TooLarge,
    /// No `Content-Type`, or not form/JSON, or a charset other than UTF-8.
    UnsupportedMediaType,
    /// The body cannot be decoded: bad percent-encoding, not UTF-8, not a JSON object, or a
    /// field of the wrong JSON type. The detail says which.
    Malformed(&'static str),
    /// `username`, `password` or `next` appears twice.
    DuplicateField,
    /// A required field is missing.
    MissingField(&'static str),
    /// The username is empty, too long, or has a character outside visible ASCII or a comma.
    InvalidUsername,
    /// The password is empty or longer than [`MAX_PASSWORD_BYTES`].
    InvalidPassword,
}

impl LoginError {
    /// A stable, lowercase code for logs.
    pub fn code(&self) -> &'static str {
        match self {
            LoginError::TooLarge => "too_large",
            LoginError::UnsupportedMediaType => "unsupported_media_type",
            LoginError::Malformed(_) => "malformed",
            LoginError::DuplicateField => "duplicate_field",
            LoginError::MissingField(_) => "missing_field",
            LoginError::InvalidUsername => "invalid_username",
            LoginError::InvalidPassword => "invalid_password",
        }
    }
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::TooLarge => write!(f, "body larger than {MAX_LOGIN_BODY_BYTES} bytes"),
            LoginError::UnsupportedMediaType => {
                f.write_str("content type is not form or JSON in UTF-8")
            }
            LoginError::Malformed(why) => write!(f, "malformed body: {why}"),
            LoginError::DuplicateField => f.write_str("a field appears twice"),
            LoginError::MissingField(name) => write!(f, "field {name} is missing"),
            LoginError::InvalidUsername => f.write_str("username is not acceptable"),
            LoginError::InvalidPassword => f.write_str("password is empty or too long"),
        }
    }
}

impl std::error::Error for LoginError {}

impl LoginRequest {
    /// Parses a login body by its `Content-Type`.
    ///
    /// - The size cap is checked first, before anything is decoded.
    /// - Form (`application/x-www-form-urlencoded`): `+` is a space, `%XX` a byte, every name
    ///   and value must be UTF-8 after decoding, and invalid percent-encoding is refused. Fields
    ///   `username`, `password` and optional `next`; each at most once.
    /// - JSON (`application/json`): one object, duplicate member names refused at any depth
    ///   ([`crate::strict_json`]); `username` and `password` must be strings.
    /// - Both: unknown fields are ignored, so a form may carry extra inputs and clients may add
    ///   fields, but they never influence the login.
    /// - A `charset` parameter, if any, must be `utf-8`; other parameters are ignored.
    pub fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Self, LoginError> {
        if body.len() > MAX_LOGIN_BODY_BYTES {
            return Err(LoginError::TooLarge);
        }
        let kind = body_kind(content_type)?;
        let (username, password, next) = match kind {
            LoginKind::Form => parse_form(body)?,
            LoginKind::Json => parse_json(body)?,
        };
        let username = username.ok_or(LoginError::MissingField("username"))?;
        let password = password.ok_or(LoginError::MissingField("password"))?;
        let username = username.trim_matches([' ', '\t']).to_owned();
        if !is_valid_username(&username) {
            return Err(LoginError::InvalidUsername);
        }
        if password.is_empty() || password.len() > MAX_PASSWORD_BYTES {
            return Err(LoginError::InvalidPassword);
        }
        Ok(LoginRequest {
            kind,
            username,
            password,
            next: safe_next(next.as_deref()),
        })
    }
}

type Fields = (Option<String>, Option<Zeroizing<String>>, Option<String>);

fn body_kind(content_type: Option<&str>) -> Result<LoginKind, LoginError> {
    let content_type = content_type.ok_or(LoginError::UnsupportedMediaType)?;
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim();
    let kind = if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        LoginKind::Form
    } else if essence.eq_ignore_ascii_case("application/json") {
        LoginKind::Json
    } else {
        return Err(LoginError::UnsupportedMediaType);
    };
    for parameter in parts {
        if let Some((name, value)) = parameter.split_once('=') {
            if name.trim().eq_ignore_ascii_case("charset")
                && !value.trim().trim_matches('"').eq_ignore_ascii_case("utf-8")
            {
                return Err(LoginError::UnsupportedMediaType);
            }
        }
    }
    Ok(kind)
}

fn parse_form(body: &[u8]) -> Result<Fields, LoginError> {
    let (mut username, mut password, mut next) = (None, None, None);
    for pair in body.split(|&b| b == b'&').filter(|pair| !pair.is_empty()) {
        let (name, value) = match pair.iter().position(|&b| b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        let name = form_decode(name)?;
        let value = Zeroizing::new(form_decode(value)?);
        match name.as_str() {
            "username" => set_once(&mut username, value.to_string())?,
            "password" => set_once(&mut password, value)?,
            "next" => set_once(&mut next, value.to_string())?,
            _ => {}
        }
    }
    Ok((username, password, next))
}

fn set_once<T>(slot: &mut Option<T>, value: T) -> Result<(), LoginError> {
    if slot.replace(value).is_some() {
        return Err(LoginError::DuplicateField);
    }
    Ok(())
}

/// `application/x-www-form-urlencoded` decoding of one name or value.
fn form_decode(raw: &[u8]) -> Result<String, LoginError> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    let bytes =
        percent_decode(&plus_as_space).ok_or(LoginError::Malformed("invalid percent-encoding"))?;
    String::from_utf8(bytes).map_err(|_| LoginError::Malformed("form field is not UTF-8"))
}

fn parse_json(body: &[u8]) -> Result<Fields, LoginError> {
    let object = strict_json::parse_object(body).map_err(|e| match e {
        StrictJsonError::DuplicateMember => LoginError::DuplicateField,
        StrictJsonError::Invalid => LoginError::Malformed("not a JSON object"),
    })?;
    let text = |name: &'static str| match object.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.clone())),
        Some(_) => Err(LoginError::Malformed(
            "username and password must be strings",
        )),
    };
    Ok((
        text("username")?,
        text("password")?.map(Zeroizing::new),
        None,
    ))
}

/// Whether `username` is acceptable: 1 to [`MAX_USERNAME_BYTES`] bytes of visible ASCII
/// (`!` to `~`), no comma. It becomes `sub` and so the `X-Auth-User` header, and part of the KV
/// key, so nothing a header or a key could mangle gets in. Case-sensitive.
pub fn is_valid_username(username: &str) -> bool {
    (1..=MAX_USERNAME_BYTES).contains(&username.len())
        && username.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

/// Whether `role` is acceptable: 1 to [`MAX_ROLE_BYTES`] bytes of visible ASCII, no comma
/// (roles travel comma-separated in `X-Auth-Roles`).
pub fn is_valid_role(role: &str) -> bool {
    (1..=MAX_ROLE_BYTES).contains(&role.len())
        && role.bytes().all(|b| b.is_ascii_graphic() && b != b',')
}

// ---------------------------------------------------------------------------------------------
// User stores

/// A user store answer or record that cannot be used. The login fails closed (refused with the
/// generic message); the detail is for the log and never contains the password hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordError(pub &'static str);

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for RecordError {}

/// Who logged in, from either user store: what goes into the session's claims.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user id, the token's `sub` (a valid username: see [`is_valid_username`]).
    pub sub: String,
    /// Roles, each valid by [`is_valid_role`], no duplicates, at most [`MAX_ROLES`].
    pub roles: Vec<String>,
    /// Display name, if known.
    pub name: Option<String>,
    /// Email address, if known.
    pub email: Option<String>,
}

/// A user's record in Workers KV under [`user_key`]:
/// `{"password": "<PHC string>", "roles": [...], "disabled": false, "name"?: …, "email"?: …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The stored password hash (`Debug` omits the hash bytes).
    pub password: PasswordHash,
    /// The user's roles.
    pub roles: Vec<String>,
    /// A disabled user is refused like a wrong password. Defaults to `false` when absent.
    pub disabled: bool,
    /// Display name, if any.
    pub name: Option<String>,
    /// Email address, if any.
    pub email: Option<String>,
}

impl UserRecord {
    /// Parses a record strictly: duplicate member names refused; `password` must be a
    /// supported PHC string ([`PasswordHash::parse`]); `roles` is required (it may be empty);
    /// `disabled` must be a boolean when present; `name`/`email` are optional strings of at
    /// most [`MAX_PROFILE_BYTES`] without control characters (`null` or `""` mean absent).
    /// Unknown members are ignored, so tools may add bookkeeping fields.
    pub fn parse(json: &str) -> Result<Self, RecordError> {
        let object = object(json.as_bytes())?;
        let password = match object.get("password") {
            Some(Value::String(phc)) => PasswordHash::parse(phc)
                .map_err(|_| RecordError("password is not a supported PHC string"))?,
            Some(_) => return Err(RecordError("password is not a string")),
            None => return Err(RecordError("password is missing")),
        };
        let disabled = match object.get("disabled") {
            None => false,
            Some(Value::Bool(disabled)) => *disabled,
            Some(_) => return Err(RecordError("disabled is not true or false")),
        };
        Ok(UserRecord {
            password,
            roles: roles(&object)?,
            disabled,
            name: profile_text(&object, "name")?,
            email: profile_text(&object, "email")?,
        })
    }

    /// The identity of `username` (already validated by [`LoginRequest::parse`]) with this
    /// record's roles and profile.
    pub fn identity(&self, username: &str) -> Identity {
        Identity {
            sub: username.to_owned(),
            roles: self.roles.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
        }
    }
}

impl Identity {
    /// Parses the upstream store's `200` JSON answer `{"sub", "roles", "name"?, "email"?}`.
    ///
    /// Anything else is an error and the login fails closed: more than
    /// [`MAX_UPSTREAM_BODY_BYTES`], not one JSON object, duplicate member names, a `sub` that
    /// is not a valid username (it becomes `X-Auth-User`), missing or invalid `roles`, or bad
    /// `name`/`email` (same rules as [`UserRecord::parse`]). Unknown members are ignored.
    pub fn from_upstream(json: &str) -> Result<Self, RecordError> {
        if json.len() > MAX_UPSTREAM_BODY_BYTES {
            return Err(RecordError("upstream answer is too large"));
        }
        let object = object(json.as_bytes())?;
        let sub = match object.get("sub") {
            Some(Value::String(sub)) if is_valid_username(sub) => sub.clone(),
            Some(_) => return Err(RecordError("sub is not a valid user id")),
            None => return Err(RecordError("sub is missing")),
        };
        Ok(Identity {
            sub,
            roles: roles(&object)?,
            name: profile_text(&object, "name")?,
            email: profile_text(&object, "email")?,
        })
    }
}

fn object(json: &[u8]) -> Result<Map<String, Value>, RecordError> {
    strict_json::parse_object(json).map_err(|e| match e {
        StrictJsonError::DuplicateMember => RecordError("duplicate member name"),
        StrictJsonError::Invalid => RecordError("not a JSON object"),
    })
}

fn roles(object: &Map<String, Value>) -> Result<Vec<String>, RecordError> {
    let Some(value) = object.get("roles") else {
        return Err(RecordError("roles is missing"));
    };
    let Value::Array(items) = value else {
        return Err(RecordError("roles is not an array"));
    };
    if items.len() > MAX_ROLES {
        return Err(RecordError("too many roles"));
    }
    let mut roles: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        match item {
            Value::String(role) if is_valid_role(role) => {
                if roles.contains(role) {
                    return Err(RecordError("a role is listed twice"));
                }
                roles.push(role.clone());
            }
            _ => return Err(RecordError("a role is not header-safe text without commas")),
        }
    }
    Ok(roles)
}

fn profile_text(
    object: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<String>, RecordError> {
    match object.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text))
            if text.len() <= MAX_PROFILE_BYTES && !text.chars().any(char::is_control) =>
        {
            Ok(Some(text.clone()))
        }
        Some(_) => Err(RecordError(match name {
            "name" => "name is not a short string without control characters",
            _ => "email is not a short string without control characters",
        })),
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions

/// The claims of a new session for `identity`, minted at `now`: `iss` and `aud` from
/// `config.session`, `iat = auth_time = now`, `exp = now + config.session_ttl_secs`.
/// `sid` is a fresh session id from the caller (see [`crate::claims::session_id`]).
pub fn new_session_claims(
    config: &GatewayConfig,
    identity: &Identity,
    sid: String,
    now: u64,
) -> Claims {
    Claims {
        iss: config.session.issuer.clone(),
        aud: vec![config.session.audience.clone()],
        sub: identity.sub.clone(),
        sid,
        iat: now,
        exp: now.saturating_add(config.session_ttl_secs),
        nbf: None,
        auth_time: now,
        roles: identity.roles.clone(),
        name: identity.name.clone(),
        email: identity.email.clone(),
        extra: Map::new(),
    }
}

/// Sliding renewal of a verified session at `now`.
///
/// When more than `fraction` (0 to 1, e.g. 0.5) of the token's lifetime (`exp - iat`) has
/// elapsed, returns the same claims (same `sid`, `auth_time`, roles and every other claim) with
/// `iat = now` and `exp = min(now + ttl, auth_time + max_age)`: the absolute maximum age from
/// `auth_time` still ends the session. Returns `None` before the threshold, when the new `exp`
/// would not be later than the current one (nothing gained, e.g. at the age cap), when the
/// token has already expired (`now >= exp`), or when `fraction` is not within 0 to 1.
pub fn renewal(claims: &Claims, now: u64, fraction: f64, ttl: u64, max_age: u64) -> Option<Claims> {
    if !(0.0..=1.0).contains(&fraction) || now >= claims.exp {
        return None;
    }
    let lifetime = claims.exp.saturating_sub(claims.iat);
    let elapsed = now.saturating_sub(claims.iat);
    // Exact in f64 for any lifetime below 2^53 seconds.
    if (elapsed as f64) <= fraction * lifetime as f64 {
        return None;
    }
    let exp = now
        .saturating_add(ttl)
        .min(claims.auth_time.saturating_add(max_age));
    if exp <= claims.exp {
        return None;
    }
    let mut renewed = claims.clone();
    renewed.iat = now;
    renewed.exp = exp;
    Some(renewed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SigningKey;
    use crate::password::{self, native};
    use crate::token;

    #[test]
    fn safe_next_keeps_same_origin_paths() {
        let longest = format!("/{}", "a".repeat(MAX_NEXT_BYTES - 1));
        for good in [
            "/",
            "/app",
            "/app/page?x=1&y=two#frag",
            "/a%2fb",
            "/a/%2F/b",
            "/caf%C3%A9",
            "/search?q=%20x%20",
            "/.well-known/x",
            "/..//x",
            "/javascript:alert(1)",
            // Decoded once it is `/%2f%2fevil.com`: still a path here.
            "/%252f%252fevil.com",
            longest.as_str(),
        ] {
            assert_eq!(safe_next(Some(good)), good, "{good:?} should be kept");
        }
    }

    #[test]
    fn safe_next_refuses_every_trick() {
        let too_long = format!("/{}", "a".repeat(MAX_NEXT_BYTES));
        for (attack, bad) in [
            ("empty", ""),
            ("relative", "app"),
            ("dot relative", "./app"),
            ("protocol-relative", "//evil.com"),
            ("triple slash", "///evil.com"),
            ("slash backslash", "/\\evil.com"),
            ("backslashes", "\\\\evil.com"),
            ("slash backslash slash", "/\\/evil.com"),
            ("backslash inside", "/a\\b"),
            ("https scheme", "https://evil.com"),
            ("scheme without slashes", "http:evil.com"),
            ("javascript", "javascript:alert(1)"),
            ("mixed-case javascript", "JaVaScRiPt:alert(1)"),
            ("data", "data:text/html,<script>alert(1)</script>"),
            ("encoded slashes", "%2f%2fevil.com"),
            ("slash then encoded slash", "/%2f/evil.com"),
            ("slash then encoded slashes", "/%2F%2Fevil.com"),
            ("slash then encoded backslash", "/%5cevil.com"),
            ("slash then encoded backslash upper", "/%5Cevil.com"),
            ("encoded backslash inside", "/a%5cb"),
            ("encoded CRLF at start", "/%0d%0aSet-Cookie:x=1"),
            ("encoded CRLF inside", "/app%0D%0ALocation:%20//evil.com"),
            ("encoded tab", "/%09/evil.com"),
            ("encoded NUL", "/app%00"),
            ("encoded DEL", "/app%7f"),
            ("encoded C1 control (NEL)", "/app%C2%85"),
            ("raw CRLF", "/app\r\nSet-Cookie: x=1"),
            ("raw LF", "/\n/evil.com"),
            ("raw tab", "/\t/evil.com"),
            ("raw space", "/ /evil.com"),
            ("leading space", " /app"),
            ("raw non-ASCII", "/caf\u{e9}"),
            ("raw line separator", "/a\u{2028}b"),
            ("invalid percent-encoding", "/%zz"),
            ("truncated percent-encoding", "/%2"),
            ("lone percent", "/%"),
            ("over 2 KiB", too_long.as_str()),
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{attack}: {bad:?}");
        }
        assert_eq!(safe_next(None), "/");
    }

    const EDGE: &str = "https://edge.example";

    #[test]
    fn same_origin_by_origin_header() {
        for (origin, site, expected) in [
            (Some(EDGE), None, true),
            (Some("https://EDGE.Example"), None, true),
            (Some("HTTPS://edge.example"), Some("same-origin"), true),
            (Some(EDGE), Some("none"), true),
            (Some("http://edge.example"), None, false),
            (Some("https://edge.example:443"), None, false),
            (Some("https://edge.example:8443"), None, false),
            (Some("https://edge.example/"), None, false),
            (Some("https://edge.example.evil.com"), None, false),
            (Some("https://evil.com"), None, false),
            (Some("https://edge.exampl"), None, false),
            (Some("https://user@edge.example"), None, false),
            (Some("null"), None, false),
            (Some("null"), Some("same-origin"), false),
            (Some(""), Some("same-origin"), false),
            (Some("https://evil.com"), Some("same-origin"), false),
            // The headers disagree: neither is trusted.
            (Some(EDGE), Some("cross-site"), false),
            (Some(EDGE), Some("same-site"), false),
        ] {
            assert_eq!(
                is_same_origin(origin, site, EDGE),
                expected,
                "Origin {origin:?}, Sec-Fetch-Site {site:?}"
            );
        }
        assert!(is_same_origin(
            Some("http://127.0.0.1:8787"),
            None,
            "http://127.0.0.1:8787"
        ));
    }

    #[test]
    fn same_origin_by_sec_fetch_site_when_origin_is_absent() {
        assert!(is_same_origin(None, Some("same-origin"), EDGE));
        assert!(is_same_origin(None, Some("none"), EDGE));
        assert!(!is_same_origin(None, Some("same-site"), EDGE));
        assert!(!is_same_origin(None, Some("cross-site"), EDGE));
        assert!(!is_same_origin(None, Some(""), EDGE));
        assert!(!is_same_origin(None, None, EDGE), "neither header: closed");
    }

    const FORM: Option<&str> = Some("application/x-www-form-urlencoded");
    const JSON: Option<&str> = Some("application/json");

    #[test]
    fn parses_a_form_login() {
        let request = LoginRequest::parse(
            FORM,
            b"username=alice&password=p%C3%A4ss+word%26%3D&next=%2Fapp%3Fx%3D1",
        )
        .expect("valid form");
        assert_eq!(request.kind, LoginKind::Form);
        assert_eq!(request.username, "alice");
        assert_eq!(request.password.as_str(), "p\u{e4}ss word&=");
        assert_eq!(request.next, "/app?x=1");
        let debug = format!("{request:?}");
        assert!(
            !debug.contains("ss word"),
            "Debug leaks the password: {debug}"
        );
    }

    #[test]
    fn form_next_is_sanitized_and_defaults_to_root() {
        let parse = |body: &[u8]| LoginRequest::parse(FORM, body).expect("valid form").next;
        assert_eq!(parse(b"username=a&password=b"), "/");
        assert_eq!(parse(b"username=a&password=b&next=%2F%2Fevil.com"), "/");
        assert_eq!(
            parse(b"username=a&password=b&next=https%3A%2F%2Fevil.com"),
            "/"
        );
        assert_eq!(parse(b"username=a&password=b&next=%2F%255cevil.com"), "/");
        assert_eq!(parse(b"username=a&password=b&next="), "/");
    }

    #[test]
    fn parses_a_json_login() {
        for content_type in [
            "application/json",
            "Application/JSON; charset=UTF-8",
            "application/json;charset=\"utf-8\"",
        ] {
            let request = LoginRequest::parse(
                Some(content_type),
                br#"{"username":"bob@example.com","password":"s3cret \u00e9","remember":true}"#,
            )
            .expect(content_type);
            assert_eq!(request.kind, LoginKind::Json);
            assert_eq!(request.username, "bob@example.com");
            assert_eq!(request.password.as_str(), "s3cret \u{e9}");
            assert_eq!(request.next, "/");
        }
        let request = LoginRequest::parse(
            JSON,
            br#"{"username":" carol ","password":" pw ","next":"/x"}"#,
        )
        .expect("valid");
        assert_eq!(request.username, "carol", "username is trimmed");
        assert_eq!(request.password.as_str(), " pw ", "password is not");
        assert_eq!(request.next, "/", "JSON has no next");
    }

    #[test]
    fn refuses_bad_content_types_and_sizes() {
        let big = format!("username=a&password={}", "x".repeat(MAX_LOGIN_BODY_BYTES));
        assert_eq!(
            LoginRequest::parse(FORM, big.as_bytes()),
            Err(LoginError::TooLarge)
        );
        let body = b"username=a&password=b";
        for content_type in [
            None,
            Some("text/plain"),
            Some("multipart/form-data; boundary=x"),
            Some("application/x-www-form-urlencoded; charset=iso-8859-1"),
            Some("application/jsonx"),
            Some("application/json-patch+json"),
        ] {
            assert_eq!(
                LoginRequest::parse(content_type, body),
                Err(LoginError::UnsupportedMediaType),
                "{content_type:?}"
            );
        }
    }

    #[test]
    fn refuses_bad_form_bodies() {
        use LoginError::*;
        let long_user = format!("username={}&password=b", "u".repeat(MAX_USERNAME_BYTES + 1));
        let long_password = format!("username=a&password={}", "p".repeat(MAX_PASSWORD_BYTES + 1));
        let cases: [(LoginError, &[&str]); 7] = [
            (
                DuplicateField,
                &[
                    "username=a&username=b&password=c",
                    "username=a&password=b&password=c",
                    "username=a&password=b&next=%2F&next=%2Fx",
                    "username=a&user%6Eame=b&password=c",
                ],
            ),
            (
                Malformed("invalid percent-encoding"),
                &["username=a%zz&password=b", "username=a&password=%"],
            ),
            (
                Malformed("form field is not UTF-8"),
                &["username=a&password=%FF"],
            ),
            (MissingField("username"), &["password=b", ""]),
            (MissingField("password"), &["username=a"]),
            (
                InvalidUsername,
                &[
                    "username=&password=b",
                    "username=++&password=b",
                    "username=a%2Cadmin&password=b",
                    "username=a%0D%0AX-Auth-User:+admin&password=b",
                    "username=a+b&password=c",
                    "username=jos%C3%A9&password=c",
                    &long_user,
                ],
            ),
            (InvalidPassword, &["username=a&password=", &long_password]),
        ];
        for (expected, bodies) in cases {
            for body in bodies {
                assert_eq!(
                    LoginRequest::parse(FORM, body.as_bytes()),
                    Err(expected),
                    "{body}"
                );
            }
        }
        assert_eq!(
            LoginRequest::parse(FORM, b"username=a&password=\xff"),
            Err(Malformed("form field is not UTF-8")),
            "raw bytes must be UTF-8 too"
        );
    }

    #[test]
    fn refuses_bad_json_bodies() {
        use LoginError::*;
        let not_strings = Malformed("username and password must be strings");
        let cases: [(LoginError, &[&str]); 4] = [
            (
                DuplicateField,
                &[
                    r#"{"username":"a","password":"b","username":"c"}"#,
                    r#"{"username":"a","password":"b","\u0075sername":"c"}"#,
                    r#"{"username":"a","password":"b","x":{"y":1,"y":2}}"#,
                ],
            ),
            (
                Malformed("not a JSON object"),
                &[
                    r#"["a","b"]"#,
                    r#"{"username":"a""#,
                    "username=a&password=b",
                    "",
                ],
            ),
            (
                not_strings,
                &[
                    r#"{"username":"a","password":123}"#,
                    r#"{"username":null,"password":"b"}"#,
                    r#"{"username":["a"],"password":"b"}"#,
                ],
            ),
            (MissingField("password"), &[r#"{"username":"a"}"#]),
        ];
        for (expected, bodies) in cases {
            for body in bodies {
                assert_eq!(
                    LoginRequest::parse(JSON, body.as_bytes()),
                    Err(expected),
                    "{body}"
                );
            }
        }
    }
    #[test]
    fn form_ignores_unknown_and_empty_fields() {
        let request =
            LoginRequest::parse(FORM, b"&username=a&&submit=Sign+in&password=b&").expect("valid");
        assert_eq!(
            (request.username.as_str(), request.password.as_str()),
            ("a", "b")
        );
    }

    #[test]
    fn usernames_and_roles() {
        for good in [
            "alice",
            "a",
            "bob@example.com",
            "x_y-z.1~!",
            &"u".repeat(128),
        ] {
            assert!(is_valid_username(good), "{good:?}");
        }
        for bad in [
            "",
            "a b",
            "a,b",
            "a\tb",
            "jos\u{e9}",
            "a\r\nb",
            &"u".repeat(129),
        ] {
            assert!(!is_valid_username(bad), "{bad:?}");
        }
        assert!(is_valid_role("admin"));
        assert!(!is_valid_role("a,b"));
        assert!(!is_valid_role(""));
    }

    #[test]
    fn user_key_is_prefixed() {
        assert_eq!(user_key("alice"), "user:alice");
    }

    fn phc(password: &[u8]) -> String {
        native::hash(password, &[7u8; 16], password::MIN_ITERATIONS).to_phc()
    }

    #[test]
    fn parses_a_user_record() {
        let phc = phc(b"pw");
        let json = serde_json::json!({
            "password": phc, "roles": ["admin", "staff"], "disabled": false,
            "name": "Alice A.", "email": "alice@example.com", "updated": 12
        })
        .to_string();
        let record = UserRecord::parse(&json).expect("valid record");
        assert!(native::verify(b"pw", &record.password));
        assert_eq!(record.roles, ["admin", "staff"]);
        assert!(!record.disabled);
        assert_eq!(record.name.as_deref(), Some("Alice A."));
        assert_eq!(
            record.identity("alice"),
            Identity {
                sub: "alice".into(),
                roles: vec!["admin".into(), "staff".into()],
                name: Some("Alice A.".into()),
                email: Some("alice@example.com".into()),
            }
        );
        let minimal = format!(r#"{{"password":"{phc}","roles":[]}}"#);
        let record = UserRecord::parse(&minimal).expect("minimal record");
        assert!(!record.disabled && record.roles.is_empty() && record.name.is_none());
        let disabled = format!(r#"{{"password":"{phc}","roles":[],"disabled":true,"name":null}}"#);
        assert!(
            UserRecord::parse(&disabled)
                .expect("disabled record")
                .disabled
        );
    }

    #[test]
    fn refuses_bad_user_records() {
        let phc = phc(b"pw");
        for (expected, json) in [
            ("not a JSON object", "nope"),
            ("not a JSON object", "[]"),
            ("password is missing", r#"{"roles":[]}"#),
            ("password is not a string", r#"{"password":1,"roles":[]}"#),
            (
                "password is not a supported PHC string",
                r#"{"password":"hunter2","roles":[]}"#,
            ),
            (
                "password is not a supported PHC string",
                r#"{"password":"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA","roles":[]}"#,
            ),
        ] {
            assert_eq!(
                UserRecord::parse(json),
                Err(RecordError(expected)),
                "{json}"
            );
        }
        // The rest of a record after a valid password.
        let bad_role = "a role is not header-safe text without commas";
        for (expected, rest) in [
            ("roles is missing", "}"),
            ("roles is not an array", r#""roles":"admin"}"#),
            (bad_role, r#""roles":["a,admin"]}"#),
            (bad_role, r#""roles":["a\r\nX: y"]}"#),
            (bad_role, r#""roles":["a b"]}"#),
            (bad_role, r#""roles":[""]}"#),
            (bad_role, r#""roles":[1]}"#),
            ("a role is listed twice", r#""roles":["a","a"]}"#),
            (
                "disabled is not true or false",
                r#""roles":[],"disabled":"no"}"#,
            ),
            (
                "name is not a short string without control characters",
                r#""roles":[],"name":"a\nb"}"#,
            ),
            (
                "email is not a short string without control characters",
                r#""roles":[],"email":5}"#,
            ),
            (
                "duplicate member name",
                r#""roles":[],"disabled":true,"disabled":false}"#,
            ),
            (
                "duplicate member name",
                &format!(r#""password":"{phc}","roles":[]}}"#),
            ),
        ] {
            let json = format!(r#"{{"password":"{phc}",{rest}"#);
            let json = json.replace(",}", "}");
            assert_eq!(
                UserRecord::parse(&json),
                Err(RecordError(expected)),
                "{json}"
            );
        }
        let many: Vec<String> = (0..=MAX_ROLES).map(|i| format!("\"r{i}\"")).collect();
        let json = format!(r#"{{"password":"{phc}","roles":[{}]}}"#, many.join(","));
        assert_eq!(UserRecord::parse(&json), Err(RecordError("too many roles")));
    }
    #[test]
    fn parses_the_upstream_answer() {
        let identity = Identity::from_upstream(
            r#"{"sub":"u-42","roles":["reader"],"email":"x@y.z","extra":1}"#,
        )
        .expect("valid");
        assert_eq!(identity.sub, "u-42");
        assert_eq!(identity.roles, ["reader"]);
        assert_eq!(identity.email.as_deref(), Some("x@y.z"));
        assert_eq!(identity.name, None);
        for (case, json) in [
            ("empty", ""),
            ("not JSON", "<html>"),
            ("array", "[]"),
            ("no sub", r#"{"roles":[]}"#),
            ("empty sub", r#"{"sub":"","roles":[]}"#),
            ("sub not a string", r#"{"sub":42,"roles":[]}"#),
            (
                "sub with CRLF",
                r#"{"sub":"a\r\nX-Auth-Roles: admin","roles":[]}"#,
            ),
            ("sub with comma", r#"{"sub":"a,b","roles":[]}"#),
            ("no roles", r#"{"sub":"a"}"#),
            ("roles null", r#"{"sub":"a","roles":null}"#),
            ("bad role", r#"{"sub":"a","roles":["x,admin"]}"#),
            ("duplicate sub", r#"{"sub":"a","sub":"admin","roles":[]}"#),
            ("name not a string", r#"{"sub":"a","roles":[],"name":[]}"#),
        ] {
            assert!(Identity::from_upstream(json).is_err(), "{case}");
        }
        let huge = format!(
            r#"{{"sub":"a","roles":[],"pad":"{}"}}"#,
            "x".repeat(MAX_UPSTREAM_BODY_BYTES)
        );
        assert_eq!(
            Identity::from_upstream(&huge),
            Err(RecordError("upstream answer is too large"))
        );
    }

    #[test]
    fn decoy_is_a_full_cost_hash_nobody_can_match() {
        let decoy = decoy_hash();
        assert_eq!(decoy.iterations, password::ITERATIONS);
        assert_eq!(decoy.salt.len(), password::SALT_BYTES);
        assert_eq!(decoy.to_phc(), DECOY_PASSWORD_HASH);
        assert!(!native::verify(b"", &decoy));
        assert!(!native::verify(b"password", &decoy));
    }

    fn config() -> GatewayConfig {
        let key = SigningKey::from_seed(&mut [9u8; 32])
            .to_private_jwk()
            .to_string();
        GatewayConfig::from_lookup(|name| match name {
            "SIGNING_KEY" => Some(key.clone()),
            "ISSUER" => Some("https://edge.example".into()),
            "SESSION_TTL_SECS" => Some("900".into()),
            _ => None,
        })
        .expect("valid config")
    }

    const NOW: u64 = 1_800_000_000;

    #[test]
    fn new_sessions_verify_under_the_same_config() {
        let config = config();
        let identity = Identity {
            sub: "alice".into(),
            roles: vec!["admin".into()],
            name: Some("Alice".into()),
            email: None,
        };
        let claims = new_session_claims(&config, &identity, "sid-1".into(), NOW);
        assert_eq!(claims.iss, "https://edge.example");
        assert_eq!(claims.aud, vec![config.session.audience.clone()]);
        assert_eq!(
            (claims.iat, claims.auth_time, claims.exp),
            (NOW, NOW, NOW + 900)
        );
        assert_eq!(
            (claims.sub.as_str(), claims.sid.as_str()),
            ("alice", "sid-1")
        );
        assert_eq!(claims.roles, ["admin"]);
        assert_eq!(claims.name.as_deref(), Some("Alice"));
        let minted = token::mint(&claims, config.signing_key());
        let verified =
            token::verify(&minted, &config.keys, &config.session, NOW + 1).expect("verifies");
        assert_eq!(verified.claims(), &claims);
    }

    fn session(iat: u64, exp: u64, auth_time: u64) -> Claims {
        let mut extra = Map::new();
        extra.insert("tenant".into(), Value::from("t1"));
        Claims {
            iss: "i".into(),
            aud: vec!["a".into()],
            sub: "alice".into(),
            sid: "sid-1".into(),
            iat,
            exp,
            nbf: None,
            auth_time,
            roles: vec!["admin".into()],
            name: None,
            email: Some("a@b.c".into()),
            extra,
        }
    }

    const TTL: u64 = 3600;
    const MAX_AGE: u64 = 7 * 24 * 3600;

    #[test]
    fn renews_only_past_the_threshold() {
        let claims = session(NOW, NOW + TTL, NOW - 100);
        let halfway = NOW + TTL / 2;
        assert_eq!(renewal(&claims, NOW, 0.5, TTL, MAX_AGE), None, "fresh");
        assert_eq!(
            renewal(&claims, halfway - 1, 0.5, TTL, MAX_AGE),
            None,
            "just before"
        );
        assert_eq!(
            renewal(&claims, halfway, 0.5, TTL, MAX_AGE),
            None,
            "exactly at"
        );
        let renewed = renewal(&claims, halfway + 1, 0.5, TTL, MAX_AGE).expect("just after");
        assert_eq!(renewed.iat, halfway + 1);
        assert_eq!(renewed.exp, halfway + 1 + TTL);
        let mut expected = claims.clone();
        expected.iat = renewed.iat;
        expected.exp = renewed.exp;
        assert_eq!(
            renewed, expected,
            "everything else is kept: sid, auth_time, roles, extras"
        );
        assert_eq!(
            renewal(&claims, NOW + TTL, 0.5, TTL, MAX_AGE),
            None,
            "expired"
        );
    }

    #[test]
    fn renewal_stops_at_the_absolute_age_cap() {
        // The cap (NOW + 3000) falls between the current exp and now + ttl.
        let auth_time = NOW - MAX_AGE + 3000;
        let claims = session(NOW - 2000, NOW + 1600, auth_time);
        let renewed = renewal(&claims, NOW, 0.5, TTL, MAX_AGE).expect("cap is later than exp");
        assert_eq!(renewed.exp, auth_time + MAX_AGE, "capped, not now + ttl");
        assert_eq!(renewed.auth_time, auth_time);
        // Already at the cap: renewing would gain nothing.
        let at_cap = session(NOW - 4000, auth_time + MAX_AGE, auth_time);
        assert_eq!(renewal(&at_cap, NOW, 0.5, TTL, MAX_AGE), None);
    }

    #[test]
    fn renewal_refuses_nonsense_fractions() {
        let claims = session(NOW, NOW + TTL, NOW);
        for fraction in [f64::NAN, -0.1, 1.5] {
            assert_eq!(
                renewal(&claims, NOW + TTL - 1, fraction, TTL, MAX_AGE),
                None
            );
        }
        assert!(renewal(&claims, NOW + 1, 0.0, TTL, MAX_AGE).is_some());
        assert_eq!(renewal(&claims, NOW + TTL - 1, 1.0, TTL, MAX_AGE), None);
    }
}
