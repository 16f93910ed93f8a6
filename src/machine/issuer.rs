//! Trusted external issuers (`TRUSTED_ISSUERS`): access tokens in JWT form from a company's
//! identity provider (Okta, Entra ID, Auth0, Keycloak, …), presented as `Authorization: Bearer`
//! by programs. Checked as strictly as our own sessions: the issuer's keys only (its JWKS, never
//! `jku`/`jwk`/`x5u` from the token, a `kid` lookup), an accepted algorithm (never `none` or
//! HMAC), `iss` exactly, an accepted audience, `exp`/`nbf`/`iat` with the leeway, a bounded
//! lifetime, required scopes and claims; then the SSO mapping gives the identity's roles.
//!
//! The token is parsed by [`TrustedIssuer::parse`], its signature checked outside (WebCrypto in
//! the Worker) with the key [`crate::login::oidc::jwks::ProviderKeys::select`] chose, and only
//! then are its claims read ([`TrustedIssuer::complete`]).

use std::borrow::Cow;

use crate::config::{ConfigError, Vars};
use crate::encoding::{base64url, strict_json};
use crate::login::oidc::id_token::{self, IdClaims, UntrustedIdToken, MAX_SUB_BYTES};
use crate::login::oidc::jwks::Alg;
use crate::login::oidc::mapping::{self, Mapping, MappingJson};
use crate::login::oidc::{base_url, check_id, in_namespace, Providers};
use crate::login::Verdict;
use crate::token::claims::{Claims, VerifiedClaims, Via};
use crate::token::error::Error;
use crate::token::validation::Validation;
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// Most issuers one deployment may trust.
pub const MAX_ISSUERS: usize = 16;
/// Default longest lifetime (`exp - iat`) of an accepted token: one day.
pub const DEFAULT_MAX_LIFETIME_SECS: u64 = 86_400;
/// The `machine` claim of an identity from an external issuer's token.
pub const MACHINE_CLAIM: &str = "issuer";
/// Ids no issuer may take: service tokens' namespace, and the revocation list's prefix for
/// provider sessions (`idp:<provider>/<sid>`), which an issuer's token ids (`<id>:<jti>`) must
/// never spell.
pub const RESERVED_IDS: [&str; 2] = [super::service_token::SUB_NAMESPACE, "idp"];

/// Where an issuer's public keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeysAt {
    /// A JWKS URL given in the configuration.
    Jwks(String),
    /// The `jwks_uri` of the issuer's discovery document (`<issuer>/.well-known/openid-configuration`).
    Discovery(String),
}

/// One issuer whose access tokens the edge accepts.
#[derive(Debug, Clone)]
pub struct TrustedIssuer {
    /// Its id: the namespace of its subjects (`<id>:<sub>`), the session's `idp`.
    pub id: String,
    /// `iss`, exactly.
    pub issuer: String,
    /// Where its keys are published.
    pub keys_at: KeysAt,
    /// `aud` must contain one of these.
    pub audiences: Vec<String>,
    /// The algorithms its tokens may use.
    pub algorithms: Vec<Alg>,
    /// Scopes a token must all grant.
    pub required_scopes: Vec<String>,
    /// Longest `exp - iat` accepted.
    pub max_lifetime_secs: u64,
    /// How its subjects become identities (the SSO mapping language).
    pub mapping: Mapping,
}

/// A `TRUSTED_ISSUERS` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuerJson {
    id: String,
    issuer: String,
    #[serde(default)]
    jwks_uri: Option<String>,
    audiences: Vec<String>,
    #[serde(default)]
    algorithms: Option<Vec<String>>,
    #[serde(default)]
    required_scopes: Vec<String>,
    #[serde(default)]
    max_lifetime_secs: Option<u64>,
    #[serde(default)]
    mapping: Option<MappingJson>,
}

/// The trusted issuers.
#[derive(Debug, Clone, Default)]
pub struct TrustedIssuers(Vec<TrustedIssuer>);

