//! The runtime's WebCrypto (`crypto.subtle`), which every signature and key derivation of the
//! Worker goes through: native code in workerd, not wasm.

use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::Crypto;

/// The runtime's `crypto.subtle`.
pub fn subtle() -> Result<web_sys::SubtleCrypto, String> {
    let crypto = Reflect::get(&js_sys::global(), &JsValue::from_str("crypto"))
        .map_err(|_| "no crypto global".to_owned())?
        .dyn_into::<Crypto>()
        .map_err(|_| "crypto is not Crypto".to_owned())?;
    Ok(crypto.subtle())
}
