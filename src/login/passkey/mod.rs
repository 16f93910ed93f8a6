//! Passkeys (WebAuthn Level 2 relying party), storeless except for the credentials themselves:
//! what the edge reads and decides. The adapter (`adapter/login/passkey.rs`,
//! `adapter/auth/passkeys.rs`) reads and writes Workers KV and checks signatures with WebCrypto.
//!
//! - [`Settings`]: the relying party (`PASSKEY_RP_ID`, `PASSKEY_ORIGINS`, …), validated at load.
//! - [`client_data`]: `clientDataJSON` (type, challenge, origin).
//! - [`authenticator_data`]: the authenticator's bytes (RP ID hash, flags, counter, new key).
//! - [`cose`]: a credential public key (COSE, parsed by `coset`) as the JWK WebCrypto imports.
//! - [`ceremony`]: registration and sign-in, each step of WebAuthn §7.1 / §7.2.
//! - [`challenge`]: a ceremony in flight, sealed in a short-lived cookie instead of a store.
//! - [`enrollment`]: the one-time link an operator mints for a user's first passkey.
//! - [`credential`]: what Workers KV keeps per credential and per user, and under which keys.
//! - [`request`] and [`options`]: the routes' JSON bodies in, the browser's options out.

pub mod authenticator_data;
pub mod ceremony;
pub mod challenge;
pub mod client_data;
pub mod cose;
pub mod credential;
pub mod enrollment;
pub mod options;
pub mod request;

use std::fmt;

use crate::config::{ConfigError, Vars};
use crate::encoding::http_url::HttpUrl;

/// A passkey check that failed: a stable `passkey:<code>` reason for the audit log. The
/// client only ever sees the generic refusal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasskeyError(pub &'static str);

impl fmt::Display for PasskeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "passkey:{}", self.0)
    }
}

/// Whether the authenticator must verify the user (PIN, biometrics), not only see them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserVerification {
    /// The UV flag must be set (the default): a passkey alone is then two factors.
    Required,
    /// Asked for, not required: a security key without a PIN may sign in.
    Preferred,
}

impl UserVerification {
    /// The WebAuthn option value.
    pub fn as_str(self) -> &'static str {
        match self {
            UserVerification::Required => "required",
            UserVerification::Preferred => "preferred",
        }
    }
}

/// The relying party.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The RP ID (`PASSKEY_RP_ID`): the edge's host, or a registrable parent of it. Credentials
    /// are bound to it: changing it later orphans every passkey.
    pub rp_id: String,
    /// Display name shown by the browser (`PASSKEY_RP_NAME`, default `edgeauth`).
    pub rp_name: String,
    /// Origins a ceremony may come from, exact (`PASSKEY_ORIGINS`, comma-separated; default
    /// `https://<rp_id>`). Each one's host is the RP ID or below it. For local development
    /// only, `http://localhost:*` allows any port of `http://localhost`.
    pub origins: Vec<String>,
    /// `PASSKEY_USER_VERIFICATION`: `required` (default) or `preferred`.
    pub user_verification: UserVerification,
}

/// How long a ceremony may take in the browser, in seconds.
pub const CHALLENGE_TTL_SECS: u64 = 300;
/// Largest JSON body a passkey route accepts (a registration with an RSA key is ~1.5 KB).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
/// Most passkeys one user may hold.
pub const MAX_PER_USER: usize = 20;
/// Longest name a user may give a passkey, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// How recent a session's login must be to add or remove a passkey, in seconds: a stolen or
/// long-lived session cannot turn itself into a lasting credential without a fresh login.
pub const RECENT_LOGIN_SECS: u64 = 600;

/// Whether a session may add or remove passkeys: it came in the session cookie, its login is
/// at most [`RECENT_LOGIN_SECS`] old, and it was won with a password or a passkey (`amr`), not
/// through an identity provider (`idp`): a provider's user whose subject happens to equal a
/// local username must not gain a passkey that signs in as that local user.
pub fn may_change_passkeys(
    from_cookie: bool,
    claims: &crate::token::claims::Claims,
    now: u64,
) -> Result<(), PasskeyError> {
    if !from_cookie {
        return Err(PasskeyError("not_a_browser_session"));
    }
    if now.saturating_sub(claims.auth_time) > RECENT_LOGIN_SECS {
        return Err(PasskeyError("login_not_recent"));
    }
    let local_login = claims
        .extra
        .get("amr")
        .and_then(|amr| amr.as_array())
        .is_some_and(|amr| amr.iter().any(|m| m == "pwd" || m == "hwk"));
    if claims.extra.contains_key("idp") || !local_login {
        return Err(PasskeyError("not_vouched_for"));
    }
    Ok(())
}

