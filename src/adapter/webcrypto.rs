//! The runtime's WebCrypto (`crypto.subtle`), which every signature and key derivation of the
//! Worker goes through: native code in workerd, not wasm.

use crate::login::oidc::jwks::Alg;
use js_sys::{Array, Object, Reflect};
use serde_json::{Map, Value};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Crypto, CryptoKey};

/// The runtime's `crypto.subtle`.
pub fn subtle() -> Result<web_sys::SubtleCrypto, String> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .map_err(|_| "no crypto global".to_owned())?
        .dyn_into::<Crypto>()
        .map_err(|_| "crypto is not Crypto".to_owned())?;
    Ok(crypto.subtle())
}

/// Whether `signature` verifies over `message` under the public `jwk` with `alg`: an identity
/// provider's token, a passkey's assertion. ECDSA signatures are `r || s` (JWS's format too; a
/// passkey's DER signature is converted by the core first).
pub async fn verify(
    jwk: &Map<String, Value>,
    alg: Alg,
    message: &[u8],
    signature: &[u8],
) -> Result<bool, JsValue> {
    let subtle = subtle().map_err(|e| JsValue::from_str(&e))?;
    let object = |members: &[(&str, JsValue)]| -> Result<Object, JsValue> {
        let object = Object::new();
        for (name, value) in members {
            Reflect::set(&object, &JsValue::from_str(name), value)?;
        }
        Ok(object)
    };
    let sha256 = JsValue::from_str("SHA-256");
    let (import, check) = match alg {
        Alg::Rs256 => {
            let name = JsValue::from_str("RSASSA-PKCS1-v1_5");
            (
                object(&[("name", name.clone()), ("hash", sha256)])?,
                object(&[("name", name)])?,
            )
        }
        Alg::Ps256 => {
            let name = JsValue::from_str("RSA-PSS");
            (
                object(&[("name", name.clone()), ("hash", sha256)])?,
                object(&[("name", name), ("saltLength", JsValue::from(32))])?,
            )
        }
        Alg::Es256 => {
            let name = JsValue::from_str("ECDSA");
            (
                object(&[("name", name.clone()), ("namedCurve", "P-256".into())])?,
                object(&[("name", name), ("hash", sha256)])?,
            )
        }
        Alg::EdDsa => {
            let name = JsValue::from_str("Ed25519");
            (
                object(&[("name", name.clone())])?,
                object(&[("name", name)])?,
            )
        }
    };
    let jwk: Object = js_sys::JSON::parse(&Value::Object(jwk.clone()).to_string())?.dyn_into()?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let imported = subtle.import_key_with_object("jwk", &jwk, &import, false, &usages)?;
    let crypto_key: CryptoKey = JsFuture::from(imported).await?.dyn_into()?;
    let verdict = subtle.verify_with_object_and_u8_array_and_u8_array(
        &check,
        &crypto_key,
        signature,
        message,
    )?;
    Ok(JsFuture::from(verdict).await?.as_bool() == Some(true))
}
