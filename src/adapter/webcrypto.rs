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

/// Members of a WebCrypto parameters object besides `name`.
type Members = Vec<(&'static str, JsValue)>;

/// WebCrypto's parameters for `alg`: those `importKey` takes, and those `verify` takes.
fn algorithm(alg: Alg) -> Result<(Object, Object), JsValue> {
    let object = |members: &[(&str, JsValue)]| -> Result<Object, JsValue> {
        let object = Object::new();
        for (name, value) in members {
            Reflect::set(&object, &JsValue::from_str(name), value)?;
        }
        Ok(object)
    };
    let sha256 = JsValue::from_str("SHA-256");
    let (name, import, check): (&str, Members, Members) = match alg {
        Alg::Rs256 => ("RSASSA-PKCS1-v1_5", vec![("hash", sha256)], vec![]),
        Alg::Ps256 => (
            "RSA-PSS",
            vec![("hash", sha256)],
            vec![("saltLength", JsValue::from(32))],
        ),
        Alg::Es256 => (
            "ECDSA",
            vec![("namedCurve", "P-256".into())],
            vec![("hash", sha256)],
        ),
        Alg::EdDsa => ("Ed25519", vec![], vec![]),
    };
    let with_name = |mut members: Members| {
        members.insert(0, ("name", JsValue::from_str(name)));
        object(&members)
    };
    Ok((with_name(import)?, with_name(check)?))
}

/// The public `jwk` imported for verifying with `alg`.
async fn import(
    subtle: &web_sys::SubtleCrypto,
    jwk: &Map<String, Value>,
    parameters: &Object,
) -> Result<CryptoKey, JsValue> {
    let jwk: Object = js_sys::JSON::parse(&Value::Object(jwk.clone()).to_string())?.dyn_into()?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let imported = subtle.import_key_with_object("jwk", &jwk, parameters, false, &usages)?;
    JsFuture::from(imported).await?.dyn_into()
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
    let (import_parameters, check) = algorithm(alg)?;
    let crypto_key = import(&subtle, jwk, &import_parameters).await?;
    let verdict = subtle.verify_with_object_and_u8_array_and_u8_array(
        &check,
        &crypto_key,
        signature,
        message,
    )?;
    Ok(JsFuture::from(verdict).await?.as_bool() == Some(true))
}

/// Whether WebCrypto imports the public `jwk` for `alg` (a point on its curve, a usable RSA
/// key): checked when a passkey registers, so a key that could never verify is not stored.
pub async fn can_import(jwk: &Map<String, Value>, alg: Alg) -> bool {
    let (Ok(subtle), Ok((parameters, _))) = (subtle(), algorithm(alg)) else {
        return false;
    };
    import(&subtle, jwk, &parameters).await.is_ok()
}