impl TrustedIssuers {
    /// `TRUSTED_ISSUERS` (a JSON array, default none). `validation` is our sessions': an issuer
    /// must not be ours, and no token may outlive what a revocation by `sub` covers.
    pub fn from_vars(
        vars: &Vars,
        validation: &Validation,
        providers: &Providers,
    ) -> Result<Self, ConfigError> {
        let Some(text) = vars.get("TRUSTED_ISSUERS") else {
            return Ok(TrustedIssuers::default());
        };
        let fail = |detail: String| ConfigError(format!("TRUSTED_ISSUERS{detail}"));
        let items = strict_json::parse_array(text.as_bytes())
            .map_err(|_| fail(" is not a JSON array without duplicate keys".into()))?;
        if items.len() > MAX_ISSUERS {
            return Err(fail(format!(": at most {MAX_ISSUERS} issuers")));
        }
        let mut issuers: Vec<TrustedIssuer> = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let at = |detail: String| fail(format!("[{index}]: {detail}"));
            let entry: IssuerJson = serde_json::from_value(item).map_err(|e| at(e.to_string()))?;
            let issuer = TrustedIssuer::from_entry(entry, validation).map_err(at)?;
            if issuers.iter().any(|other| other.id == issuer.id)
                || providers.get(&issuer.id).is_some()
                || RESERVED_IDS.contains(&issuer.id.as_str())
            {
                return Err(at(format!(
                    "id {:?} is already an issuer's, a provider's or reserved",
                    issuer.id
                )));
            }
            if issuers.iter().any(|other| other.issuer == issuer.issuer) {
                return Err(at(format!("issuer {:?} is listed twice", issuer.issuer)));
            }
            // Its ID tokens for our client would pass as access tokens for that audience.
            if let Some(provider) = providers.iter().find(|provider| {
                provider.issuer == issuer.issuer && issuer.audiences.contains(&provider.client_id)
            }) {
                return Err(at(format!(
                    "an audience is the client_id of provider {:?} at the same issuer: its ID tokens would pass as access tokens",
                    provider.id
                )));
            }
            issuers.push(issuer);
        }
        Ok(TrustedIssuers(issuers))
    }

    /// The issuer a bearer token claims to come from (its `iss`, read without trusting it, only
    /// to choose whose keys must have signed it), if it is one of ours.
    pub fn for_token(&self, token: &str) -> Option<&TrustedIssuer> {
        if self.0.is_empty() || token.len() > id_token::MAX_ID_TOKEN_BYTES {
            return None;
        }
        let payload = base64url::decode(token.split('.').nth(1)?)?;
        let ([iss], _) = strict_json::parse_members(&payload, &["iss"]).ok()?;
        let iss = iss?;
        self.0
            .iter()
            .find(|issuer| Some(issuer.issuer.as_str()) == iss.as_str())
    }

    /// Every issuer.
    pub fn iter(&self) -> impl Iterator<Item = &TrustedIssuer> {
        self.0.iter()
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `sub` lies in an issuer's namespace (`<id>:…`).
    pub fn reserves(&self, sub: &str) -> bool {
        self.0.iter().any(|issuer| in_namespace(sub, &issuer.id))
    }
}

fn refuse(code: &'static str) -> Error {
    Error::Credential(code)
}

