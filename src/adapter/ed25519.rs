//! Ed25519 signature checks through the runtime's WebCrypto (`crypto.subtle.verify("Ed25519")`,
//! native code in workerd), the request path's verifier. It checks only the signature equation:
//! the strict checks (S < L, canonical non-small-order R, keys validated at load) run in the
//! core before it (`token::UntrustedToken::prepare`). Every error is a refusal.

use std::cell::RefCell;

use js_sys::{Array, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::keys::VerifyingKey;

use super::webcrypto::subtle;

const ALGORITHM: &str = "Ed25519";

thread_local! {
    /// Each verifying key imported once per isolate, by its 32 bytes (a handful of keys).
    static IMPORTED: RefCell<Vec<([u8; 32], CryptoKey)>> = const { RefCell::new(Vec::new()) };
    /// `crypto.subtle`, looked up once per isolate.
    static SUBTLE: RefCell<Option<SubtleCrypto>> = const { RefCell::new(None) };
}

fn cached_subtle() -> Result<SubtleCrypto, JsValue> {
    SUBTLE.with(|slot| {
        let mut slot = slot.borrow_mut();
        if let Some(subtle) = slot.as_ref() {
            return Ok(subtle.clone());
        }
        let subtle = subtle().map_err(|e| JsValue::from_str(&e))?;
        *slot = Some(subtle.clone());
        Ok(subtle)
    })
}

/// Whether `signature` verifies over `message` under `key` (cofactorless Ed25519, as BoringSSL
/// does). `false` on any error of the runtime (import or verify): never allows by default.
pub async fn verify(key: &VerifyingKey, message: &[u8], signature: &[u8; 64]) -> bool {
    verify_or_error(key, message, signature)
        .await
        .unwrap_or(false)
}

async fn verify_or_error(
    key: &VerifyingKey,
    message: &[u8],
    signature: &[u8; 64],
) -> Result<bool, JsValue> {
    let crypto_key = crypto_key(key).await?;
    let subtle = cached_subtle()?;
    // WebCrypto copies `signature` and `message` before returning the promise.
    let verdict = subtle.verify_with_str_and_u8_array_and_u8_array(
        ALGORITHM,
        &crypto_key,
        signature,
        message,
    )?;
    Ok(JsFuture::from(verdict).await?.as_bool() == Some(true))
}

/// The isolate's `CryptoKey` for `key`, imported (raw, non-extractable, verify only) on first use.
async fn crypto_key(key: &VerifyingKey) -> Result<CryptoKey, JsValue> {
    let bytes = *key.as_bytes();
    let cached = IMPORTED.with(|keys| {
        let keys = keys.borrow();
        keys.iter()
            .find(|(k, _)| *k == bytes)
            .map(|(_, ck)| ck.clone())
    });
    if let Some(crypto_key) = cached {
        return Ok(crypto_key);
    }
    let subtle = cached_subtle()?;
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise = subtle.import_key_with_str(
        "raw",
        &Uint8Array::from(&bytes[..]),
        ALGORITHM,
        false,
        &usages,
    )?;
    let crypto_key: CryptoKey = JsFuture::from(promise).await?.dyn_into()?;
    IMPORTED.with(|keys| {
        let mut keys = keys.borrow_mut();
        if !keys.iter().any(|(k, _)| *k == bytes) {
            keys.push((bytes, crypto_key.clone()));
        }
    });
    Ok(crypto_key)
}
