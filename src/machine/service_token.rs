//! Service tokens (`SERVICE_TOKENS=kv`): a client id and a high-entropy secret for a program
//! (a CI job, a partner's service), presented in two headers like Cloudflare Access's
//! `CF-Access-Client-Id`/`-Secret`. Workers KV holds, under `service-token:<client id>`, only
//! the secret's SHA-256 with the token's name, roles and expiry; `edgeauth service-token
//! create` makes one and prints the secret once. The origin sees `X-Auth-User:
//! service:<name>`; the log sees the client id (as the session id), never the secret.
//!
//! A secret of 256 random bits needs no slow hash: nobody can guess one from its digest, and
//! the comparison of digests is constant-time.

use crate::config::{ConfigError, Vars};
use crate::encoding::base64url;
use crate::login::{self, RecordError};
use crate::token::claims::{Claims, VerifiedClaims, Via};
use crate::token::error::Error;
use crate::token::validation::Validation;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Default header carrying the client id.
pub const DEFAULT_ID_HEADER: &str = "EdgeAuth-Client-Id";
/// Default header carrying the secret.
pub const DEFAULT_SECRET_HEADER: &str = "EdgeAuth-Client-Secret";
/// The namespace of service tokens' subjects: `service:<name>`.
pub const SUB_NAMESPACE: &str = "service";
/// The `machine` claim of a service token's identity.
pub const MACHINE_CLAIM: &str = "service_token";
/// Every secret starts with this, so that secret scanners can spot one that leaked.
pub const SECRET_PREFIX: &str = "eas_";
/// Random bytes in a client id (hex) and in a secret (base64url).
pub const ID_BYTES: usize = 16;
/// Random bytes in a secret: 256 bits.
pub const SECRET_BYTES: usize = 32;
/// Longest token name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;

/// Whether service tokens are accepted, and in which headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The header with the client id.
    pub id_header: String,
    /// The header with the secret.
    pub secret_header: String,
}

impl Settings {
    /// `SERVICE_TOKENS` (`off`, the default, or `kv`), `SERVICE_TOKEN_ID_HEADER` and
    /// `SERVICE_TOKEN_SECRET_HEADER`.
    pub fn from_vars(vars: &Vars) -> Result<Option<Self>, ConfigError> {
        let (id_header, secret_header) = header_names(vars)?;
        match vars.choice("SERVICE_TOKENS", &[("off", 0), ("kv", 1)])? {
            0 => Ok(None),
            _ => Ok(Some(Settings {
                id_header,
                secret_header,
            })),
        }
    }
}

/// The two header names, configured or default: withheld from the origin whether service
/// tokens are on or not, so a secret sent by mistake never travels further.
pub fn header_names(vars: &Vars) -> Result<(String, String), ConfigError> {
    let name = |var: &str, default: &str| -> Result<String, ConfigError> {
        let name = vars.text(var, default);
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(ConfigError(format!("{var}: {name:?} is not a header name")));
        }
        Ok(name)
    };
    let id = name("SERVICE_TOKEN_ID_HEADER", DEFAULT_ID_HEADER)?;
    let secret = name("SERVICE_TOKEN_SECRET_HEADER", DEFAULT_SECRET_HEADER)?;
    if id.eq_ignore_ascii_case(&secret) {
        return Err(ConfigError(
            "SERVICE_TOKEN_ID_HEADER and SERVICE_TOKEN_SECRET_HEADER must differ".into(),
        ));
    }
    Ok((id, secret))
}

/// The Workers KV key of a token's record.
pub fn record_key(client_id: &str) -> String {
    format!("service-token:{client_id}")
}

/// Whether `text` has the form of a client id: [`ID_BYTES`] in lowercase hex.
pub fn is_client_id(text: &str) -> bool {
    text.len() == 2 * ID_BYTES
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// A client id and secret as presented, well-formed but not checked. Its `Debug` leaves the
/// secret out.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Presented<'a> {
    /// The client id: [`ID_BYTES`] in lowercase hex.
    pub client_id: &'a str,
    secret: &'a str,
}

impl std::fmt::Debug for Presented<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("client_id", &self.client_id)
            .field("secret", &"***OMITTED***")
            .finish()
    }
}

impl<'a> Presented<'a> {
    /// Both header values, or `None` when either is not of the form `create` makes.
    pub fn parse(client_id: &'a str, secret: &'a str) -> Option<Self> {
        let client_id = client_id.trim();
        let secret = secret.trim();
        let id_ok = is_client_id(client_id);
        let secret_ok = secret
            .strip_prefix(SECRET_PREFIX)
            .and_then(base64url::decode)
            .is_some_and(|bytes| bytes.len() == SECRET_BYTES);
        (id_ok && secret_ok).then_some(Presented { client_id, secret })
    }
}