impl Settings {
    /// Reads the relying party; `None` when `PASSKEY_RP_ID` is unset (passkeys off).
    pub fn from_vars(vars: &Vars) -> Result<Option<Settings>, ConfigError> {
        let Some(rp_id) = vars.get("PASSKEY_RP_ID") else {
            return Ok(None);
        };
        if !is_host_name(&rp_id) {
            return Err(ConfigError(format!(
                "PASSKEY_RP_ID: {rp_id:?} is not a lowercase host name (no scheme, port or path)"
            )));
        }
        let mut origins = vars.list("PASSKEY_ORIGINS");
        if origins.is_empty() {
            origins.push(format!("https://{rp_id}"));
        }
        for origin in &origins {
            check_origin(origin, &rp_id)?;
        }
        let user_verification = match vars.get("PASSKEY_USER_VERIFICATION") {
            None => UserVerification::Required,
            Some(_) => vars.choice(
                "PASSKEY_USER_VERIFICATION",
                &[
                    ("required", UserVerification::Required),
                    ("preferred", UserVerification::Preferred),
                ],
            )?,
        };
        let rp_name = vars.text("PASSKEY_RP_NAME", "edgeauth");
        if rp_name.is_empty() || rp_name.len() > 64 || rp_name.chars().any(char::is_control) {
            return Err(ConfigError(
                "PASSKEY_RP_NAME must be 1 to 64 bytes without control characters".into(),
            ));
        }
        Ok(Some(Settings {
            rp_id,
            rp_name,
            origins,
            user_verification,
        }))
    }

    /// Whether a ceremony from `origin` (the client data's, as the browser serialized it) is
    /// allowed: one of [`Self::origins`] exactly, or a port of a loopback wildcard.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.origins
            .iter()
            .any(|allowed| match allowed.strip_suffix(":*") {
                Some(base) => {
                    origin == base
                        || origin
                            .strip_prefix(base)
                            .and_then(|p| p.strip_prefix(':'))
                            .is_some_and(|port| {
                                (1..=5).contains(&port.len())
                                    && port.bytes().all(|b| b.is_ascii_digit())
                                    && !port.starts_with('0')
                            })
                }
                None => allowed == origin,
            })
    }

    /// Whether the UV flag is required.
    pub fn requires_user_verification(&self) -> bool {
        self.user_verification == UserVerification::Required
    }
}

fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

