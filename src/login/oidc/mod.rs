//! Single sign-on with OpenID Connect providers (authorization code flow with PKCE), storeless:
//! what the edge reads and decides. The adapter (`adapter/login/oidc.rs`, `adapter/auth/sso.rs`,
//! `adapter/auth/callback.rs`) fetches and verifies signatures with WebCrypto.
//!
//! - [`Provider`]: one entry of `IDENTITY_PROVIDERS`, validated at load.
//! - [`discovery`]: the provider's `/.well-known/openid-configuration`, held to its issuer.
//! - [`jwks`]: the provider's public keys, and which one may check a given token.
//! - [`id_token`]: the ID token, checked as OIDC Core §3.1.3.7 requires.
//! - [`transaction`]: the login in flight (state, nonce, PKCE verifier, `next`), sealed in a
//!   short-lived cookie instead of a store.
//! - [`mapping`]: how a provider's identity becomes our session, and who may log in.

pub mod discovery;
pub mod github;
pub mod id_token;
pub mod jwks;
pub mod mapping;
pub mod transaction;

use std::fmt;

use crate::config::{ConfigError, Vars};
use crate::encoding::http_url::HttpUrl;
use crate::encoding::strict_json;
use mapping::Mapping;
use serde::Deserialize;
use zeroize::Zeroizing;

/// Most providers one deployment may configure.
pub const MAX_PROVIDERS: usize = 16;
/// Longest provider id, in bytes: it is part of paths and cookie names.
pub const MAX_ID_BYTES: usize = 32;

/// How the client authenticates at the token endpoint (OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenAuth {
    /// HTTP Basic with the client id and secret (the default).
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
}

/// What kind of provider an entry is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// An OpenID Connect provider, found through discovery.
    Oidc,
    /// GitHub: OAuth 2.0 without ID tokens; the identity comes from its user API.
    GitHub(github::Endpoints),
}

/// One identity provider the edge logs users in with.
pub struct Provider {
    /// OpenID Connect or GitHub.
    pub kind: Kind,
    /// Its id: lowercase letters, digits and `-`; in `/auth/sso/<id>` and `/auth/callback/<id>`.
    pub id: String,
    /// What the login page's button says: "Sign in with <label>".
    pub label: String,
    /// The issuer, exactly as the provider states it in discovery and in its ID tokens (for
    /// GitHub, its web URL: it issues no ID tokens).
    pub issuer: String,
    /// The client id registered at the provider.
    pub client_id: String,
    /// The client secret, read from the Worker secret the entry names (never a var).
    pub client_secret: Zeroizing<String>,
    /// How the client authenticates at the token endpoint.
    pub token_auth: TokenAuth,
    /// The scopes asked for; always with `openid`.
    pub scopes: Vec<String>,
    /// How its identities become our sessions.
    pub mapping: Mapping,
    /// Whether a browser's `/auth/logout` continues to the provider's `end_session_endpoint`
    /// (OpenID Connect RP-Initiated Logout), ending the session there too.
    pub end_session: bool,
}

impl fmt::Debug for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provider")
            .field("id", &self.id)
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***OMITTED***")
            .finish_non_exhaustive()
    }
}

/// An `IDENTITY_PROVIDERS` entry as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProviderJson {
    id: String,
    label: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    web_url: Option<String>,
    #[serde(default)]
    api_url: Option<String>,
    client_id: String,
    /// The name of the Worker secret holding the client secret.
    client_secret_secret: String,
    #[serde(default)]
    token_auth: Option<TokenAuth>,
    #[serde(default)]
    scopes: Option<Vec<String>>,
    #[serde(default)]
    mapping: Option<mapping::MappingJson>,
    #[serde(default)]
    end_session: bool,
}

/// The configured providers, in the order the login page shows them.
#[derive(Debug, Default)]
pub struct Providers(Vec<Provider>);

