//! `clientDataJSON`: what the browser says it was asked (WebAuthn §5.8.1), checked as §7.1 steps
//! 5–10 and §7.2 steps 10–14 require. It is parsed strictly (one JSON object, no duplicate
//! members); unknown members are ignored, as the spec asks, so browsers may add some.

use crate::encoding::base64url;
use crate::encoding::strict_json;
use serde_json::Value;
use subtle::ConstantTimeEq;

use super::{PasskeyError, Settings};

/// Largest `clientDataJSON` accepted, in bytes (browsers send ~150–300).
pub const MAX_BYTES: usize = 2048;

/// Which ceremony the client data is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ceremony {
    /// `navigator.credentials.create()`: `webauthn.create`.
    Register,
    /// `navigator.credentials.get()`: `webauthn.get`.
    SignIn,
}

impl Ceremony {
    fn client_data_type(self) -> &'static str {
        match self {
            Ceremony::Register => "webauthn.create",
            Ceremony::SignIn => "webauthn.get",
        }
    }
}

/// Checks `json` for `ceremony`: its type, the `challenge` we issued (constant time), an
/// origin the relying party allows ([`Settings::allows_origin`]) that is also the origin the
/// ceremony's request came to (`request_origin`: the page that asked for it posts to its own
/// origin, so an assertion made for another allowed origin cannot be relayed here), and that it was not made in a cross-origin iframe nor with a
/// token binding we cannot check.
pub fn check(
    json: &[u8],
    ceremony: Ceremony,
    challenge: &[u8],
    settings: &Settings,
    request_origin: &str,
) -> Result<(), PasskeyError> {
    if json.len() > MAX_BYTES {
        return Err(PasskeyError("client_data_too_large"));
    }
    let data =
        strict_json::parse_object(json).map_err(|_| PasskeyError("client_data_malformed"))?;
    let text = |name| match data.get(name) {
        Some(Value::String(text)) => Ok(text.as_str()),
        _ => Err(PasskeyError("client_data_malformed")),
    };
    if text("type")? != ceremony.client_data_type() {
        return Err(PasskeyError("client_data_type"));
    }
    let presented = base64url::decode(text("challenge")?).unwrap_or_default();
    if !bool::from(presented.ct_eq(challenge)) {
        return Err(PasskeyError("challenge_mismatch"));
    }
    let origin = text("origin")?;
    if origin != request_origin || !settings.allows_origin(origin) {
        return Err(PasskeyError("wrong_origin"));
    }
    match data.get("crossOrigin") {
        None | Some(Value::Bool(false)) => {}
        Some(_) => return Err(PasskeyError("cross_origin")),
    }
    if data.contains_key("topOrigin") {
        return Err(PasskeyError("cross_origin"));
    }
    if let Some(binding) = data.get("tokenBinding") {
        let status = binding.get("status").and_then(Value::as_str);
        if status != Some("supported") && status != Some("not-supported") {
            return Err(PasskeyError("token_binding"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHALLENGE: [u8; 32] = [7; 32];

    fn settings() -> Settings {
        Settings {
            rp_id: "example.com".into(),
            rp_name: "edgeauth".into(),
            origins: vec!["https://example.com".into()],
            user_verification: super::super::UserVerification::Required,
        }
    }

    fn json(kind: &str, challenge: &[u8], origin: &str, extra: &str) -> Vec<u8> {
        format!(
            r#"{{"type":"{kind}","challenge":"{}","origin":"{origin}"{extra}}}"#,
            base64url::encode(challenge)
        )
        .into_bytes()
    }

    fn check_one(data: &[u8], ceremony: Ceremony) -> Result<(), PasskeyError> {
        check(
            data,
            ceremony,
            &CHALLENGE,
            &settings(),
            "https://example.com",
        )
    }

    #[test]
    fn the_issued_challenge_from_an_allowed_origin_passes() {
        let data = json(
            "webauthn.get",
            &CHALLENGE,
            "https://example.com",
            r#","crossOrigin":false,"other_keys_can_be_added_here":"x""#,
        );
        assert_eq!(check_one(&data, Ceremony::SignIn), Ok(()));
        let data = json("webauthn.create", &CHALLENGE, "https://example.com", "");
        assert_eq!(check_one(&data, Ceremony::Register), Ok(()));
    }

    #[test]
    fn every_mismatch_is_refused_with_its_reason() {
        let refused = |data: Vec<u8>, ceremony, why| {
            assert_eq!(check_one(&data, ceremony), Err(PasskeyError(why)));
        };
        let origin = "https://example.com";
        refused(
            json("webauthn.create", &CHALLENGE, origin, ""),
            Ceremony::SignIn,
            "client_data_type",
        );
        refused(
            json("webauthn.get", &[8; 32], origin, ""),
            Ceremony::SignIn,
            "challenge_mismatch",
        );
        refused(
            json("webauthn.get", &CHALLENGE[..31], origin, ""),
            Ceremony::SignIn,
            "challenge_mismatch",
        );
        for other in [
            "https://evil.example",
            "https://example.com:8443",
            "http://example.com",
            "https://sub.example.com",
        ] {
            refused(
                json("webauthn.get", &CHALLENGE, other, ""),
                Ceremony::SignIn,
                "wrong_origin",
            );
        }
        refused(
            json("webauthn.get", &CHALLENGE, origin, r#","crossOrigin":true"#),
            Ceremony::SignIn,
            "cross_origin",
        );
        refused(
            json(
                "webauthn.get",
                &CHALLENGE,
                origin,
                r#","topOrigin":"https://evil.example""#,
            ),
            Ceremony::SignIn,
            "cross_origin",
        );
        refused(
            json(
                "webauthn.get",
                &CHALLENGE,
                origin,
                r#","tokenBinding":{"status":"present","id":"x"}"#,
            ),
            Ceremony::SignIn,
            "token_binding",
        );
        refused(
            json(
                "webauthn.get",
                &CHALLENGE,
                origin,
                r#","type":"webauthn.get""#,
            ),
            Ceremony::SignIn,
            "client_data_malformed",
        );
        refused(
            b"not json".to_vec(),
            Ceremony::SignIn,
            "client_data_malformed",
        );
        refused(
            br#"{"type":"webauthn.get","challenge":1,"origin":"https://example.com"}"#.to_vec(),
            Ceremony::SignIn,
            "client_data_malformed",
        );
        refused(
            vec![b' '; MAX_BYTES + 1],
            Ceremony::SignIn,
            "client_data_too_large",
        );
    }
}
