//! The handoff: how a login at the auth host becomes a session of one app ([`crate::apps`]),
//! with no store but a one-time marker.
//!
//! 1. An app asked for a page without a session sends the browser to its own `/auth/login`. That
//!    sets a `__Host-` cookie holding a random nonce and redirects to the auth host's
//!    `/auth/handoff?app=<host>&state=<SHA-256 of the nonce>&next=<path>`.
//! 2. The auth host, once the browser has a session there (logging in first if need be), seals a
//!    handoff for that app and host alone, valid [`TTL_SECS`], and redirects to the app's
//!    `/auth/handoff?token=…`. The app list is the redirect allowlist: no other host gets one.
//! 3. The app opens it: our seal, its own id and host, not expired, and the state matching the
//!    nonce cookie (so a handoff obtained elsewhere, or leaked from a URL, signs no other browser
//!    in); then the adapter checks that the auth host's session is not revoked and claims the
//!    handoff's `jti` (`SINGLE_USE`), and mints the app's own session ([`app_session_claims`]),
//!    tied to the auth host's by [`SIGN_ON_CLAIM`] so that ending that one ends this one too.

use crate::apps::{AppLink, Host};
use crate::config::GatewayConfig;
use crate::encoding::base64url;
use crate::gateway::rules::MIN_AUTH_AGE_SECS;
use crate::login::next::encode_component;
use crate::login::LOGIN_TIME_CLAIM;
use crate::token::claims::{Claims, VerifiedClaims};
use crate::token::seal::{self, Sealed};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The route on both sides: the auth host issues handoffs there, an app redeems them there.
pub const PATH: &str = "/auth/handoff";
/// How long a handoff may take from the auth host to the app, in seconds.
pub const TTL_SECS: u64 = 60;
/// The app's cookie holding the nonce its handoff must match.
pub const NONCE_COOKIE: &str = "__Host-edgeauth-handoff";
/// How long the nonce cookie lives: a login at the auth host may take this long.
pub const NONCE_COOKIE_MAX_AGE_SECS: u64 = 600;
/// The claim of an app session naming the auth host's session (`sid`) it came from: revoking
/// that `sid` (a logout at the auth host, or "log out of every app") refuses this one too.
pub const SIGN_ON_CLAIM: &str = "psid";
/// How recent the auth host's login must be for a handoff asking for a fresh one (`reauth`):
/// the least age a rule may require, so the app's rule is met when the browser arrives.
pub const FRESH_LOGIN_SECS: u64 = MIN_AUTH_AGE_SECS;
/// Largest sealed handoff accepted, in bytes.
pub const MAX_SEALED_BYTES: usize = 8192;
/// The seal's domain ([`crate::token::seal`]).
const DOMAIN: &str = "edgeauth handoff-v1.";

/// Random bytes of a nonce, and of a handoff's `jti`.
pub type Entropy = [u8; 32];

/// A nonce for the app's cookie (base64url of 32 random bytes).
pub fn new_nonce(entropy: &Entropy) -> String {
    base64url::encode(entropy)
}