impl Providers {
    /// `IDENTITY_PROVIDERS` (a JSON array, default none), each client secret read from the
    /// secret its entry names.
    pub fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let Some(text) = vars.get("IDENTITY_PROVIDERS") else {
            return Ok(Providers::default());
        };
        let fail = |detail: String| ConfigError(format!("IDENTITY_PROVIDERS{detail}"));
        let items = strict_json::parse_array(text.as_bytes())
            .map_err(|_| fail(" is not a JSON array without duplicate keys".into()))?;
        if items.len() > MAX_PROVIDERS {
            return Err(fail(format!(": at most {MAX_PROVIDERS} providers")));
        }
        let mut providers: Vec<Provider> = Vec::with_capacity(items.len());
        for (index, item) in items.into_iter().enumerate() {
            let at = |detail: String| fail(format!("[{index}]: {detail}"));
            let entry: ProviderJson =
                serde_json::from_value(item).map_err(|e| at(e.to_string()))?;
            let provider = Provider::from_entry(entry, vars).map_err(at)?;
            if providers.iter().any(|other| other.id == provider.id) {
                return Err(at(format!("id {:?} is used twice", provider.id)));
            }
            providers.push(provider);
        }
        Ok(Providers(providers))
    }

    /// The provider with `id`.
    pub fn get(&self, id: &str) -> Option<&Provider> {
        self.0.iter().find(|provider| provider.id == id)
    }

    /// Every provider.
    pub fn iter(&self) -> impl Iterator<Item = &Provider> {
        self.0.iter()
    }

    /// Whether none is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `sub` lies in a provider's namespace (`<id>:…`): a session `sub` only that
    /// provider may produce, never a password store, so no other login can pose as its users.
    pub fn reserves(&self, sub: &str) -> bool {
        self.0
            .iter()
            .any(|provider| in_namespace(sub, &provider.id))
    }
}

/// Whether `sub` lies in the namespace `id` (`<id>:…`), as a provider's, a trusted issuer's and
/// service tokens' subjects do.
pub fn in_namespace(sub: &str, id: &str) -> bool {
    sub.strip_prefix(id)
        .is_some_and(|rest| rest.starts_with(':'))
}

/// An id of a provider or a trusted issuer: 1 to [`MAX_ID_BYTES`] of `a-z`, `0-9` and `-` (it is
/// a namespace of subjects, and part of paths and cookie names).
pub(crate) fn check_id(id: &str) -> Result<(), String> {
    let fits = (1..=MAX_ID_BYTES).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if fits {
        Ok(())
    } else {
        Err(format!(
            "id {id:?} must be 1 to {MAX_ID_BYTES} of a-z, 0-9 and -"
        ))
    }
}

