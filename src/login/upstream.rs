//! An upstream user store (`USER_STORE=upstream`): an HTTP endpoint the edge posts the
//! credentials to, whose `200` answer is the identity. Everything else is a failed login.

use std::borrow::Cow;

use crate::config::{ConfigError, Vars};
use crate::encoding::http_url::HttpUrl;
use crate::login::request::LoginRequest;
use crate::login::{
    is_valid_username, object, profile_text, roles, Identity, RecordError, Verdict,
};
use serde_json::Value;
use zeroize::Zeroizing;

/// Largest upstream user store answer accepted, in bytes (16 KiB).
pub const MAX_UPSTREAM_BODY_BYTES: usize = 16 * 1024;
/// Default time the upstream user store has to answer, in milliseconds.
pub const DEFAULT_TIMEOUT_MS: u64 = 5_000;

/// Where the upstream store is (`UPSTREAM_AUTH_URL`, `UPSTREAM_TIMEOUT_MS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The endpoint, an http(s) URL without credentials or fragment.
    pub url: String,
    /// How long it has to answer.
    pub timeout_ms: u64,
}

impl Settings {
    /// `UPSTREAM_AUTH_URL` (required) and `UPSTREAM_TIMEOUT_MS`.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let url = vars.get("UPSTREAM_AUTH_URL").ok_or_else(|| {
            ConfigError("USER_STORE is upstream but UPSTREAM_AUTH_URL is not set".into())
        })?;
        let url = HttpUrl::parse(&url)
            .ok()
            .filter(|u| !u.has_credentials())
            .ok_or_else(|| ConfigError("UPSTREAM_AUTH_URL is not an http(s) URL".into()))?;
        Ok(Settings {
            url: url.without_fragment(),
            timeout_ms: vars.number("UPSTREAM_TIMEOUT_MS", DEFAULT_TIMEOUT_MS, 100..=60_000)?,
        })
    }
}

/// The body posted to the store: `{"username", "password"}` (wiped on drop).
pub fn request_body(request: &LoginRequest) -> Zeroizing<String> {
    Zeroizing::new(
        serde_json::json!({
            "username": request.username,
            "password": request.password.as_str(),
        })
        .to_string(),
    )
}

/// The verdict on the store's answer: `200` with a valid identity authenticates; a redirect
/// (never followed: the password would go wherever it points), another status or a bad body
/// refuses.
pub fn verdict(status: u16, body: &str) -> Verdict {
    match status {
        200 => match identity(body) {
            Ok(identity) => Verdict::Authenticated(identity),
            Err(e) => Verdict::Refused(Cow::Owned(format!("upstream_bad_answer:{}", e.0))),
        },
        300..=399 => Verdict::Refused(Cow::Owned(format!("upstream_redirect_refused:{status}"))),
        _ => Verdict::Refused(Cow::Owned(format!("upstream_status:{status}"))),
    }
}

/// Parses the upstream store's `200` JSON answer `{"sub", "roles", "name"?, "email"?}`.
///
/// Anything else is an error and the login fails closed: more than
/// [`MAX_UPSTREAM_BODY_BYTES`], not one JSON object, duplicate member names, a `sub` that
/// is not a valid username (it becomes `X-Auth-User`), missing or invalid `roles`, or bad
/// `name`/`email` (same rules as [`crate::login::kv_passwords::UserRecord::parse`]). Unknown members are ignored.
pub fn identity(json: &str) -> Result<Identity, RecordError> {
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
        provider: None,
        amr: crate::login::AMR_PASSWORD,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_upstream_answer() {
        let parsed = identity(r#"{"sub":"u-42","roles":["reader"],"email":"x@y.z","extra":1}"#)
            .expect("valid");
        assert_eq!(parsed.sub, "u-42");
        assert_eq!(parsed.roles, ["reader"]);
        assert_eq!(parsed.email.as_deref(), Some("x@y.z"));
        assert_eq!(parsed.name, None);
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
            assert!(identity(json).is_err(), "{case}");
        }
        let huge = format!(
            r#"{{"sub":"a","roles":[],"pad":"{}"}}"#,
            "x".repeat(MAX_UPSTREAM_BODY_BYTES)
        );
        assert_eq!(
            identity(&huge),
            Err(RecordError("upstream answer is too large"))
        );
    }

    #[test]
    fn only_a_200_with_an_identity_authenticates() {
        let good = r#"{"sub":"u-42","roles":["reader"]}"#;
        assert!(matches!(verdict(200, good), Verdict::Authenticated(i) if i.sub == "u-42"));
        for (status, body, reason) in [
            (200, "{}", "upstream_bad_answer:sub is missing"),
            (302, good, "upstream_redirect_refused:302"),
            (401, good, "upstream_status:401"),
            (500, good, "upstream_status:500"),
        ] {
            assert!(
                matches!(verdict(status, body), Verdict::Refused(r) if r == reason),
                "{status}"
            );
        }
    }
}
