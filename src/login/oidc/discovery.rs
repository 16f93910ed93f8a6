//! A provider's discovery document (OpenID Connect Discovery 1.0), held to the configured
//! issuer: a document naming another issuer is refused (§4.3), as is an endpoint that is not
//! https (http only for a provider on this machine).

use crate::encoding::http_url::HttpUrl;
use crate::encoding::strict_json;
use serde_json::Value;

use super::{OidcError, Provider};

/// Largest discovery document accepted, in bytes.
pub const MAX_DISCOVERY_BYTES: usize = 64 * 1024;

/// What the edge uses of a provider's discovery document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The issuer: exactly the configured one.
    pub issuer: String,
    /// Where the browser is sent to log in.
    pub authorization_endpoint: String,
    /// Where the edge exchanges the code.
    pub token_endpoint: String,
    /// The provider's signing keys.
    pub jwks_uri: String,
    /// Where `/auth/logout` continues, if the provider supports RP-initiated logout.
    pub end_session_endpoint: Option<String>,
}

impl Discovery {
    /// Parses `json` as `provider`'s discovery document.
    pub fn parse(json: &[u8], provider: &Provider) -> Result<Self, OidcError> {
        let document = Document::parse(json, &provider.issuer)?;
        let lists = |name: &str, wanted: &str| match document.fields.get(name) {
            None => true,
            Some(Value::Array(items)) => items.iter().any(|item| item.as_str() == Some(wanted)),
            Some(_) => false,
        };
        if !lists("response_types_supported", "code") {
            return Err(OidcError::new("discovery", "no code flow"));
        }
        // Absent means unknown, not refused: PKCE is sent anyway (RFC 7636 §4.4.1).
        if !lists("code_challenge_methods_supported", "S256") {
            return Err(OidcError::new("discovery", "no S256 PKCE"));
        }
        Ok(Discovery {
            issuer: provider.issuer.clone(),
            authorization_endpoint: document.endpoint("authorization_endpoint")?,
            token_endpoint: document.endpoint("token_endpoint")?,
            jwks_uri: document.endpoint("jwks_uri")?,
            end_session_endpoint: match document.fields.get("end_session_endpoint") {
                None => None,
                Some(_) => Some(document.endpoint("end_session_endpoint")?),
            },
        })
    }
}

/// The `jwks_uri` of `issuer`'s discovery document (OpenID Connect Discovery or RFC 8414,
/// which agree on these members), held to `issuer` like [`Discovery::parse`]: all a trusted
/// issuer of access tokens needs.
pub fn jwks_uri(json: &[u8], issuer: &str) -> Result<String, OidcError> {
    Document::parse(json, issuer)?.endpoint("jwks_uri")
}

/// A discovery document that names the expected issuer.
struct Document {
    fields: serde_json::Map<String, Value>,
    /// Whether the issuer is on this machine (plain http allowed for its endpoints).
    local: bool,
}

impl Document {
    fn parse(json: &[u8], issuer: &str) -> Result<Self, OidcError> {
        if json.len() > MAX_DISCOVERY_BYTES {
            return Err(OidcError::new("discovery", "too large"));
        }
        let fields = strict_json::parse_object(json)
            .map_err(|_| OidcError::new("discovery", "not a JSON object"))?;
        if fields.get("issuer").and_then(Value::as_str) != Some(issuer) {
            return Err(OidcError::new("discovery", "issuer does not match"));
        }
        // Plain http only for a provider on this machine: an https issuer's endpoints are https.
        let local = HttpUrl::parse(issuer).is_ok_and(|issuer| issuer.is_loopback());
        Ok(Document { fields, local })
    }

    fn endpoint(&self, name: &'static str) -> Result<String, OidcError> {
        let url = self
            .fields
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| OidcError::new("discovery", name))?;
        let parsed = HttpUrl::parse(url).map_err(|_| OidcError::new("discovery", name))?;
        let secure = parsed.scheme() == "https" || (self.local && parsed.is_loopback());
        if !secure || parsed.has_fragment() || parsed.has_credentials() {
            return Err(OidcError::new("discovery", name));
        }
        Ok(url.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Vars;
    use crate::login::oidc::Providers;

    fn provider() -> Providers {
        Providers::from_vars(&Vars::new(|name| match name {
            "IDENTITY_PROVIDERS" => Some(
                r#"[{"id": "corp", "label": "Corp", "issuer": "https://idp.example.com",
                    "client_id": "edge", "client_secret_secret": "S"}]"#
                    .into(),
            ),
            "S" => Some("s".into()),
            _ => None,
        }))
        .expect("valid")
    }

    fn document() -> Value {
        serde_json::json!({
            "issuer": "https://idp.example.com",
            "authorization_endpoint": "https://idp.example.com/auth",
            "token_endpoint": "https://idp.example.com/token",
            "jwks_uri": "https://idp.example.com/jwks",
            "response_types_supported": ["code", "id_token"],
            "code_challenge_methods_supported": ["plain", "S256"],
        })
    }

    fn parse(document: &Value) -> Result<Discovery, OidcError> {
        let providers = provider();
        let corp = providers.get("corp").expect("corp");
        Discovery::parse(document.to_string().as_bytes(), corp)
    }

    #[test]
    fn reads_the_endpoints_of_its_own_issuer() {
        let found = parse(&document()).expect("valid");
        assert_eq!(found.token_endpoint, "https://idp.example.com/token");
        assert_eq!(found.end_session_endpoint, None);
    }

    #[test]
    fn refuses_another_issuer_and_unsafe_endpoints() {
        for (name, value) in [
            ("issuer", "https://idp.example.com/"),
            ("issuer", "https://evil.example.com"),
            ("token_endpoint", "http://idp.example.com/token"),
            ("jwks_uri", "https://u:p@idp.example.com/jwks"),
            ("authorization_endpoint", "javascript:alert(1)"),
            ("end_session_endpoint", "http://idp.example.com/logout"),
            ("token_endpoint", "http://127.0.0.1/token"),
        ] {
            let mut changed = document();
            changed[name] = value.into();
            assert!(parse(&changed).is_err(), "{name} = {value}");
        }
        let mut no_s256 = document();
        no_s256["code_challenge_methods_supported"] = serde_json::json!(["plain"]);
        assert!(parse(&no_s256).is_err());
        let mut implicit_only = document();
        implicit_only["response_types_supported"] = serde_json::json!(["id_token"]);
        assert!(parse(&implicit_only).is_err());
        let mut missing = document();
        missing.as_object_mut().map(|d| d.remove("jwks_uri"));
        assert!(parse(&missing).is_err());
        assert!(Discovery::parse(
            b"{\"issuer\":1,\"issuer\":2}",
            provider().get("corp").expect("corp")
        )
        .is_err());
    }
}