impl TrustedIssuer {
    fn from_entry(entry: IssuerJson, validation: &Validation) -> Result<Self, String> {
        check_id(&entry.id)?;
        base_url("issuer", &entry.issuer)?;
        if entry.issuer == validation.issuer {
            return Err("issuer is this edge's own session issuer".into());
        }
        let keys_at = match entry.jwks_uri {
            Some(url) => {
                base_url("jwks_uri", &url)?;
                KeysAt::Jwks(url)
            }
            None => KeysAt::Discovery(format!(
                "{}/.well-known/openid-configuration",
                entry.issuer.trim_end_matches('/')
            )),
        };
        let visible =
            |text: &String| !text.is_empty() && text.bytes().all(|b| b.is_ascii_graphic());
        if entry.audiences.is_empty() || !entry.audiences.iter().all(visible) {
            return Err("audiences must list at least one audience (visible ASCII)".into());
        }
        if entry.audiences.contains(&validation.audience) {
            return Err("an audience is this edge's own session audience".into());
        }
        if !entry.required_scopes.iter().all(visible) {
            return Err("required_scopes must be visible ASCII words".into());
        }
        let algorithms = match entry.algorithms {
            None => vec![Alg::Rs256, Alg::Ps256, Alg::Es256, Alg::EdDsa],
            Some(names) if names.is_empty() => return Err("algorithms is empty".into()),
            Some(names) => names
                .iter()
                .map(|name| {
                    Alg::from_jose(name).ok_or_else(|| {
                        format!("algorithm {name:?} is not one of RS256, PS256, ES256, EdDSA")
                    })
                })
                .collect::<Result<_, _>>()?,
        };
        let max_lifetime_secs = entry
            .max_lifetime_secs
            .unwrap_or(DEFAULT_MAX_LIFETIME_SECS.min(validation.max_session_age_secs));
        if max_lifetime_secs == 0 || max_lifetime_secs > validation.max_session_age_secs {
            return Err(
                "max_lifetime_secs must be positive and at most MAX_SESSION_AGE_SECS (what a revocation by sub covers)"
                    .into(),
            );
        }
        let mapping = entry.mapping.unwrap_or_default();
        let mapping = Mapping::from_json(mapping)?;
        if mapping.is_plain() {
            // A partner's issuer could then name any bare user (`alice`) of every other login.
            return Err("mapping.sub \"plain\" is for identity providers only: an issuer's subjects stay in its namespace".into());
        }
        Ok(TrustedIssuer {
            id: entry.id,
            issuer: entry.issuer,
            keys_at,
            audiences: entry.audiences,
            algorithms,
            required_scopes: entry.required_scopes,
            max_lifetime_secs,
            mapping,
        })
    }

