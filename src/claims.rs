//! The claims a session token carries, and the verified form only verification produces.

use crate::base64url;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The claims of a session token (RFC 7519 registered claims plus ours).
///
/// Unknown claims are kept in `extra` and otherwise ignored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer: who minted the token.
    pub iss: String,
    /// Audience: who the token is for. Serialized as a string when there is one value.
    #[serde(serialize_with = "audience_out", deserialize_with = "audience_in")]
    pub aud: Vec<String>,
    /// Subject: the user id.
    pub sub: String,
    /// Session id: random, at least 128 bits.
    pub sid: String,
    /// Issued at (Unix seconds).
    pub iat: u64,
    /// Expires at (Unix seconds). Required.
    pub exp: u64,
    /// Not before (Unix seconds), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// When the user authenticated (Unix seconds); bounds the session's absolute age.
    pub auth_time: u64,
    /// What the user may do.
    pub roles: Vec<String>,
    /// Display name, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email address, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Claims this version does not know; kept, never used for decisions.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Claims {
    /// Whether `aud` names `audience`.
    pub fn has_audience(&self, audience: &str) -> bool {
        self.aud.iter().any(|a| a == audience)
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Claims whose signature and validity were checked by [`crate::token::verify`].
///
/// There is no other way to build one, so holding a `VerifiedClaims` means the checks ran.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims {
    claims: Claims,
    kid: String,
}

impl VerifiedClaims {
    pub(crate) fn new(claims: Claims, kid: String) -> Self {
        VerifiedClaims { claims, kid }
    }

    /// The verified claims.
    pub fn claims(&self) -> &Claims {
        &self.claims
    }

    /// The id of the key that signed the token.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Takes the claims out.
    pub fn into_claims(self) -> Claims {
        self.claims
    }
}

/// A session id from 16 bytes of caller-supplied randomness (128 bits, base64url).
pub fn session_id(entropy: [u8; 16]) -> String {
    base64url::encode(&entropy)
}

fn audience_out<S: Serializer>(aud: &[String], s: S) -> Result<S::Ok, S::Error> {
    match aud {
        [one] => s.serialize_str(one),
        many => many.serialize(s),
    }
}

fn audience_in<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(one) => vec![one],
        OneOrMany::Many(many) => many,
    })
}
