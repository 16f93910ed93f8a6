//! The ID token a provider returns from its token endpoint, checked as OpenID Connect Core
//! §3.1.3.7 requires. Parsing comes first ([`UntrustedIdToken::parse`]); the signature is
//! checked outside (WebCrypto in the Worker) over [`UntrustedIdToken::signing_input`] with the
//! key [`super::jwks::ProviderKeys::select`] chose; only then are the claims read
//! ([`UntrustedIdToken::complete`]), so nothing unsigned is ever trusted.

use crate::encoding::{base64url, strict_json};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use super::jwks::Alg;
use super::OidcError;

/// Largest ID token accepted, in bytes.
pub const MAX_ID_TOKEN_BYTES: usize = 16 * 1024;
/// Oldest `iat` accepted: a token issued this many seconds before it arrives (beyond the
/// leeway) was not issued for this code exchange.
pub const MAX_ID_TOKEN_AGE_SECS: u64 = 600;
/// Longest `sub` (OIDC Core §2: at most 255 ASCII characters).
pub const MAX_SUB_BYTES: usize = 255;

/// Header members read by name; the last five ask a verifier to trust keys or semantics the
/// token carries itself, and are refused.
const HEADER_MEMBERS: [&str; 8] = ["alg", "kid", "typ", "crit", "jku", "jwk", "x5u", "x5c"];

/// An ID token whose shape is valid and whose signature is not checked yet.
#[derive(Debug)]
pub struct UntrustedIdToken<'a> {
    signing_input: &'a str,
    alg: Alg,
    kid: Option<String>,
    payload: Vec<u8>,
    signature: Vec<u8>,
}

/// What the ID token must say, from the configuration and the login's own transaction.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// The provider's issuer, exactly.
    pub issuer: &'a str,
    /// Our client id, which `aud` must contain.
    pub client_id: &'a str,
    /// The nonce this login sent.
    pub nonce: &'a str,
    /// Seconds of clock skew tolerated.
    pub leeway_secs: u64,
    /// Now, in Unix seconds.
    pub now: u64,
}

/// The claims of a verified ID token that a login may use.
#[derive(Debug, Clone, PartialEq)]
pub struct IdClaims {
    /// The provider's subject identifier.
    pub sub: String,
    /// The e-mail address, only when the provider says it is verified.
    pub email: Option<String>,
    /// The display name, if given.
    pub name: Option<String>,
    /// The provider's session id (`sid`), for back-channel logout.
    pub sid: Option<String>,
    /// Every claim, for the role mapping (groups and the like).
    pub all: Map<String, Value>,
}

fn refuse(code: &str) -> OidcError {
    OidcError::new("id_token", code)
}

impl<'a> UntrustedIdToken<'a> {
    /// Parses `token`: size cap, three segments of strict base64url, a header with an accepted
    /// `alg` (never `none` or HMAC), an optional `kid`, `typ` absent or `JWT`, none of `crit`,
    /// `jku`, `jwk`, `x5u`, `x5c`, and a signature of the length its algorithm gives.
    pub fn parse(token: &'a str) -> Result<Self, OidcError> {
        Self::parse_typed(token, None)
    }

    /// Parses a back-channel logout token as [`Self::parse`] does an ID token, with `typ` also
    /// `logout+jwt` (Back-Channel Logout 1.0 §2.4).
    pub fn parse_logout(token: &'a str) -> Result<Self, OidcError> {
        Self::parse_typed(token, Some("logout+jwt"))
    }

    /// Parses an OAuth 2.0 access token in JWT form as [`Self::parse`] does an ID token, with
    /// `typ` also `at+jwt` or `application/at+jwt` (RFC 9068 §2.1).
    pub fn parse_access(token: &'a str) -> Result<Self, OidcError> {
        Self::parse_typed(token, Some("at+jwt"))
    }