    /// Parses `token` as one of this issuer's access tokens: the shape and header checks of an
    /// ID token (size cap, strict base64url, no `jku`/`jwk`/`x5u`/`x5c`/`crit`), `typ` absent,
    /// `JWT` or `at+jwt`, and an algorithm this issuer may use.
    pub fn parse<'t>(&self, token: &'t str) -> Result<UntrustedIdToken<'t>, Error> {
        let parsed =
            UntrustedIdToken::parse_access(token).map_err(|_| refuse("issuer_malformed"))?;
        if !self.algorithms.contains(&parsed.alg()) {
            return Err(refuse("issuer_algorithm"));
        }
        Ok(parsed)
    }

    /// Finishes with the verdict of the signature check, then checks the claims and maps the
    /// identity: `iss` exactly, `aud` holding an accepted audience, `exp` (required), `iat`
    /// (required, not in the future), `nbf`, the lifetime, `sub`, the required scopes and the
    /// mapping's required claims and allow lists. `validation` is our sessions' (its issuer,
    /// audience and leeway).
    pub fn complete(
        &self,
        token: UntrustedIdToken<'_>,
        signature_verified: bool,
        validation: &Validation,
        now: u64,
    ) -> Result<VerifiedClaims, Error> {
        let kid = format!("{}/{}", self.id, token.kid().unwrap_or(token.alg().jose()));
        let signing_input = token.signing_input();
        let all = token
            .verified_claims(signature_verified)
            .map_err(|e| match e.0.as_str() {
                "id_token:bad_signature" => refuse("issuer_bad_signature"),
                _ => refuse("issuer_claims"),
            })?;
        let text = |name| id_token::text(&all, name).map_err(|_| refuse("issuer_claims"));
        let time = |name| id_token::time(&all, name).map_err(|_| refuse("issuer_claims"));
        if text("iss")? != Some(self.issuer.as_str()) {
            return Err(refuse("issuer_wrong_issuer"));
        }
        // What only ID tokens carry: an ID token is no access token, whatever its audience.
        if ["nonce", "at_hash", "c_hash"]
            .iter()
            .any(|name| all.contains_key(*name))
        {
            return Err(refuse("issuer_id_token"));
        }
        let audience_ok = match all.get("aud") {
            Some(Value::String(aud)) => self.audiences.contains(aud),
            Some(Value::Array(items)) => items
                .iter()
                .filter_map(Value::as_str)
                .any(|aud| self.audiences.iter().any(|a| a == aud)),
            _ => false,
        };
        if !audience_ok {
            return Err(refuse("issuer_wrong_audience"));
        }
        let leeway = validation.leeway_secs;
        let exp = time("exp")?.ok_or_else(|| refuse("issuer_no_exp"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(refuse("issuer_expired"));
        }
        let iat = time("iat")?.ok_or_else(|| refuse("issuer_no_iat"))?;
        let nbf = time("nbf")?;
        if iat > now.saturating_add(leeway)
            || nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway))
        {
            return Err(refuse("issuer_not_yet_valid"));
        }
        if exp.saturating_sub(iat) > self.max_lifetime_secs {
            return Err(refuse("issuer_lifetime_too_long"));
        }
        let sub = text("sub")?
            .filter(|sub| !sub.is_empty() && sub.len() <= MAX_SUB_BYTES)
            .ok_or_else(|| refuse("issuer_sub"))?;
        let granted: Vec<&str> = mapping::scopes(&all).collect();
        if !self
            .required_scopes
            .iter()
            .all(|scope| granted.contains(&scope.as_str()))
        {
            return Err(refuse("issuer_missing_scope"));
        }
        let email_verified = matches!(all.get("email_verified"), Some(Value::Bool(true)))
            || matches!(all.get("email_verified"), Some(Value::String(v)) if v == "true");
        let claims = IdClaims {
            sub: sub.to_owned(),
            email: text("email")?.filter(|_| email_verified).map(str::to_owned),
            name: text("name")?.map(str::to_owned),
            sid: None,
            all: all.clone(),
        };
        let identity = match self.mapping.identity(&self.id, &claims) {
            Verdict::Authenticated(identity) => identity,
            Verdict::Refused(Cow::Borrowed(why)) => return Err(refuse(why)),
            Verdict::Refused(_) => return Err(refuse("issuer_not_allowed")),
        };
        // One token, one sid: its `jti` in the issuer's namespace, else a digest of the token.
        let sid = match text("jti")? {
            Some(jti) if crate::login::is_valid_username(jti) && jti.len() <= MAX_SUB_BYTES => {
                format!("{}:{jti}", self.id)
            }
            // The signed part only: an ECDSA signature can be altered and still verify.
            _ => base64url::encode(&Sha256::digest(signing_input)[..16]),
        };
        let mut extra = identity
            .provider
            .as_ref()
            .map(|provider| provider.kept.clone())
            .unwrap_or_default();
        extra.insert("machine".into(), Value::from(MACHINE_CLAIM));
        extra.insert("idp".into(), Value::from(self.id.as_str()));
        if !granted.is_empty() {
            extra.insert("scope".into(), Value::from(granted.join(" ")));
        }
        let claims = Claims {
            iss: validation.issuer.clone(),
            aud: vec![validation.audience.clone()],
            sub: identity.sub,
            sid,
            iat,
            exp,
            nbf,
            auth_time: iat,
            roles: identity.roles,
            name: identity.name,
            email: identity.email,
            extra,
        };
        Ok(VerifiedClaims::machine(claims, kid, Via::Issuer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: u64 = 1_800_000_000;

    fn validation() -> Validation {
        Validation::new("https://edge.test", "edgeauth")
    }

    fn issuers(entries: Value) -> Result<TrustedIssuers, ConfigError> {
        let text = entries.to_string();
        let vars = Vars::new(|name| (name == "TRUSTED_ISSUERS").then(|| text.clone()));
        TrustedIssuers::from_vars(&vars, &validation(), &Providers::default())
    }

    fn ci() -> TrustedIssuer {
        issuers(json!([{
            "id": "ci",
            "issuer": "https://idp.example.com/oauth2/default",
            "audiences": ["api://edge", "other"],
            "algorithms": ["RS256", "ES256"],
            "required_scopes": ["deploy"],
            "mapping": {"default_roles": ["machine"], "scope_roles": {"deploy": ["deployer"]}},
        }]))
        .expect("valid")
        .0
        .remove(0)
    }

    /// A token with `header` and `claims`, its signature 64 bytes of zeros (the verdict is the
    /// caller's: these tests are about what is checked besides the signature).
    fn token(header: Value, claims: Value) -> String {
        let b64 = |value: &Value| base64url::encode(value.to_string().as_bytes());
        format!(
            "{}.{}.{}",
            b64(&header),
            b64(&claims),
            base64url::encode(&[0; 64])
        )
    }

    fn good_claims() -> Value {
        json!({
            "iss": "https://idp.example.com/oauth2/default",
            "aud": "api://edge",
            "sub": "0oa-ci-client",
            "iat": NOW - 60,
            "exp": NOW + 3000,
            "jti": "AT.1",
            "scope": "deploy read",
            "email": "bot@example.com",
        })
    }

    fn check(
        issuer: &TrustedIssuer,
        claims: Value,
        verified: bool,
    ) -> Result<VerifiedClaims, &'static str> {
        let text = token(
            json!({"alg": "ES256", "kid": "k1", "typ": "at+jwt"}),
            claims,
        );
        let parsed = issuer.parse(&text).map_err(|e| e.code())?;
        issuer
            .complete(parsed, verified, &validation(), NOW)
            .map_err(|e| e.code())
    }

    fn with(change: &[(&str, Value)]) -> Value {
        let mut claims = good_claims();
        for (name, value) in change {
            if value.is_null() {
                claims.as_object_mut().expect("object").remove(*name);
            } else {
                claims[*name] = value.clone();
            }
        }
        claims
    }

    #[test]
    fn an_accepted_token_becomes_a_machine_identity() {
        let verified = check(&ci(), good_claims(), true).expect("accepted");
        let claims = verified.claims();
        assert_eq!(claims.sub, "ci:0oa-ci-client");
        assert_eq!(claims.roles, ["machine", "deployer"]);
        assert_eq!(claims.sid, "ci:AT.1");
        assert_eq!(claims.iss, "https://edge.test", "the assertion is ours");
        assert_eq!(
            (claims.iat, claims.exp, claims.auth_time),
            (NOW - 60, NOW + 3000, NOW - 60)
        );
        assert_eq!(claims.extra["machine"], "issuer");
        assert_eq!(claims.extra["idp"], "ci");
        assert_eq!(claims.extra["scope"], "deploy read");
        assert_eq!(claims.email, None, "an unverified e-mail is not used");
        assert_eq!(verified.via(), Via::Issuer);
        assert_eq!(verified.kid(), "ci/k1");
        // `scp` as an array (Okta, Entra ID), and several audiences.
        let okta = with(&[
            ("scope", Value::Null),
            ("scp", json!(["deploy"])),
            ("aud", json!(["x", "other"])),
        ]);
        assert_eq!(
            check(&ci(), okta, true).expect("accepted").claims().roles,
            ["machine", "deployer"]
        );
        // Without a jti, the sid is a digest of the token.
        let sid = check(&ci(), with(&[("jti", Value::Null)]), true)
            .expect("ok")
            .claims()
            .sid
            .clone();
        assert_eq!(sid.len(), 22);
    }

    #[test]
    fn every_claim_check_refuses() {
        let issuer = ci();
        for (change, code) in [
            (
                vec![("iss", json!("https://idp.example.com/oauth2/other"))],
                "issuer_wrong_issuer",
            ),
            (
                vec![("aud", json!("api://elsewhere"))],
                "issuer_wrong_audience",
            ),
            (vec![("aud", json!(["edgeauth"]))], "issuer_wrong_audience"),
            (vec![("aud", Value::Null)], "issuer_wrong_audience"),
            (vec![("exp", json!(NOW - 31))], "issuer_expired"),
            (vec![("exp", Value::Null)], "issuer_no_exp"),
            (vec![("exp", json!("soon"))], "issuer_claims"),
            (vec![("iat", Value::Null)], "issuer_no_iat"),
            (vec![("iat", json!(NOW + 31))], "issuer_not_yet_valid"),
            (vec![("nbf", json!(NOW + 31))], "issuer_not_yet_valid"),
            (
                vec![("iat", json!(NOW - 90_000))],
                "issuer_lifetime_too_long",
            ),
            (vec![("sub", Value::Null)], "issuer_sub"),
            (vec![("sub", json!(""))], "issuer_sub"),
            (vec![("scope", json!("read"))], "issuer_missing_scope"),
            (vec![("scope", Value::Null)], "issuer_missing_scope"),
            (vec![("nonce", json!("n-1"))], "issuer_id_token"),
            (vec![("at_hash", json!("x"))], "issuer_id_token"),
        ] {
            assert_eq!(
                check(&issuer, with(&change), true).map(|_| ()),
                Err(code),
                "{change:?}"
            );
        }
        // Within the leeway (30 s) is accepted.
        assert!(check(&issuer, with(&[("exp", json!(NOW - 29))]), true).is_ok());
        assert_eq!(
            check(&issuer, good_claims(), false).map(|_| ()),
            Err("issuer_bad_signature")
        );
    }

    #[test]
    fn the_mapping_decides_who_may_call() {
        let issuer = issuers(json!([{
            "id": "ci", "issuer": "https://idp.example.com/oauth2/default", "audiences": ["api://edge"],
            "mapping": {"required_claims": {"cid": "deployer"}, "allowed_subs": ["0oa-ci-client"]},
        }]))
        .expect("valid")
        .0
        .remove(0);
        let mut claims = good_claims();
        claims["cid"] = json!("deployer");
        assert!(check(&issuer, claims.clone(), true).is_ok());
        claims["cid"] = json!("someone-else");
        assert_eq!(
            check(&issuer, claims, true).map(|_| ()),
            Err("required_claim_missing")
        );
        let mut claims = with(&[("sub", json!("0oa-other"))]);
        claims["cid"] = json!("deployer");
        assert_eq!(
            check(&issuer, claims, true).map(|_| ()),
            Err("user_not_allowed")
        );
    }

    #[test]
    fn headers_and_algorithms_are_held_to_the_configuration() {
        let issuer = ci();
        let parse = |header: Value| {
            issuer
                .parse(&token(header, good_claims()))
                .map(|_| ())
                .map_err(|e| e.code())
        };
        assert_eq!(
            parse(json!({"alg": "ES256", "typ": "application/at+jwt"})),
            Ok(())
        );
        assert_eq!(parse(json!({"alg": "ES256", "typ": "JWT"})), Ok(()));
        assert_eq!(
            parse(json!({"alg": "EdDSA"})),
            Err("issuer_algorithm"),
            "not configured"
        );
        for header in [
            json!({"alg": "HS256"}),
            json!({"alg": "none"}),
            json!({"alg": "ES256", "typ": "logout+jwt"}),
            json!({"alg": "ES256", "jku": "https://evil.example/jwks"}),
            json!({"alg": "ES256", "jwk": {"kty": "EC"}}),
            json!({"alg": "ES256", "x5u": "https://evil.example/cert"}),
            json!({"alg": "ES256", "crit": ["exp"]}),
        ] {
            assert_eq!(parse(header.clone()), Err("issuer_malformed"), "{header}");
        }
        assert_eq!(
            issuer
                .parse(&"a".repeat(20_000))
                .map(|_| ())
                .map_err(|e| e.code()),
            Err("issuer_malformed")
        );
    }

    #[test]
    fn a_token_is_routed_by_the_issuer_it_names() {
        let trusted = issuers(json!([
            {"id": "a", "issuer": "https://a.example", "audiences": ["x"]},
            {"id": "b", "issuer": "https://b.example", "audiences": ["x"]},
        ]))
        .expect("valid");
        let named = |iss: Value| {
            let text = token(json!({"alg": "RS256"}), json!({"iss": iss}));
            trusted.for_token(&text).map(|issuer| issuer.id.clone())
        };
        assert_eq!(named(json!("https://b.example")), Some("b".into()));
        assert_eq!(named(json!("https://edge.test")), None, "ours");
        assert_eq!(named(json!("https://b.example/")), None, "exactly");
        assert_eq!(named(json!(["https://b.example"])), None);
        assert!(trusted.for_token("not.a.token").is_none());
        assert!(trusted.reserves("a:x") && !trusted.reserves("ab:x"));
    }

    #[test]
    fn configuration_defaults_and_refusals() {
        let only = issuers(
            json!([{"id": "corp", "issuer": "https://corp.example/", "audiences": ["api"]}]),
        )
        .expect("valid")
        .0
        .remove(0);
        assert_eq!(
            only.keys_at,
            KeysAt::Discovery("https://corp.example/.well-known/openid-configuration".into())
        );
        assert_eq!(only.algorithms.len(), 4);
        assert_eq!(only.max_lifetime_secs, DEFAULT_MAX_LIFETIME_SECS);
        let base = json!({"id": "corp", "issuer": "https://corp.example", "audiences": ["api"]});
        let refused = |change: Value| {
            let mut entry = base.clone();
            for (k, v) in change.as_object().expect("object") {
                entry[k] = v.clone();
            }
            issuers(json!([entry])).is_err()
        };
        assert!(!refused(json!({"jwks_uri": "https://corp.example/keys"})));
        for change in [
            json!({"id": "Corp"}),
            json!({"id": "service"}),
            json!({"id": "idp"}),
            json!({"mapping": {"sub": "plain"}}),
            json!({"issuer": "http://corp.example"}),
            json!({"issuer": "https://edge.test"}),
            json!({"jwks_uri": "http://corp.example/keys"}),
            json!({"audiences": []}),
            json!({"audiences": ["edgeauth"]}),
            json!({"algorithms": ["HS256"]}),
            json!({"algorithms": ["none"]}),
            json!({"algorithms": []}),
            json!({"max_lifetime_secs": 0}),
            json!({"max_lifetime_secs": 700_000}),
            json!({"unknown": 1}),
        ] {
            assert!(refused(change.clone()), "{change}");
        }
        assert!(
            issuers(json!([base.clone(), base.clone()])).is_err(),
            "twice"
        );
    }

    #[test]
    fn an_audience_that_is_a_providers_client_id_at_the_same_issuer_is_refused() {
        let provider = json!([{
            "id": "corp", "label": "Corp", "issuer": "https://corp.example",
            "client_id": "edge-client", "client_secret_secret": "CORP_SECRET",
        }])
        .to_string();
        let load = |audience: &str| {
            let issuers =
                json!([{"id": "api", "issuer": "https://corp.example", "audiences": [audience]}])
                    .to_string();
            let vars = Vars::new(|name| match name {
                "IDENTITY_PROVIDERS" => Some(provider.clone()),
                "CORP_SECRET" => Some("s".into()),
                "TRUSTED_ISSUERS" => Some(issuers.clone()),
                _ => None,
            });
            let providers = Providers::from_vars(&vars).expect("providers");
            TrustedIssuers::from_vars(&vars, &validation(), &providers).map(|_| ())
        };
        assert!(load("api://corp").is_ok());
        assert!(
            load("edge-client").is_err(),
            "its ID tokens would pass as access tokens"
        );
    }

    #[test]
    fn without_a_jti_the_sid_is_bound_to_the_signed_part_only() {
        let issuer = ci();
        let claims = with(&[("jti", Value::Null)]);
        let header = json!({"alg": "ES256", "kid": "k1"});
        let b64 = |value: &Value| base64url::encode(value.to_string().as_bytes());
        let signed = format!("{}.{}", b64(&header), b64(&claims));
        let sid = |signature: &[u8]| {
            let text = format!("{signed}.{}", base64url::encode(signature));
            let parsed = issuer.parse(&text).expect("parses");
            issuer
                .complete(parsed, true, &validation(), NOW)
                .expect("ok")
                .claims()
                .sid
                .clone()
        };
        assert_eq!(
            sid(&[1; 64]),
            sid(&[2; 64]),
            "another signature, the same token id"
        );
    }
}