impl Provider {
    fn from_entry(entry: ProviderJson, vars: &Vars) -> Result<Self, String> {
        check_id(&entry.id)?;
        if entry.label.is_empty()
            || entry.label.len() > 64
            || entry.label.contains(char::is_control)
        {
            return Err("label must be 1 to 64 characters without controls".into());
        }
        let (kind, issuer) = match entry.kind.as_deref().unwrap_or("oidc") {
            "oidc" => {
                if entry.web_url.is_some() || entry.api_url.is_some() {
                    return Err("web_url and api_url are for kind github".into());
                }
                let issuer = entry.issuer.ok_or("issuer is missing")?;
                base_url("issuer", &issuer)?;
                (Kind::Oidc, issuer)
            }
            "github" => {
                if entry.issuer.is_some() || entry.end_session {
                    return Err("kind github has no issuer and no end_session".into());
                }
                let web = entry.web_url.as_deref().unwrap_or(github::WEB_URL);
                let api = entry.api_url.as_deref().unwrap_or(github::API_URL);
                base_url("web_url", web)?;
                base_url("api_url", api)?;
                let endpoints = github::Endpoints::new(web, api);
                let issuer = endpoints.web_url.clone();
                (Kind::GitHub(endpoints), issuer)
            }
            other => return Err(format!("kind {other:?} is not \"oidc\" or \"github\"")),
        };
        if entry.client_id.is_empty() || !entry.client_id.bytes().all(|b| b.is_ascii_graphic()) {
            return Err("client_id must be visible ASCII".into());
        }
        // A name, never the secret itself: what is not a name is not echoed.
        let name = &entry.client_secret_secret;
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(
                "client_secret_secret must name a secret (A-Z, 0-9, _), not hold one".into(),
            );
        }
        let client_secret = vars
            .get(name)
            .ok_or_else(|| format!("the secret {name} named by client_secret_secret is not set"))?;
        let is_oidc = kind == Kind::Oidc;
        let mut scopes = entry.scopes.unwrap_or_else(|| {
            let defaults: &[&str] = if is_oidc {
                &["openid", "email", "profile"]
            } else {
                &["read:user", "user:email"]
            };
            defaults.iter().map(|scope| (*scope).to_owned()).collect()
        });
        if scopes
            .iter()
            .any(|scope| scope.is_empty() || !scope.bytes().all(|b| b.is_ascii_graphic()))
        {
            return Err("scopes must be visible ASCII words".into());
        }
        if is_oidc && !scopes.iter().any(|scope| scope == "openid") {
            scopes.insert(0, "openid".into());
        }
        let mapping = Mapping::from_json(entry.mapping.unwrap_or_default())?;
        Ok(Provider {
            kind,
            id: entry.id,
            label: entry.label,
            // As written: discovery and ID tokens must state exactly this (OIDC Discovery §4.3).
            issuer,
            client_id: entry.client_id,
            client_secret: Zeroizing::new(client_secret),
            token_auth: entry.token_auth.unwrap_or(TokenAuth::ClientSecretBasic),
            scopes,
            mapping,
            end_session: entry.end_session,
        })
    }

    /// The discovery document's URL (OIDC Discovery §4: the issuer, then the well-known path).
    pub fn discovery_url(&self) -> String {
        format!(
            "{}/.well-known/openid-configuration",
            self.issuer.trim_end_matches('/')
        )
    }

    /// Where the provider sends the browser after an RP-initiated logout, for an edge at
    /// `origin`: the login page (register it as a post-logout redirect URI).
    pub fn post_logout_redirect_uri(&self, origin: &str) -> String {
        format!("{origin}/auth/login")
    }

    /// The redirect URI to register at the provider, for an edge at `origin` (`scheme://host`).
    pub fn redirect_uri(&self, origin: &str) -> String {
        format!("{origin}/auth/callback/{}", self.id)
    }
}

/// Checks a configured base URL: https (http only for this machine), no query, fragment or
/// credentials.
pub(crate) fn base_url(name: &str, text: &str) -> Result<(), String> {
    let url = HttpUrl::parse(text).map_err(|e| format!("{name}: {e}"))?;
    if !url.is_secure_or_loopback() {
        return Err(format!(
            "{name} must be https (http only for localhost or 127.0.0.1)"
        ));
    }
    if url.has_query() || url.has_fragment() || url.has_credentials() {
        return Err(format!(
            "{name} must not have a query, fragment or credentials"
        ));
    }
    Ok(())
}

/// Why a provider's answer or token was refused. The detail is for the log only: the browser
/// is shown one generic message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcError(pub String);

impl OidcError {
    /// An error with a stable code and an optional detail (`code:detail`).
    pub fn new(code: &str, detail: impl fmt::Display) -> Self {
        OidcError(format!("{code}:{detail}"))
    }
}