/// Whether `value` is a nonce of ours (so a cookie holding anything else is replaced).
pub fn is_nonce(value: &str) -> bool {
    value.len() == 43
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The state the auth host carries for `nonce`: its SHA-256, so neither the URL nor the handoff
/// reveals the nonce.
pub fn state_of(nonce: &str) -> String {
    base64url::encode(&Sha256::digest(nonce.as_bytes()))
}

/// Where an app sends a browser to sign on: the auth host's handoff route (protocol-relative:
/// the scheme it was reached by), asking for `app_host`, with `state`, then `next` (already
/// safe) on the app; `reauth` asks for a fresh login.
pub fn start_location(
    auth_host: &Host,
    app_host: &Host,
    state: &str,
    next: &str,
    reauth: bool,
) -> String {
    format!(
        "//{}{PATH}?app={}&state={state}&next={}{}",
        auth_host.authority(),
        encode_component(&app_host.authority()),
        encode_component(next),
        if reauth { "&reauth=1" } else { "" }
    )
}

/// Where the auth host sends the browser with a sealed handoff: the app's handoff route.
pub fn redeem_location(app_host: &Host, sealed: &str) -> String {
    format!("//{}{PATH}?token={sealed}", app_host.authority())
}

/// Whether the auth host's session `session` logged in recently enough for a handoff that asks
/// for a fresh login.
pub fn login_is_fresh(session: &VerifiedClaims, now: u64) -> bool {
    session
        .claims()
        .extra
        .get(LOGIN_TIME_CLAIM)
        .and_then(serde_json::Value::as_u64)
        .is_some_and(|at| at.saturating_add(FRESH_LOGIN_SECS) >= now)
}

/// A handoff in flight, sealed by the auth host for one app.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Handoff {
    /// The app's id.
    pub app: String,
    /// The app's host as the browser named it (`name[:port]`).
    pub host: String,
    /// The app's state ([`state_of`] its nonce).
    pub state: String,
    /// Where to go on the app (already safe).
    pub next: String,
    /// One-time id (base64url of 32 random bytes), claimed on use.
    pub jti: String,
    /// Expiry, Unix seconds.
    pub exp: u64,
    /// The auth host's session.
    pub session: Claims,
}

/// Why a handoff is refused (all answered alike: signing in did not complete).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HandoffError(pub &'static str);

impl Handoff {
    /// A handoff of `session` (the auth host's, verified) to `app` on `host`, at `now`.
    pub fn new(
        app: &str,
        host: &Host,
        state: String,
        next: String,
        jti: &Entropy,
        session: &VerifiedClaims,
        now: u64,
    ) -> Result<Self, HandoffError> {
        if !session.is_session() {
            return Err(HandoffError("not_a_session"));
        }
        Ok(Handoff {
            app: app.to_owned(),
            host: host.authority(),
            state,
            next,
            jti: base64url::encode(jti),
            exp: now.saturating_add(TTL_SECS).min(session.claims().exp),
            session: session.claims().clone(),
        })
    }

    /// What to sign to seal it.
    pub fn to_seal(&self) -> crate::token::ToSign {
        // Serializing strings, numbers and claims cannot fail; an empty payload never opens.
        seal::to_seal(DOMAIN, &serde_json::to_vec(self).unwrap_or_default())
    }

    /// The sealed form, sealed here (host builds).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn seal(&self, key: &crate::token::keys::SigningKey) -> String {
        seal::seal(DOMAIN, &serde_json::to_vec(self).unwrap_or_default(), key)
    }
}

/// A handoff as received by an app, its seal not checked yet.
#[derive(Debug)]
pub struct SealedHandoff(Sealed);

/// An opened handoff: the auth host's session (verified: our seal covers it) and where to go.
#[derive(Debug, Clone)]
pub struct Opened {
    /// The auth host's session.
    pub session: VerifiedClaims,
    /// Where to go on the app.
    pub next: String,
}

impl SealedHandoff {
    /// Splits and decodes the `token` parameter.
    pub fn parse(value: &str) -> Result<Self, HandoffError> {
        Sealed::parse(DOMAIN, value, MAX_SEALED_BYTES)
            .map(SealedHandoff)
            .map_err(|e| HandoffError(e.reason()))
    }

    /// The bytes the seal signs.
    pub fn signing_input(&self) -> &[u8] {
        self.0.signing_input()
    }

    /// The seal: an Ed25519 signature by the edge's signing key.
    pub fn signature(&self) -> &[u8; 64] {
        self.0.signature()
    }

