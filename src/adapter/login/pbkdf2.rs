//! PBKDF2-HMAC-SHA256 through the runtime's WebCrypto (native code, not wasm): the same
//! derivation the CLI's `hash-password` does with the `pbkdf2` crate.

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, Pbkdf2Params};

use crate::adapter::webcrypto::subtle;

use crate::login::password::{PasswordHash, HASH_BYTES, MAX_ITERATIONS};

/// Derives PBKDF2-HMAC-SHA256(`password`, `salt`, `iterations`) into 32 bytes.
pub async fn pbkdf2_sha256(
    password: &[u8],
    salt: &[u8],
    iterations: u32,
) -> Result<[u8; HASH_BYTES], String> {
    // Workers enforce this cap in production but local workerd does not: enforce it here.
    if iterations == 0 || iterations > MAX_ITERATIONS {
        return Err(format!(
            "iterations {iterations} outside 1..={MAX_ITERATIONS}"
        ));
    }
    let subtle = subtle()?;
    let usages = Array::of1(&JsValue::from_str("deriveBits"));
    let key = subtle
        .import_key_with_str("raw", &Uint8Array::from(password), "PBKDF2", false, &usages)
        .map_err(|e| format!("importKey: {e:?}"))?;
    let key: CryptoKey = JsFuture::from(key)
        .await
        .map_err(|e| format!("importKey: {e:?}"))?
        .unchecked_into();
    let params = Pbkdf2Params::new(
        "PBKDF2",
        &JsValue::from_str("SHA-256"),
        iterations,
        &Uint8Array::from(salt),
    );
    let bits = subtle
        .derive_bits_with_object(&params, &key, (HASH_BYTES * 8) as u32)
        .map_err(|e| format!("deriveBits: {e:?}"))?;
    let bits = JsFuture::from(bits)
        .await
        .map_err(|e| format!("deriveBits: {e:?}"))?;
    let bytes = Uint8Array::new(&bits).to_vec();
    bytes
        .try_into()
        .map_err(|_| "deriveBits returned the wrong length".to_owned())
}

/// Whether `password` matches `stored` (constant-time comparison of the derived key).
pub async fn verify_password(password: &[u8], stored: &PasswordHash) -> Result<bool, String> {
    let derived = pbkdf2_sha256(password, &stored.salt, stored.iterations).await?;
    Ok(stored.matches(&derived))
}