/// An allowed origin: exactly `scheme://host[:port]` (as browsers serialize it), HTTPS or
/// loopback HTTP, whose host is the RP ID or a subdomain of it (WebAuthn §5.1.3 step 8).
fn check_origin(origin: &str, rp_id: &str) -> Result<(), ConfigError> {
    let refuse = |why: &str| ConfigError(format!("PASSKEY_ORIGINS: {origin:?} {why}"));
    if let Some(base) = origin.strip_suffix(":*") {
        return if base == "http://localhost" && rp_id == "localhost" {
            Ok(())
        } else {
            Err(refuse(
                "has a wildcard port, which only http://localhost:* may (local development)",
            ))
        };
    }
    let url = HttpUrl::parse(origin).map_err(|_| refuse("is not an http(s) origin"))?;
    if url.origin() != origin {
        return Err(refuse(
            "is not an origin as a browser writes it (scheme://host[:port], lowercase, no path)",
        ));
    }
    if !url.is_secure_or_loopback() {
        return Err(refuse("must be https (http only for loopback)"));
    }
    let host = url.host();
    let under_rp_id = host == rp_id
        || host
            .strip_suffix(rp_id)
            .is_some_and(|prefix| prefix.ends_with('.'));
    if !under_rp_id {
        return Err(refuse("is not the RP ID or a subdomain of it"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(vars: &[(&str, &str)]) -> Result<Option<Settings>, ConfigError> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(&Vars::new(move |name| {
            vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
        }))
    }

    #[test]
    fn passkeys_are_off_without_an_rp_id_and_default_to_its_https_origin() {
        assert_eq!(settings(&[]), Ok(None));
        let on = settings(&[("PASSKEY_RP_ID", "example.com")])
            .expect("valid")
            .expect("on");
        assert_eq!(on.origins, ["https://example.com"]);
        assert_eq!(on.user_verification, UserVerification::Required);
        assert_eq!(on.rp_name, "edgeauth");
    }

    #[test]
    fn origins_must_sit_under_the_rp_id_exactly() {
        let with = |origins: &str| {
            settings(&[
                ("PASSKEY_RP_ID", "example.com"),
                ("PASSKEY_ORIGINS", origins),
            ])
        };
        assert!(with("https://example.com,https://app.example.com").is_ok());
        for bad in [
            "https://evilexample.com",
            "https://example.com.evil.net",
            "http://example.com",
            "https://example.com/",
            "https://example.com/login",
            "https://EXAMPLE.com",
            "example.com",
        ] {
            assert!(with(bad).is_err(), "{bad}");
        }
        let local = settings(&[
            ("PASSKEY_RP_ID", "localhost"),
            ("PASSKEY_ORIGINS", "http://localhost:8787"),
        ]);
        assert!(local.is_ok());
        assert!(
            with("https://example.com:*").is_err(),
            "wildcards are for localhost only"
        );
    }

    #[test]
    fn a_loopback_wildcard_allows_ports_of_localhost_only() {
        let local = settings(&[
            ("PASSKEY_RP_ID", "localhost"),
            ("PASSKEY_ORIGINS", "http://localhost:*"),
        ])
        .expect("valid")
        .expect("on");
        for ok in [
            "http://localhost:8787",
            "http://localhost",
            "http://localhost:1",
        ] {
            assert!(local.allows_origin(ok), "{ok}");
        }
        for bad in [
            "http://localhost:",
            "http://localhost:08787",
            "http://localhost:123456",
            "http://localhost:80x",
            "http://localhost.evil.net",
            "http://localhostx:80",
            "https://localhost:8787",
            "http://127.0.0.1:8787",
        ] {
            assert!(!local.allows_origin(bad), "{bad}");
        }
    }

    #[test]
    fn an_rp_id_is_a_bare_host_name() {
        for bad in [
            "https://example.com",
            "example.com:443",
            "Example.com",
            "example.com/",
            "exa mple.com",
        ] {
            assert!(settings(&[("PASSKEY_RP_ID", bad)]).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn only_a_recent_local_browser_login_changes_passkeys() {
        use crate::token::claims::Claims;
        let now = 1_800_000_000;
        let claims = |auth_time: u64, extra: serde_json::Value| Claims {
            iss: "i".into(),
            aud: vec!["a".into()],
            sub: "alice".into(),
            sid: "s".into(),
            iat: now,
            exp: now + 60,
            nbf: None,
            auth_time,
            roles: vec![],
            name: None,
            email: None,
            extra: extra.as_object().cloned().unwrap_or_default(),
        };
        let pwd = serde_json::json!({"amr": ["pwd"]});
        let ok = claims(now - RECENT_LOGIN_SECS, pwd.clone());
        assert_eq!(may_change_passkeys(true, &ok, now), Ok(()));
        let passkey = claims(now, serde_json::json!({"amr": ["hwk", "mfa"]}));
        assert_eq!(may_change_passkeys(true, &passkey, now), Ok(()));
        assert_eq!(
            may_change_passkeys(true, &claims(now - RECENT_LOGIN_SECS - 1, pwd), now),
            Err(PasskeyError("login_not_recent"))
        );
        assert_eq!(
            may_change_passkeys(false, &ok, now),
            Err(PasskeyError("not_a_browser_session"))
        );
        for not_local in [
            serde_json::json!({"amr": ["fed"], "idp": "corp"}),
            serde_json::json!({"amr": ["pwd"], "idp": "corp"}),
            serde_json::json!({}),
        ] {
            assert_eq!(
                may_change_passkeys(true, &claims(now, not_local.clone()), now),
                Err(PasskeyError("not_vouched_for")),
                "{not_local}"
            );
        }
    }

    #[test]
    fn user_verification_is_required_or_preferred() {
        let uv = |v: &str| {
            settings(&[
                ("PASSKEY_RP_ID", "example.com"),
                ("PASSKEY_USER_VERIFICATION", v),
            ])
        };
        assert_eq!(
            uv("preferred").map(|s| s.map(|s| s.user_verification)),
            Ok(Some(UserVerification::Preferred))
        );
        assert!(uv("discouraged").is_err());
    }
}