    /// Opens the handoff once the seal verified under our signing key (`sealed_by_us`), for the
    /// app `link` reached at `host`, at `now`: a genuine handoff for here, whose `jti` the caller
    /// claims next, before [`Genuine::bind`] checks the browser. So the first presentation of a
    /// genuine handoff uses it up, whichever browser makes it: one started by an attacker and
    /// completed by a victim's browser (whose nonce does not match) is gone before the attacker
    /// can present it with theirs.
    pub fn open(
        self,
        sealed_by_us: bool,
        link: &AppLink,
        host: &Host,
        now: u64,
    ) -> Result<Genuine, HandoffError> {
        let payload = self.0.open(sealed_by_us).ok_or(HandoffError("bad_seal"))?;
        let handoff: Handoff =
            serde_json::from_slice(&payload).map_err(|_| HandoffError("payload"))?;
        if handoff.app != link.id {
            return Err(HandoffError("other_app"));
        }
        if handoff.host != host.authority() {
            return Err(HandoffError("other_host"));
        }
        if now >= handoff.exp || handoff.exp > now.saturating_add(TTL_SECS) {
            return Err(HandoffError("expired"));
        }
        Ok(Genuine(handoff))
    }
}

/// A genuine handoff for this app and host, not yet tied to the browser presenting it.
#[derive(Debug)]
pub struct Genuine(Handoff);

impl Genuine {
    /// The one-time id to claim before [`Genuine::bind`].
    pub fn jti(&self) -> &str {
        &self.0.jti
    }

    /// Expiry, Unix seconds: how long the one-time marker must be kept.
    pub fn exp(&self) -> u64 {
        self.0.exp
    }

    /// The handoff for the browser whose nonce cookie holds `nonce`, at `now`: refused unless
    /// the state it carries is that nonce's.
    pub fn bind(self, nonce: Option<&str>, now: u64) -> Result<Opened, HandoffError> {
        let handoff = self.0;
        let nonce = nonce
            .filter(|n| is_nonce(n))
            .ok_or(HandoffError("no_nonce"))?;
        if !bool::from(state_of(nonce).as_bytes().ct_eq(handoff.state.as_bytes())) {
            return Err(HandoffError("state_mismatch"));
        }
        if now >= handoff.session.exp {
            return Err(HandoffError("session_expired"));
        }
        Ok(Opened {
            session: VerifiedClaims::new(handoff.session, String::new()),
            next: crate::login::next::safe_next(Some(&handoff.next)),
        })
    }
}

