//! The JSON bodies of the passkey routes, parsed strictly (one object, no duplicate members at
//! any depth) into bytes. A credential is what `PublicKeyCredential.toJSON()` gives (the page's
//! script builds the same shape where the browser lacks it): binary members in base64url.

use serde::Deserialize;
use serde_json::Value;

use crate::encoding::{base64url, strict_json};

use super::PasskeyError;

/// `POST /auth/passkeys/{register,sign-in}/options`.
#[derive(Debug, Default, Deserialize)]
pub struct OptionsBody {
    /// A username-first sign-in's username.
    #[serde(default)]
    pub username: Option<String>,
    /// The enrollment link's token, for a first passkey.
    #[serde(default)]
    pub enrollment: Option<String>,
}

/// `POST /auth/passkeys/register`.
#[derive(Debug)]
pub struct RegistrationBody {
    /// `rawId`.
    pub id: Vec<u8>,
    /// `response.clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `response.attestationObject`.
    pub attestation_object: Vec<u8>,
    /// `response.transports`.
    pub transports: Vec<String>,
    /// The name the user gave it.
    pub name: Option<String>,
    /// The enrollment link's token, for a first passkey.
    pub enrollment: Option<String>,
}

/// `POST /auth/passkeys/sign-in`.
#[derive(Debug)]
pub struct SignInBody {
    /// `rawId`.
    pub id: Vec<u8>,
    /// `response.clientDataJSON`.
    pub client_data_json: Vec<u8>,
    /// `response.authenticatorData`.
    pub authenticator_data: Vec<u8>,
    /// `response.signature`.
    pub signature: Vec<u8>,
    /// `response.userHandle`, if the browser sent one.
    pub user_handle: Option<Vec<u8>>,
    /// Where to go afterwards (made safe by the caller).
    pub next: Option<String>,
}

/// `POST /auth/passkeys/{rename,remove}`.
#[derive(Debug)]
pub struct ManageBody {
    /// The credential's id.
    pub id: Vec<u8>,
    /// The new name (rename).
    pub name: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    credential: Option<Credential>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    enrollment: Option<String>,
    #[serde(default)]
    next: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct Credential {
    id: String,
    #[serde(rename = "rawId")]
    raw_id: String,
    #[serde(rename = "type")]
    kind: String,
    response: Response,
}

#[derive(Deserialize)]
struct Response {
    #[serde(rename = "clientDataJSON")]
    client_data_json: String,
    #[serde(rename = "attestationObject", default)]
    attestation_object: Option<String>,
    #[serde(default)]
    transports: Vec<String>,
    #[serde(rename = "authenticatorData", default)]
    authenticator_data: Option<String>,
    #[serde(default)]
    signature: Option<String>,
    #[serde(rename = "userHandle", default)]
    user_handle: Option<String>,
}

fn malformed() -> PasskeyError {
    PasskeyError("body_malformed")
}

fn parse<T: for<'de> Deserialize<'de>>(body: &[u8]) -> Result<T, PasskeyError> {
    let object = strict_json::parse_object(body).map_err(|_| malformed())?;
    serde_json::from_value(Value::Object(object)).map_err(|_| malformed())
}

fn bytes(text: &str) -> Result<Vec<u8>, PasskeyError> {
    base64url::decode(text).ok_or_else(malformed)
}

/// The credential of a body, with `id` and `rawId` agreeing and `type` `public-key`.
fn credential(envelope: &mut Envelope) -> Result<(Vec<u8>, Response), PasskeyError> {
    let credential = envelope.credential.take().ok_or_else(malformed)?;
    let id = bytes(&credential.raw_id)?;
    if credential.kind != "public-key" || bytes(&credential.id)? != id || id.is_empty() {
        return Err(malformed());
    }
    Ok((id, credential.response))
}

impl OptionsBody {
    /// Parses the body; an empty body is an empty object.
    pub fn parse(body: &[u8]) -> Result<Self, PasskeyError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(OptionsBody::default());
        }
        parse(body)
    }
}

impl RegistrationBody {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, PasskeyError> {
        let mut envelope: Envelope = parse(body)?;
        let (id, response) = credential(&mut envelope)?;
        Ok(RegistrationBody {
            id,
            client_data_json: bytes(&response.client_data_json)?,
            attestation_object: bytes(
                response
                    .attestation_object
                    .as_deref()
                    .ok_or_else(malformed)?,
            )?,
            transports: response.transports,
            name: envelope.name,
            enrollment: envelope.enrollment,
        })
    }
}

impl SignInBody {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, PasskeyError> {
        let mut envelope: Envelope = parse(body)?;
        let (id, response) = credential(&mut envelope)?;
        Ok(SignInBody {
            id,
            client_data_json: bytes(&response.client_data_json)?,
            authenticator_data: bytes(
                response
                    .authenticator_data
                    .as_deref()
                    .ok_or_else(malformed)?,
            )?,
            signature: bytes(response.signature.as_deref().ok_or_else(malformed)?)?,
            user_handle: match response.user_handle.as_deref() {
                None | Some("") => None,
                Some(handle) => Some(bytes(handle)?),
            },
            next: envelope.next,
        })
    }
}

impl ManageBody {
    /// Parses the body.
    pub fn parse(body: &[u8]) -> Result<Self, PasskeyError> {
        let envelope: Envelope = parse(body)?;
        Ok(ManageBody {
            id: bytes(envelope.id.as_deref().ok_or_else(malformed)?)?,
            name: envelope.name,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIGN_IN: &str = r#"{"credential":{"id":"AQI","rawId":"AQI","type":"public-key","response":{"clientDataJSON":"e30","authenticatorData":"AA","signature":"AA","userHandle":"Aw"},"clientExtensionResults":{},"authenticatorAttachment":"platform"},"next":"/app"}"#;

    #[test]
    fn a_browsers_assertion_is_read_into_bytes() {
        let body = SignInBody::parse(SIGN_IN.as_bytes()).expect("valid");
        assert_eq!(body.id, [1, 2]);
        assert_eq!(body.client_data_json, b"{}");
        assert_eq!(body.user_handle, Some(vec![3]));
        assert_eq!(body.next.as_deref(), Some("/app"));
    }

    #[test]
    fn disagreeing_ids_duplicates_and_bad_base64_are_refused() {
        for bad in [
            SIGN_IN.replace(r#""id":"AQI""#, r#""id":"AQM""#),
            SIGN_IN.replace(r#""type":"public-key""#, r#""type":"password""#),
            SIGN_IN.replace(r#""signature":"AA""#, r#""signature":"A+A""#),
            SIGN_IN.replace(r#","next":"/app""#, r#","next":"/app","next":"/x""#),
            SIGN_IN.replace(r#""signature":"AA","#, ""),
            "[]".into(),
            "".into(),
        ] {
            assert_eq!(
                SignInBody::parse(bad.as_bytes()).map(|_| ()),
                Err(PasskeyError("body_malformed")),
                "{bad}"
            );
        }
        assert!(
            RegistrationBody::parse(SIGN_IN.as_bytes()).is_err(),
            "no attestationObject"
        );
    }

    #[test]
    fn an_empty_options_body_asks_for_a_username_less_ceremony() {
        let body = OptionsBody::parse(b"").expect("valid");
        assert!(body.username.is_none() && body.enrollment.is_none());
        let body = OptionsBody::parse(br#"{"username":"alice"}"#).expect("valid");
        assert_eq!(body.username.as_deref(), Some("alice"));
        assert!(OptionsBody::parse(b"{").is_err());
    }
}
