//! The claims a session token carries, and the verified form only verification produces.

use crate::encoding::base64url;
use crate::encoding::strict_json::{self, StrictJsonError};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// The claims [`Claims`] has a field for, in the order of its fields ([`Claims::from_json`]
/// picks them out by name; anything else lands in `extra`).
pub const MEMBERS: [&str; 11] = [
    "iss",
    "aud",
    "sub",
    "sid",
    "iat",
    "exp",
    "nbf",
    "auth_time",
    "roles",
    "name",
    "email",
];

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
    /// Parses a token payload: one strict JSON object ([`strict_json`]: no duplicate member
    /// names at any depth) whose members convert exactly as deserializing it with `serde` would
    /// (`Invalid` exactly when `serde` refuses). The claims are picked out by name as the JSON is
    /// read, without `serde`'s buffering of flattened structs or a map per claim, which
    /// dominated verification's own cost in wasm.
    pub fn from_json(payload: &[u8]) -> Result<Claims, StrictJsonError> {
        let (members, extra) = strict_json::parse_members(payload, &MEMBERS)?;
        Self::from_members(members, extra).ok_or(StrictJsonError::Invalid)
    }

    fn from_members(
        members: [Option<Value>; MEMBERS.len()],
        extra: Map<String, Value>,
    ) -> Option<Claims> {
        let [iss, aud, sub, sid, iat, exp, nbf, auth_time, roles, name, email] = members;
        Some(Claims {
            iss: string(iss?)?,
            aud: match aud? {
                Value::String(one) => vec![one],
                many => strings(many)?,
            },
            sub: string(sub?)?,
            sid: string(sid?)?,
            iat: iat?.as_u64()?,
            exp: exp?.as_u64()?,
            nbf: optional(nbf, |v| v.as_u64())?,
            auth_time: auth_time?.as_u64()?,
            roles: strings(roles?)?,
            name: optional(name, string)?,
            email: optional(email, string)?,
            extra,
        })
    }

    /// Whether `aud` names `audience`.
    pub fn has_audience(&self, audience: &str) -> bool {
        self.aud.iter().any(|a| a == audience)
    }

    /// Whether the user has `role`.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Claims whose signature and validity were checked by [`crate::token::verify`], or the
/// identity of a machine credential checked by [`crate::machine`].
///
/// There is no other way to build one, so holding a `VerifiedClaims` means the checks ran.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedClaims {
    claims: Claims,
    kid: String,
    via: Via,
}

/// What vouched for a [`VerifiedClaims`]. Only a [`Via::Session`] is ours: it may be renewed
/// and may use the `/auth/*` routes; a machine identity only passes the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Our own session token, signed with our key.
    Session,
    /// An access token of a trusted external issuer (`TRUSTED_ISSUERS`).
    Issuer,
    /// A service token (`SERVICE_TOKENS`).
    ServiceToken,
}

impl VerifiedClaims {
    pub(crate) fn new(claims: Claims, kid: String) -> Self {
        VerifiedClaims {
            claims,
            kid,
            via: Via::Session,
        }
    }

    /// A machine identity: `claims` restated from a credential [`crate::machine`] checked.
    pub(crate) fn machine(claims: Claims, kid: String, via: Via) -> Self {
        VerifiedClaims { claims, kid, via }
    }

    /// What vouched for these claims.
    pub fn via(&self) -> Via {
        self.via
    }

    /// Whether these are the claims of our own session token.
    pub fn is_session(&self) -> bool {
        self.via == Via::Session
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

fn string(value: Value) -> Option<String> {
    match value {
        Value::String(text) => Some(text),
        _ => None,
    }
}

fn strings(value: Value) -> Option<Vec<String>> {
    match value {
        Value::Array(items) => items.into_iter().map(string).collect(),
        _ => None,
    }
}

/// An optional member: absent or `null` is `Some(None)`, a value `convert` refuses is `None`.
fn optional<T>(
    value: Option<Value>,
    convert: impl FnOnce(Value) -> Option<T>,
) -> Option<Option<T>> {
    match value {
        None | Some(Value::Null) => Some(None),
        Some(value) => convert(value).map(Some),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// `from_json` agrees with `serde` on every claim set to every kind of JSON value.
    #[test]
    fn from_json_agrees_with_serde() {
        let base = json!({
            "iss": "https://edge.test", "aud": "edgeauth", "sub": "alice", "sid": "c2lk",
            "iat": 10, "exp": 20, "nbf": 5, "auth_time": 10, "roles": ["user"],
            "name": "Alice", "email": "a@example.com", "extra": {"x": [1, 2.5]}
        });
        let values = [
            None,
            Some(json!(null)),
            Some(json!("s")),
            Some(json!("")),
            Some(json!(0)),
            Some(json!(1)),
            Some(json!(-1)),
            Some(json!(1.5)),
            Some(json!(1.0)),
            Some(json!(u64::MAX)),
            Some(json!(true)),
            Some(json!([])),
            Some(json!(["a"])),
            Some(json!(["a", "b"])),
            Some(json!(["a", 1])),
            Some(json!({})),
        ];
        let Value::Object(base) = base else {
            panic!("object")
        };
        let mut compared = 0;
        let fields: Vec<String> = base.keys().cloned().chain(["other".to_owned()]).collect();
        for field in fields {
            for value in &values {
                let mut object = base.clone();
                match value {
                    None => {
                        object.remove(&field);
                    }
                    Some(v) => {
                        object.insert(field.clone(), v.clone());
                    }
                }
                let json = serde_json::to_vec(&object).expect("serializes");
                let by_serde: Option<Claims> = serde_json::from_slice(&json).ok();
                assert_eq!(
                    Claims::from_json(&json).ok(),
                    by_serde,
                    "{field} = {value:?}"
                );
                compared += 1;
            }
        }
        assert_eq!(compared, 13 * values.len());
    }

    /// The same agreement on number forms `serde_json` never writes itself.
    #[test]
    fn from_json_agrees_with_serde_on_raw_numbers() {
        for number in [
            "1e2",
            "-0",
            "0",
            "1.0",
            "1E0",
            "18446744073709551615",
            "18446744073709551616",
            "-1",
            "00",
            "1.5e300",
        ] {
            let json = format!(
                r#"{{"iss":"i","aud":"a","sub":"s","sid":"x","iat":{number},"exp":2,"auth_time":1,"roles":[]}}"#
            );
            let by_serde: Option<Claims> = serde_json::from_str(&json).ok();
            assert_eq!(
                Claims::from_json(json.as_bytes()).ok(),
                by_serde,
                "{number}"
            );
        }
    }
}