    /// `also_typ`: the `typ` this kind of token may name besides `JWT` (with or without the
    /// `application/` prefix, RFC 7515 §4.1.9).
    fn parse_typed(token: &'a str, also_typ: Option<&str>) -> Result<Self, OidcError> {
        if token.len() > MAX_ID_TOKEN_BYTES {
            return Err(refuse("too_large"));
        }
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) = (
            segments.next(),
            segments.next(),
            segments.next(),
            segments.next(),
        ) else {
            return Err(refuse("segments"));
        };
        let decode = |segment| base64url::decode(segment).ok_or_else(|| refuse("base64"));
        let (header, payload, signature) = (
            decode(header_b64)?,
            decode(payload_b64)?,
            decode(signature_b64)?,
        );
        let ([alg, kid, typ, forbidden @ ..], _) =
            strict_json::parse_members(&header, &HEADER_MEMBERS).map_err(|_| refuse("header"))?;
        let alg = alg
            .as_ref()
            .and_then(Value::as_str)
            .and_then(Alg::from_jose)
            .ok_or_else(|| refuse("algorithm"))?;
        if forbidden.iter().any(Option::is_some) {
            return Err(refuse("forbidden_header"));
        }
        let named = |typ: &str, wanted: &str| {
            let bare = typ
                .get(..12)
                .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
                .map_or(typ, |_| &typ[12..]);
            bare.eq_ignore_ascii_case(wanted)
        };
        match typ {
            None => {}
            Some(Value::String(typ)) if named(&typ, "JWT") => {}
            Some(Value::String(typ)) if also_typ.is_some_and(|also| named(&typ, also)) => {}
            Some(_) => return Err(refuse("type")),
        }
        let kid = match kid {
            None => None,
            Some(Value::String(kid)) if !kid.is_empty() => Some(kid),
            Some(_) => return Err(refuse("kid")),
        };
        let length_fits = match alg {
            Alg::Es256 | Alg::EdDsa => signature.len() == 64,
            Alg::Rs256 | Alg::Ps256 => (256..=1024).contains(&signature.len()),
        };
        if !length_fits {
            return Err(refuse("signature_length"));
        }
        Ok(UntrustedIdToken {
            signing_input: &token[..header_b64.len() + 1 + payload_b64.len()],
            alg,
            kid,
            payload,
            signature,
        })
    }

    /// The algorithm the header names (accepted ones only).
    pub fn alg(&self) -> Alg {
        self.alg
    }

    /// The header's `kid`. Untrusted: only for choosing a key.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The bytes that were signed: `header.payload` as received.
    pub fn signing_input(&self) -> &'a [u8] {
        self.signing_input.as_bytes()
    }

    /// The signature, as JWS encodes it (`r || s` for ES256).
    pub fn signature(&self) -> &[u8] {
        &self.signature
    }

    /// Finishes with the verdict of the signature check (only `true` when [`Self::signature`]
    /// verified over [`Self::signing_input`] with [`Self::alg`] under the key chosen for
    /// [`Self::kid`]), then checks the claims: `iss` exactly, `aud` containing our client id,
    /// `azp` (required with several audiences, ours when present), `exp`, `iat` (present, not
    /// in the future, not older than [`MAX_ID_TOKEN_AGE_SECS`]), `nbf`, the nonce (constant
    /// time) and `sub`.
    pub fn complete(
        self,
        signature_verified: bool,
        expected: &Expected,
    ) -> Result<IdClaims, OidcError> {
        let all = self.checked_claims(signature_verified, expected)?;
        let exp = time(&all, "exp")?.ok_or_else(|| refuse("no_exp"))?;
        if expected.now >= exp.saturating_add(expected.leeway_secs) {
            return Err(refuse("expired"));
        }
        let nonce = text(&all, "nonce")?.ok_or_else(|| refuse("no_nonce"))?;
        if !bool::from(nonce.as_bytes().ct_eq(expected.nonce.as_bytes())) {
            return Err(refuse("nonce_mismatch"));
        }
        let sub = text(&all, "sub")?.ok_or_else(|| refuse("no_sub"))?;
        if sub.is_empty() || sub.len() > MAX_SUB_BYTES {
            return Err(refuse("sub"));
        }
        // `true`, or the string "true" some providers send.
        let email_verified = match all.get("email_verified") {
            Some(Value::Bool(verified)) => *verified,
            Some(Value::String(verified)) => verified == "true",
            _ => false,
        };
        Ok(IdClaims {
            sub: sub.to_owned(),
            email: text(&all, "email")?
                .filter(|_| email_verified)
                .map(str::to_owned),
            name: text(&all, "name")?.map(str::to_owned),
            sid: text(&all, "sid")?.map(str::to_owned),
            all: all.clone(),
        })
    }

    /// Finishes a logout token as [`Self::complete`] does an ID token, with Back-Channel
    /// Logout 1.0 §2.6's checks instead of the nonce: the back-channel `events` member, no
    /// `nonce`, a `jti`, `exp` when present, and a `sub` or a `sid` (or both).
    pub fn complete_logout(
        self,
        signature_verified: bool,
        expected: &Expected,
    ) -> Result<LogoutClaims, OidcError> {
        let all = self.checked_claims(signature_verified, expected)?;
        let expired = |exp: u64| expected.now >= exp.saturating_add(expected.leeway_secs);
        if time(&all, "exp")?.is_some_and(expired) {
            return Err(refuse("expired"));
        }
        let is_logout = match all.get("events") {
            Some(Value::Object(events)) => {
                matches!(events.get(LOGOUT_EVENT), Some(Value::Object(_)))
            }
            _ => false,
        };
        if !is_logout {
            return Err(refuse("not_a_logout"));
        }
        if all.contains_key("nonce") {
            return Err(refuse("nonce_in_logout"));
        }
        if text(&all, "jti")?.is_none_or(str::is_empty) {
            return Err(refuse("no_jti"));
        }
        let id = |name| {
            text(&all, name).map(|value| {
                value
                    .filter(|v| !v.is_empty() && v.len() <= MAX_SUB_BYTES)
                    .map(str::to_owned)
            })
        };
        let (sub, sid) = (id("sub")?, id("sid")?);
        if sub.is_none() && sid.is_none() {
            return Err(refuse("no_sub_or_sid"));
        }
        // Present: checked with the others.
        let iat = time(&all, "iat")?.unwrap_or(expected.now);
        Ok(LogoutClaims { sub, sid, iat })
    }

    /// The payload's claims, once the signature verified (only `true` when
    /// [`Self::signature`] verified over [`Self::signing_input`] with [`Self::alg`] under the
    /// key chosen for [`Self::kid`]): for tokens whose claims another module checks (access
    /// tokens, [`crate::machine::issuer`]).
    pub fn verified_claims(
        self,
        signature_verified: bool,
    ) -> Result<Map<String, Value>, OidcError> {
        if !signature_verified {
            return Err(refuse("bad_signature"));
        }
        strict_json::parse_object(&self.payload).map_err(|_| refuse("claims"))
    }

    /// The checks both kinds of token share: the signature verdict first, then `iss`, `aud`
    /// and `azp`, `iat` and `nbf`.
    fn checked_claims(
        &self,
        signature_verified: bool,
        expected: &Expected,
    ) -> Result<Map<String, Value>, OidcError> {
        if !signature_verified {
            return Err(refuse("bad_signature"));
        }
        let all = strict_json::parse_object(&self.payload).map_err(|_| refuse("claims"))?;
        if text(&all, "iss")? != Some(expected.issuer) {
            return Err(refuse("wrong_issuer"));
        }
        let audiences: Vec<&str> = match all.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|item| item.as_str().ok_or_else(|| refuse("aud")))
                .collect::<Result<_, _>>()?,
            _ => return Err(refuse("aud")),
        };
        if !audiences.contains(&expected.client_id) {
            return Err(refuse("wrong_audience"));
        }
        match text(&all, "azp")? {
            Some(azp) if azp != expected.client_id => return Err(refuse("wrong_azp")),
            None if audiences.len() > 1 => return Err(refuse("no_azp")),
            _ => {}
        }
        let (now, leeway) = (expected.now, expected.leeway_secs);
        let iat = time(&all, "iat")?.ok_or_else(|| refuse("no_iat"))?;
        if iat > now.saturating_add(leeway) {
            return Err(refuse("iat_in_future"));
        }
        if iat.saturating_add(MAX_ID_TOKEN_AGE_SECS + leeway) < now {
            return Err(refuse("iat_too_old"));
        }
        if time(&all, "nbf")?.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
            return Err(refuse("not_yet_valid"));
        }
        Ok(all)
    }
}