/// A token's record in Workers KV.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// What it is for: the origin sees `service:<name>`.
    pub name: String,
    /// Its roles.
    pub roles: Vec<String>,
    /// SHA-256 of the secret.
    pub secret_sha256: [u8; 32],
    /// When it was made (Unix seconds).
    pub created: u64,
    /// When it stops working (Unix seconds).
    pub expires: u64,
}

impl Record {
    /// A new token's record for `secret`.
    pub fn new(name: &str, roles: Vec<String>, secret: &str, created: u64, expires: u64) -> Self {
        Record {
            name: name.to_owned(),
            roles,
            secret_sha256: Sha256::digest(secret.as_bytes()).into(),
            created,
            expires,
        }
    }

    /// Parses a stored record strictly: a bad one refuses the token (fail closed).
    pub fn parse(text: &str) -> Result<Self, RecordError> {
        let object = login::object(text.as_bytes())?;
        let name = match object.get("name") {
            Some(Value::String(name)) if is_valid_name(name) => name.clone(),
            _ => return Err(RecordError("name is not 1 to 64 of a-z, 0-9, -, _ and .")),
        };
        let secret_sha256 = object
            .get("secret_sha256")
            .and_then(Value::as_str)
            .and_then(base64url::decode)
            .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
            .ok_or(RecordError("secret_sha256 is not 32 bytes of base64url"))?;
        let time = |field: &'static str| {
            object
                .get(field)
                .and_then(Value::as_u64)
                .ok_or(RecordError(field))
        };
        Ok(Record {
            name,
            roles: login::roles(&object)?,
            secret_sha256,
            created: time("created")?,
            expires: time("expires")?,
        })
    }

    /// The stored JSON.
    pub fn to_json(&self) -> String {
        let mut json = self.metadata();
        json["secret_sha256"] = base64url::encode(&self.secret_sha256).into();
        json.to_string()
    }

    /// What `service-token list` shows: the record without the digest (KV metadata).
    pub fn metadata(&self) -> Value {
        serde_json::json!({
            "name": self.name,
            "roles": self.roles,
            "created": self.created,
            "expires": self.expires,
        })
    }
}

/// Whether `name` may name a token: 1 to [`MAX_NAME_BYTES`] of `a-z`, `0-9`, `-`, `_`, `.`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=MAX_NAME_BYTES).contains(&name.len())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')
        })
}

/// A new client id and secret from `entropy` (the caller's randomness).
pub fn new_credentials(entropy: &[u8; ID_BYTES + SECRET_BYTES]) -> (String, String) {
    let (id, secret) = entropy.split_at(ID_BYTES);
    let client_id = id.iter().map(|b| format!("{b:02x}")).collect();
    (
        client_id,
        format!("{SECRET_PREFIX}{}", base64url::encode(secret)),
    )
}

fn refuse(code: &'static str) -> Error {
    Error::Credential(code)
}