impl fmt::Display for OidcError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn providers(json: &str, secrets: &[(&str, &str)]) -> Result<Providers, ConfigError> {
        let json = json.to_owned();
        let secrets: Vec<(String, String)> = secrets
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Providers::from_vars(&Vars::new(move |name| {
            if name == "IDENTITY_PROVIDERS" {
                return Some(json.clone());
            }
            secrets
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }))
    }

    const ONE: &str = r#"[{"id": "corp", "label": "Corp", "issuer": "https://idp.example.com",
        "client_id": "edge", "client_secret_secret": "CORP_SECRET"}]"#;

    #[test]
    fn a_minimal_provider_gets_safe_defaults() {
        let providers = providers(ONE, &[("CORP_SECRET", "s3cret")]).expect("valid");
        let corp = providers.get("corp").expect("corp");
        assert_eq!(corp.scopes, ["openid", "email", "profile"]);
        assert_eq!(corp.token_auth, TokenAuth::ClientSecretBasic);
        assert_eq!(corp.client_secret.as_str(), "s3cret");
        assert_eq!(
            corp.discovery_url(),
            "https://idp.example.com/.well-known/openid-configuration"
        );
        assert_eq!(
            corp.redirect_uri("https://edge.example"),
            "https://edge.example/auth/callback/corp"
        );
        assert!(!format!("{corp:?}").contains("s3cret"));
    }

    #[test]
    fn refuses_what_would_be_unsafe_or_ambiguous() {
        let secret = [("CORP_SECRET", "s3cret")];
        for (json, expect) in [
            (
                ONE.replace("https://idp", "http://idp"),
                "issuer must be https",
            ),
            (ONE.replace("\"corp\"", "\"Corp\""), "id"),
            (ONE.replace("\"corp\"", "\"a/b\""), "id"),
            (ONE.replace("CORP_SECRET", "MISSING"), "MISSING"),
            (
                ONE.replace("CORP_SECRET", "s3cret-pasted"),
                "must name a secret",
            ),
            (
                ONE.replace("\"edge\"", "\"edge\", \"extra\": 1"),
                "unknown field",
            ),
            (
                ONE.replace("https://idp.example.com", "https://idp.example.com/?x=1"),
                "query",
            ),
            (format!("[{0}, {0}]", &ONE[1..ONE.len() - 1]), "used twice"),
            ("{}".into(), "JSON array"),
        ] {
            let err = providers(&json, &secret).expect_err(expect);
            assert!(err.0.contains(expect), "{expect}: {err}");
            assert!(!err.0.contains("s3cret"), "{err}");
        }
    }

    #[test]
    fn a_providers_namespace_is_its_own() {
        let providers = providers(ONE, &[("CORP_SECRET", "s")]).expect("valid");
        assert!(providers.reserves("corp:alice"));
        assert!(!providers.reserves("corpx:alice"));
        assert!(!providers.reserves("corp"));
        assert!(!providers.reserves("alice"));
    }

    #[test]
    fn loopback_issuers_may_be_plain_http_for_development() {
        for issuer in ["http://127.0.0.1:9000", "http://localhost:9000/realm"] {
            let json = ONE.replace("https://idp.example.com", issuer);
            let providers = providers(&json, &[("CORP_SECRET", "s")]).expect(issuer);
            assert_eq!(
                providers.get("corp").map(|p| p.issuer.as_str()),
                Some(issuer)
            );
        }
    }

    #[test]
    fn a_github_entry_needs_no_issuer_and_asks_for_no_openid() {
        let json = r#"[{"id": "gh", "label": "GitHub", "kind": "github", "client_id": "c",
            "client_secret_secret": "S"}]"#;
        let providers = providers(json, &[("S", "s")]).expect("valid");
        let gh = providers.get("gh").expect("gh");
        assert_eq!(gh.scopes, ["read:user", "user:email"]);
        let Kind::GitHub(endpoints) = &gh.kind else {
            panic!("github");
        };
        assert_eq!(
            endpoints.token_endpoint(),
            "https://github.com/login/oauth/access_token"
        );
        assert_eq!(endpoints.user_url(), "https://api.github.com/user");
        for (bad, expect) in [
            (
                json.replace("\"c\",", "\"c\", \"issuer\": \"https://x\","),
                "no issuer",
            ),
            (
                json.replace("\"c\",", "\"c\", \"web_url\": \"http://gh.example\","),
                "web_url must be https",
            ),
            (json.replace("github\"", "gitlab\""), "is not"),
        ] {
            let err = providers_err(&bad);
            assert!(err.contains(expect), "{expect}: {err}");
        }
        let oidc_with_web = ONE.replace("\"edge\",", "\"edge\", \"web_url\": \"https://x\",");
        assert!(providers_err(&oidc_with_web).contains("kind github"));
    }

    fn providers_err(json: &str) -> String {
        providers(json, &[("S", "s"), ("CORP_SECRET", "s")])
            .expect_err("refused")
            .0
    }

    #[test]
    fn openid_is_always_asked_for() {
        let json = ONE.replace("\"edge\",", "\"edge\", \"scopes\": [\"email\"],");
        let providers = providers(&json, &[("CORP_SECRET", "s")]).expect("valid");
        assert_eq!(
            providers.get("corp").map(|p| p.scopes.clone()),
            Some(vec!["openid".to_owned(), "email".to_owned()])
        );
    }
}