/// The event a back-channel logout token carries (Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// What a verified back-channel logout token ends: the provider's session, every session of
/// its user, or (with both) that session of that user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogoutClaims {
    /// The provider's subject, if given.
    pub sub: Option<String>,
    /// The provider's session id, if given.
    pub sid: Option<String>,
    /// When the provider issued the token: a `sub`-only logout ends the sessions begun before.
    pub iat: u64,
}

/// A string claim, `None` when absent; anything else than a string refuses.
pub(crate) fn text<'m>(
    all: &'m Map<String, Value>,
    name: &str,
) -> Result<Option<&'m str>, OidcError> {
    match all.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text.as_str())),
        Some(_) => Err(refuse(name)),
    }
}

/// A NumericDate claim (a JSON number, possibly with a fraction: RFC 7519 §2).
pub(crate) fn time(all: &Map<String, Value>, name: &str) -> Result<Option<u64>, OidcError> {
    match all.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|t| *t >= 0.0).map(|t| t as u64))
            .map(Some)
            .ok_or_else(|| refuse(name)),
        Some(_) => Err(refuse(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_800_000_000;

    fn claims() -> Value {
        serde_json::json!({
            "iss": "https://idp.example.com", "aud": "edge", "sub": "u-1",
            "iat": NOW - 5, "exp": NOW + 300, "nonce": "n-1",
            "email": "ada@example.com", "email_verified": true, "name": "Ada", "sid": "idp-s",
        })
    }

    fn token(header: &Value, claims: &Value, signature_len: usize) -> String {
        format!(
            "{}.{}.{}",
            base64url::encode(header.to_string().as_bytes()),
            base64url::encode(claims.to_string().as_bytes()),
            base64url::encode(&vec![7u8; signature_len])
        )
    }

    fn expected() -> Expected<'static> {
        Expected {
            issuer: "https://idp.example.com",
            client_id: "edge",
            nonce: "n-1",
            leeway_secs: 30,
            now: NOW,
        }
    }

    fn check(claims: &Value) -> Result<IdClaims, OidcError> {
        let text = token(
            &serde_json::json!({"alg": "RS256", "kid": "k"}),
            claims,
            256,
        );
        UntrustedIdToken::parse(&text)?.complete(true, &expected())
    }

    #[test]
    fn a_valid_token_gives_its_claims() {
        let found = check(&claims()).expect("valid");
        assert_eq!(found.sub, "u-1");
        assert_eq!(found.email.as_deref(), Some("ada@example.com"));
        assert_eq!(found.sid.as_deref(), Some("idp-s"));
    }

    #[test]
    fn the_header_decides_nothing_it_should_not() {
        for (header, len, code) in [
            (serde_json::json!({"alg": "none"}), 0, "algorithm"),
            (serde_json::json!({"alg": "HS256"}), 32, "algorithm"),
            (serde_json::json!({"alg": "RS512"}), 256, "algorithm"),
            (serde_json::json!({"kid": "k"}), 256, "algorithm"),
            (
                serde_json::json!({"alg": "RS256", "jku": "https://evil"}),
                256,
                "forbidden_header",
            ),
            (
                serde_json::json!({"alg": "RS256", "jwk": {}}),
                256,
                "forbidden_header",
            ),
            (
                serde_json::json!({"alg": "RS256", "crit": ["x"]}),
                256,
                "forbidden_header",
            ),
            (
                serde_json::json!({"alg": "RS256", "typ": "at+jwt"}),
                256,
                "type",
            ),
            (serde_json::json!({"alg": "RS256", "kid": 1}), 256, "kid"),
            (serde_json::json!({"alg": "ES256"}), 72, "signature_length"),
            (serde_json::json!({"alg": "RS256"}), 64, "signature_length"),
        ] {
            let text = token(&header, &claims(), len);
            let err = UntrustedIdToken::parse(&text).expect_err(code);
            assert_eq!(err.0, format!("id_token:{code}"), "{header}");
        }
        let dup = format!(
            "{}.{}.{}",
            base64url::encode(br#"{"alg":"RS256","alg":"none"}"#),
            base64url::encode(claims().to_string().as_bytes()),
            base64url::encode(&[7u8; 256])
        );
        assert!(UntrustedIdToken::parse(&dup).is_err());
        assert!(UntrustedIdToken::parse("a.b").is_err());
    }

    #[test]
    fn a_bad_signature_refuses_before_any_claim_is_read() {
        let text = token(&serde_json::json!({"alg": "EdDSA"}), &claims(), 64);
        let err = UntrustedIdToken::parse(&text)
            .expect("parses")
            .complete(false, &expected())
            .expect_err("refused");
        assert_eq!(err.0, "id_token:bad_signature");
    }

    #[test]
    fn every_claim_check_refuses_its_forgery() {
        let with = |name: &str, value: Value| {
            let mut c = claims();
            c[name] = value;
            c
        };
        let without = |name: &str| {
            let mut c = claims();
            c.as_object_mut().map(|o| o.remove(name));
            c
        };
        for (claims, code) in [
            (
                with("iss", "https://idp.example.com/".into()),
                "wrong_issuer",
            ),
            (without("iss"), "wrong_issuer"),
            (with("aud", "other".into()), "wrong_audience"),
            (
                with("aud", serde_json::json!(["other", "x"])),
                "wrong_audience",
            ),
            (with("aud", serde_json::json!(["edge", "other"])), "no_azp"),
            (with("azp", "other".into()), "wrong_azp"),
            (with("exp", (NOW - 31).into()), "expired"),
            (without("exp"), "no_exp"),
            (without("iat"), "no_iat"),
            (with("iat", (NOW + 31).into()), "iat_in_future"),
            (with("iat", (NOW - 700).into()), "iat_too_old"),
            (with("nbf", (NOW + 31).into()), "not_yet_valid"),
            (with("nonce", "n-2".into()), "nonce_mismatch"),
            (without("nonce"), "no_nonce"),
            (without("sub"), "no_sub"),
            (with("sub", "".into()), "sub"),
            (with("sub", 42.into()), "sub"),
        ] {
            let err = check(&claims).expect_err(code);
            assert_eq!(err.0, format!("id_token:{code}"), "{claims}");
        }
        let mut several = with("aud", serde_json::json!(["edge", "other"]));
        several["azp"] = "edge".into();
        assert!(check(&several).is_ok(), "several audiences with our azp");
        assert!(
            check(&with("exp", (NOW - 29).into())).is_ok(),
            "within the leeway"
        );
        assert!(
            check(&with("iat", 1_799_999_999.5.into())).is_ok(),
            "fractional NumericDate"
        );
    }

    fn logout_claims() -> Value {
        serde_json::json!({
            "iss": "https://idp.example.com", "aud": "edge", "sub": "u-1", "sid": "idp-s",
            "iat": NOW - 5, "jti": "j-1", "events": {LOGOUT_EVENT: {}},
        })
    }

    fn check_logout(claims: &Value, typ: &str) -> Result<LogoutClaims, OidcError> {
        let header = serde_json::json!({"alg": "ES256", "kid": "k", "typ": typ});
        let text = token(&header, claims, 64);
        UntrustedIdToken::parse_logout(&text)?.complete_logout(true, &expected())
    }

    #[test]
    fn a_logout_token_names_the_session_it_ends() {
        assert_eq!(
            check_logout(&logout_claims(), "logout+jwt"),
            Ok(LogoutClaims {
                sub: Some("u-1".into()),
                sid: Some("idp-s".into()),
                iat: NOW - 5,
            })
        );
        let mut sid_only = logout_claims();
        sid_only.as_object_mut().map(|o| o.remove("sub"));
        assert_eq!(check_logout(&sid_only, "JWT").map(|c| c.sub), Ok(None));
        let id_token = token(
            &serde_json::json!({"alg": "ES256", "typ": "logout+jwt"}),
            &claims(),
            64,
        );
        assert!(
            UntrustedIdToken::parse(&id_token).is_err(),
            "an ID token is never a logout+jwt"
        );
    }

    #[test]
    fn a_logout_token_is_refused_for_each_rule_it_breaks() {
        let with = |name: &str, value: Value| {
            let mut c = logout_claims();
            c[name] = value;
            c
        };
        let without = |names: &[&str]| {
            let mut c = logout_claims();
            for name in names {
                c.as_object_mut().map(|o| o.remove(*name));
            }
            c
        };
        for (claims, code) in [
            (without(&["events"]), "not_a_logout"),
            (
                with("events", serde_json::json!({"other": {}})),
                "not_a_logout",
            ),
            (
                with("events", serde_json::json!({LOGOUT_EVENT: "x"})),
                "not_a_logout",
            ),
            (with("nonce", "n".into()), "nonce_in_logout"),
            (without(&["jti"]), "no_jti"),
            (without(&["sub", "sid"]), "no_sub_or_sid"),
            (without(&["iat"]), "no_iat"),
            (with("aud", "other".into()), "wrong_audience"),
            (with("iss", "https://evil.example".into()), "wrong_issuer"),
            (with("exp", (NOW - 60).into()), "expired"),
            (with("iat", (NOW - 3600).into()), "iat_too_old"),
        ] {
            let err = check_logout(&claims, "logout+jwt").expect_err(code);
            assert_eq!(err.0, format!("id_token:{code}"), "{claims}");
        }
        let text = token(&serde_json::json!({"alg": "ES256"}), &logout_claims(), 64);
        let unsigned = UntrustedIdToken::parse_logout(&text).expect("parses");
        assert!(unsigned.complete_logout(false, &expected()).is_err());
    }

    #[test]
    fn an_email_counts_only_when_verified() {
        for (verified, kept) in [
            (Value::Bool(true), true),
            ("true".into(), true),
            (Value::Bool(false), false),
            ("false".into(), false),
            (Value::Null, false),
        ] {
            let mut c = claims();
            c["email_verified"] = verified.clone();
            assert_eq!(
                check(&c).expect("valid").email.is_some(),
                kept,
                "{verified}"
            );
        }
        let mut c = claims();
        c.as_object_mut().map(|o| o.remove("email_verified"));
        assert_eq!(check(&c).expect("valid").email, None);
    }
}