/// The claims of the app session minted from the auth host's `session` at `now`: the same user,
/// roles, login and provider claims, for this app's issuer and audience, with a fresh `sid`, a
/// lifetime of this app's, bounded by the login's maximum age as any session, and
/// [`SIGN_ON_CLAIM`] naming the sign-on: the auth host's session's own, else its `sid`.
pub fn app_session_claims(
    config: &GatewayConfig,
    session: &VerifiedClaims,
    sid: String,
    now: u64,
) -> Claims {
    let central = session.claims();
    let mut claims = central.clone();
    claims.iss = config.session.issuer.clone();
    claims.aud = vec![config.session.audience.clone()];
    claims.sid = sid;
    claims.iat = now;
    claims.nbf = None;
    claims.exp = now.saturating_add(config.sessions.ttl_secs).min(
        central
            .auth_time
            .saturating_add(config.session.max_session_age_secs),
    );
    // The sign-on the auth host's session belongs to (the same across re-logins there), else
    // that session itself.
    let sign_on = central
        .extra
        .get(SIGN_ON_CLAIM)
        .and_then(serde_json::Value::as_str)
        .unwrap_or(&central.sid)
        .to_owned();
    claims.extra.insert(SIGN_ON_CLAIM.into(), sign_on.into());
    claims
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::{Deployment, Site};
    use crate::gateway::revocation::{RevocationList, Revoked};
    use crate::token::keys::SigningKey;
    use std::collections::HashMap;

    const NOW: u64 = 1_800_000_000;

    fn key() -> SigningKey {
        SigningKey::from_seed(&mut [6u8; 32])
    }

    fn deployment() -> Deployment {
        let mut vars: HashMap<String, String> = HashMap::new();
        vars.insert("SIGNING_KEY".into(), key().to_private_jwk().to_string());
        vars.insert("AUTH_HOST".into(), "auth.example.com".into());
        vars.insert(
            "APPS".into(),
            r#"[{"id": "wiki", "hosts": ["wiki.example.com"], "origin": "http://127.0.0.1:9001"},
                {"id": "tools", "hosts": ["tools.example.com"], "origin": "http://127.0.0.1:9002"}]"#
                .into(),
        );
        Deployment::from_lookup(|name| vars.get(name).cloned()).expect("valid")
    }

    fn app<'d>(deployment: &'d Deployment, host: &str) -> &'d GatewayConfig {
        match deployment.site(Some(host)).expect("host") {
            Site::App(app) => &app.config,
            _ => panic!("{host} is no app"),
        }
    }

    /// The auth host's session, as its verifier would hand it over.
    fn central(deployment: &Deployment, login_time: u64) -> VerifiedClaims {
        let config = &deployment.base;
        let mut claims = Claims {
            iss: config.session.issuer.clone(),
            aud: vec![config.session.audience.clone()],
            sub: "alice".into(),
            sid: "central-session-id-0001".into(),
            iat: NOW - 100,
            exp: NOW + 3000,
            nbf: None,
            auth_time: NOW - 100,
            roles: vec!["user".into()],
            name: None,
            email: Some("alice@example.com".into()),
            extra: Default::default(),
        };
        claims
            .extra
            .insert("amr".into(), serde_json::json!(["pwd"]));
        claims
            .extra
            .insert(LOGIN_TIME_CLAIM.into(), login_time.into());
        let token = crate::token::mint(&claims, config.signing_key());
        crate::token::verify(&token, &config.keys, &config.session, NOW).expect("verifies")
    }

    fn nonce() -> String {
        new_nonce(&[7u8; 32])
    }

    fn sealed_for(deployment: &Deployment, host: &str, state: String) -> String {
        let host = Host::parse(Some(host)).expect("host");
        Handoff::new(
            "wiki",
            &host,
            state,
            "/docs?page=2".into(),
            &[8u8; 32],
            &central(deployment, NOW - 100),
            NOW,
        )
        .expect("a session")
        .seal(&key())
    }

    fn open(
        deployment: &Deployment,
        value: &str,
        at_host: &str,
        nonce: Option<&str>,
        now: u64,
    ) -> Result<Opened, HandoffError> {
        let config = app(deployment, at_host);
        let link = config.app.as_ref().expect("link");
        let sealed = SealedHandoff::parse(value)?;
        let ours = key()
            .verifying_key()
            .verify(sealed.signing_input(), sealed.signature())
            .is_ok();
        let genuine = sealed.open(ours, link, &Host::parse(Some(at_host)).expect("host"), now)?;
        assert_eq!(genuine.jti(), base64url::encode(&[8u8; 32]));
        genuine.bind(nonce, now)
    }

    #[test]
    fn a_handoff_opens_once_for_its_app_host_and_browser() {
        let deployment = deployment();
        let nonce = nonce();
        let sealed = sealed_for(&deployment, "wiki.example.com", state_of(&nonce));
        let opened = open(
            &deployment,
            &sealed,
            "wiki.example.com",
            Some(&nonce),
            NOW + 1,
        )
        .expect("opens");
        assert_eq!(opened.session.claims().sub, "alice");
        assert_eq!(opened.next, "/docs?page=2");
    }

    #[test]
    fn a_handoff_for_another_app_host_browser_or_time_is_refused() {
        let deployment = deployment();
        let nonce = nonce();
        let sealed = sealed_for(&deployment, "wiki.example.com", state_of(&nonce));
        let other_nonce = new_nonce(&[9u8; 32]);
        let refused = |value: &str, host: &str, nonce: Option<&str>, now: u64| {
            open(&deployment, value, host, nonce, now)
                .expect_err("refused")
                .0
        };
        assert_eq!(
            refused(&sealed, "tools.example.com", Some(&nonce), NOW),
            "other_app"
        );
        assert_eq!(refused(&sealed, "wiki.example.com", None, NOW), "no_nonce");
        assert_eq!(
            refused(&sealed, "wiki.example.com", Some("short"), NOW),
            "no_nonce"
        );
        assert_eq!(
            refused(&sealed, "wiki.example.com", Some(&other_nonce), NOW),
            "state_mismatch"
        );
        // The state is the nonce's hash: the nonce itself, or the state, as the cookie fails.
        let state = state_of(&nonce);
        assert_eq!(
            refused(&sealed, "wiki.example.com", Some(&state), NOW),
            "state_mismatch"
        );
        assert_eq!(
            refused(&sealed, "wiki.example.com", Some(&nonce), NOW + TTL_SECS),
            "expired"
        );
        // Sealed for the same app's host on another port: not this host.
        let other_port = sealed_for(&deployment, "wiki.example.com:8443", state_of(&nonce));
        assert_eq!(
            refused(&other_port, "wiki.example.com", Some(&nonce), NOW),
            "other_host"
        );
        // Not sealed by us, or tampered with.
        let forged = {
            let host = Host::parse(Some("wiki.example.com")).expect("host");
            Handoff::new(
                "wiki",
                &host,
                state_of(&nonce),
                "/".into(),
                &[1u8; 32],
                &central(&deployment, NOW),
                NOW,
            )
            .expect("session")
            .seal(&SigningKey::from_seed(&mut [1u8; 32]))
        };
        assert_eq!(
            refused(&forged, "wiki.example.com", Some(&nonce), NOW),
            "bad_seal"
        );
        let (payload, signature) = sealed.split_once('.').expect("sealed");
        let mut bytes = base64url::decode(payload).expect("payload");
        let at = bytes.len() / 2;
        bytes[at] ^= 1;
        let tampered = format!("{}.{signature}", base64url::encode(&bytes));
        assert_eq!(
            refused(&tampered, "wiki.example.com", Some(&nonce), NOW),
            "bad_seal"
        );
        for malformed in ["", "x", "a.b", &"A".repeat(MAX_SEALED_BYTES + 1)] {
            assert!(SealedHandoff::parse(malformed).is_err(), "{malformed}");
        }
        // A session token is not a handoff, nor is a handoff's seal under another domain.
        let session = crate::token::mint(central(&deployment, NOW).claims(), &key());
        assert!(open(&deployment, &session, "wiki.example.com", Some(&nonce), NOW).is_err());
    }

    #[test]
    fn a_handoff_never_outlives_the_session_it_hands_off() {
        let deployment = deployment();
        let host = Host::parse(Some("wiki.example.com")).expect("host");
        let session = central(&deployment, NOW);
        let late = session.claims().exp - 10;
        let handoff = Handoff::new(
            "wiki",
            &host,
            state_of(&nonce()),
            "/".into(),
            &[2u8; 32],
            &session,
            late,
        )
        .expect("session");
        assert_eq!(handoff.exp, session.claims().exp);
    }

    #[test]
    fn the_app_session_is_the_same_login_for_the_app_bound_to_the_sign_on() {
        let deployment = deployment();
        let wiki = app(&deployment, "wiki.example.com");
        let session = central(&deployment, NOW - 100);
        let claims = app_session_claims(wiki, &session, "app-session-id-0001".into(), NOW);
        assert_eq!(claims.aud, vec!["edgeauth:wiki".to_owned()]);
        assert_eq!(claims.sid, "app-session-id-0001");
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.roles, vec!["user".to_owned()]);
        assert_eq!(claims.auth_time, session.claims().auth_time);
        assert_eq!(claims.extra[LOGIN_TIME_CLAIM], serde_json::json!(NOW - 100));
        assert_eq!(claims.extra["amr"], serde_json::json!(["pwd"]));
        assert_eq!(
            claims.extra[SIGN_ON_CLAIM],
            serde_json::json!("central-session-id-0001")
        );
        assert_eq!(
            (claims.iat, claims.exp),
            (NOW, NOW + wiki.sessions.ttl_secs)
        );
        // The app's verifier takes it; the other app's and the auth host's do not.
        let token = crate::token::mint(&claims, wiki.signing_key());
        let app_session =
            crate::token::verify(&token, &wiki.keys, &wiki.session, NOW).expect("the app's");
        let tools = app(&deployment, "tools.example.com");
        assert!(crate::token::verify(&token, &tools.keys, &tools.session, NOW).is_err());
        let base = &deployment.base;
        assert!(crate::token::verify(&token, &base.keys, &base.session, NOW).is_err());
        // Nor does an app take the auth host's session.
        let central_token = crate::token::mint(session.claims(), base.signing_key());
        assert!(crate::token::verify(&central_token, &wiki.keys, &wiki.session, NOW).is_err());
        // Revoking the sign-on (the auth host's sid) refuses the app's session too.
        let mut list = RevocationList::empty();
        assert_eq!(list.check(&app_session), Ok(()));
        list.revoke_session("central-session-id-0001", NOW + 10_000);
        assert_eq!(list.check(&app_session), Err(Revoked::SignOn));
        assert_eq!(list.check(&session), Err(Revoked::Session));
        // The login's maximum age still bounds it.
        let old = app_session_claims(
            wiki,
            &session,
            "s".into(),
            session.claims().auth_time + wiki.session.max_session_age_secs - 5,
        );
        assert_eq!(
            old.exp,
            session.claims().auth_time + wiki.session.max_session_age_secs
        );
    }

    #[test]
    fn the_app_session_keeps_the_sign_on_of_a_re_login() {
        let deployment = deployment();
        let wiki = app(&deployment, "wiki.example.com");
        let mut claims = central(&deployment, NOW).into_claims();
        claims.sid = "second-login-sid-0002".into();
        claims
            .extra
            .insert(SIGN_ON_CLAIM.into(), "first-login-sid-0001".into());
        let base = &deployment.base;
        let token = crate::token::mint(&claims, base.signing_key());
        let relogin = crate::token::verify(&token, &base.keys, &base.session, NOW).expect("ok");
        let app_claims = app_session_claims(wiki, &relogin, "s".into(), NOW);
        assert_eq!(
            app_claims.extra[SIGN_ON_CLAIM],
            serde_json::json!("first-login-sid-0001")
        );
    }

    #[test]
    fn a_fresh_login_is_one_within_the_least_rule_age() {
        let deployment = deployment();
        assert!(login_is_fresh(
            &central(&deployment, NOW - FRESH_LOGIN_SECS),
            NOW
        ));
        assert!(!login_is_fresh(
            &central(&deployment, NOW - FRESH_LOGIN_SECS - 1),
            NOW
        ));
    }

    #[test]
    fn locations_name_the_auth_host_and_the_app_and_nothing_else() {
        let auth = Host::parse(Some("auth.example.com")).expect("auth");
        let app = Host::parse(Some("wiki.example.com:8443")).expect("app");
        assert_eq!(
            start_location(&auth, &app, "STATE", "/a b?c=1&d", true),
            "//auth.example.com/auth/handoff?app=wiki.example.com%3A8443&state=STATE&next=%2Fa%20b%3Fc%3D1%26d&reauth=1"
        );
        assert_eq!(
            redeem_location(&app, "abc.def"),
            "//wiki.example.com:8443/auth/handoff?token=abc.def"
        );
        assert!(is_nonce(&nonce()) && !is_nonce("x") && !is_nonce(&format!("{}=", &nonce()[1..])));
    }
}