/// Checks `presented` against its stored record (`None`: no such client id) at `now`: the
/// record readable, not expired, the secret's digest equal in constant time. The identity is
/// `service:<name>` with the record's roles, its session id the client id, valid for at most
/// `ttl_secs` (the assertion's lifetime) and never past the token's expiry.
pub fn check(
    presented: &Presented,
    stored: Option<&str>,
    validation: &Validation,
    ttl_secs: u64,
    now: u64,
) -> Result<VerifiedClaims, Error> {
    let stored = stored.ok_or_else(|| refuse("service_token_unknown"))?;
    let record = Record::parse(stored).map_err(|_| refuse("service_token_bad_record"))?;
    let digest: [u8; 32] = Sha256::digest(presented.secret.as_bytes()).into();
    if !bool::from(digest.ct_eq(&record.secret_sha256)) {
        return Err(refuse("service_token_wrong_secret"));
    }
    if now >= record.expires {
        return Err(refuse("service_token_expired"));
    }
    let mut extra = Map::new();
    extra.insert("machine".into(), Value::from(MACHINE_CLAIM));
    let claims = Claims {
        iss: validation.issuer.clone(),
        aud: vec![validation.audience.clone()],
        sub: format!("{SUB_NAMESPACE}:{}", record.name),
        sid: presented.client_id.to_owned(),
        iat: now,
        exp: record.expires.min(now.saturating_add(ttl_secs)),
        nbf: None,
        auth_time: now,
        roles: record.roles,
        name: None,
        email: None,
        extra,
    };
    Ok(VerifiedClaims::machine(
        claims,
        format!("{SUB_NAMESPACE}/{}", presented.client_id),
        Via::ServiceToken,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTROPY: [u8; ID_BYTES + SECRET_BYTES] = [0xab; ID_BYTES + SECRET_BYTES];

    fn validation() -> Validation {
        Validation::new("https://edge.test", "edgeauth")
    }

    fn stored(secret: &str, expires: u64) -> String {
        Record::new("ci", vec!["deploy".into()], secret, 100, expires).to_json()
    }

    #[test]
    fn a_created_token_is_accepted_with_its_name_and_roles() {
        let (id, secret) = new_credentials(&ENTROPY);
        assert_eq!(id.len(), 32);
        assert!(secret.starts_with("eas_") && secret.len() == 47, "{secret}");
        let presented = Presented::parse(&id, &secret).expect("well-formed");
        let record = stored(&secret, 10_000);
        let verified = check(&presented, Some(&record), &validation(), 3600, 1000).expect("ok");
        let claims = verified.claims();
        assert_eq!(claims.sub, "service:ci");
        assert_eq!(claims.roles, ["deploy"]);
        assert_eq!(claims.sid, id);
        assert_eq!(
            (claims.iat, claims.exp, claims.auth_time),
            (1000, 4600, 1000)
        );
        assert_eq!(claims.extra["machine"], "service_token");
        assert_eq!(verified.via(), Via::ServiceToken);
        assert!(!verified.is_session());
        // Never past the token's own expiry.
        let record = stored(&secret, 2000);
        let verified = check(&presented, Some(&record), &validation(), 3600, 1000).expect("ok");
        assert_eq!(verified.claims().exp, 2000);
    }

    #[test]
    fn wrong_secret_expired_unknown_and_bad_records_are_refused() {
        let (id, secret) = new_credentials(&ENTROPY);
        let (_, other) = new_credentials(&[9; ID_BYTES + SECRET_BYTES]);
        let presented = Presented::parse(&id, &other).expect("well-formed");
        let code = |presented: &Presented, stored: Option<&str>, now| match check(
            presented,
            stored,
            &validation(),
            3600,
            now,
        ) {
            Ok(_) => "accepted",
            Err(e) => e.code(),
        };
        assert_eq!(
            code(&presented, Some(&stored(&secret, 10_000)), 1000),
            "service_token_wrong_secret"
        );
        let right = Presented::parse(&id, &secret).expect("well-formed");
        assert_eq!(
            code(&right, Some(&stored(&secret, 1000)), 1000),
            "service_token_expired"
        );
        assert_eq!(code(&right, None, 1000), "service_token_unknown");
        for bad in [
            "",
            "{}",
            "[]",
            r#"{"name":"ci","roles":[],"secret_sha256":"AAAA","created":1,"expires":9}"#,
            r#"{"name":"CI","roles":[],"secret_sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","created":1,"expires":9}"#,
            r#"{"name":"ci","name":"x","roles":[],"secret_sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","created":1,"expires":9}"#,
            r#"{"name":"ci","roles":[1],"secret_sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","created":1,"expires":9}"#,
            r#"{"name":"ci","roles":[],"secret_sha256":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","created":1}"#,
        ] {
            assert_eq!(
                code(&right, Some(bad), 1),
                "service_token_bad_record",
                "{bad}"
            );
        }
    }

    #[test]
    fn only_well_formed_credentials_are_read() {
        let (id, secret) = new_credentials(&ENTROPY);
        assert!(Presented::parse(&format!(" {id} "), &secret).is_some());
        for (id, secret) in [
            (&id[1..], secret.as_str()),
            (&id.to_uppercase(), secret.as_str()),
            (id.as_str(), &secret[4..]),
            (id.as_str(), &secret[..46]),
            (id.as_str(), "eas_"),
            (id.as_str(), ""),
            ("", secret.as_str()),
        ] {
            assert!(Presented::parse(id, secret).is_none(), "{id} {secret}");
        }
    }

    #[test]
    fn debug_output_never_holds_the_secret() {
        let (id, secret) = new_credentials(&ENTROPY);
        let shown = format!("{:?}", Presented::parse(&id, &secret).expect("well-formed"));
        assert!(
            shown.contains(&id) && !shown.contains(&secret[4..]),
            "{shown}"
        );
    }

    #[test]
    fn the_record_never_holds_the_secret() {
        let (_, secret) = new_credentials(&ENTROPY);
        let record = stored(&secret, 10);
        assert!(!record.contains(&secret[4..]), "{record}");
        assert_eq!(Record::parse(&record).expect("parses").name, "ci");
        assert!(Record::new("ci", vec![], &secret, 1, 2)
            .metadata()
            .get("secret_sha256")
            .is_none());
    }

    #[test]
    fn names_are_plain_words() {
        assert!(is_valid_name("ci-deploy.prod_1"));
        for bad in ["", "CI", "a b", "a:b", &"a".repeat(65)] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }
}
