//! Ed25519 signature checks through the runtime's WebCrypto (`crypto.subtle.verify("Ed25519")`,
//! native code in workerd), the request path's verifier. It checks only the signature equation:
//! the strict checks (S < L, canonical non-small-order R, keys validated at load) run in the
//! core before it (`token::UntrustedToken::prepare`). Every error is a refusal.

use std::cell::RefCell;

use js_sys::{Array, Object, Promise, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{CryptoKey, SubtleCrypto};

use crate::token::keys::VerifyingKey;

use crate::adapter::webcrypto::subtle;

const ALGORITHM: &str = "Ed25519";

/// What every check needs from the runtime, looked up or built once per isolate.
struct Runtime {
    subtle: SubtleCrypto,
    /// `{ name: "Ed25519" }`, so that no call converts the name again.
    algorithm: Object,
    /// Each verifying key imported once, by its 32 bytes (a handful of keys).
    keys: Vec<([u8; 32], CryptoKey)>,
}

thread_local! {
    static RUNTIME: RefCell<Option<Runtime>> = const { RefCell::new(None) };
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
    let bytes = key.as_bytes();
    // WebCrypto copies `signature` and `message` before returning the promise.
    let start = |runtime: &Runtime| -> Option<Result<Promise, JsValue>> {
        let (_, crypto_key) = runtime.keys.iter().find(|(k, _)| k == bytes)?;
        Some(runtime.subtle.verify_with_object_and_u8_array_and_u8_array(
            &runtime.algorithm,
            crypto_key,
            signature,
            message,
        ))
    };
    let verdict = match with_runtime(start)? {
        Some(started) => started?,
        None => {
            import(bytes).await?;
            with_runtime(start)?.ok_or_else(|| JsValue::from_str("key not imported"))??
        }
    };
    Ok(JsFuture::from(verdict).await?.as_bool() == Some(true))
}

/// Runs `f` on the isolate's [`Runtime`], set up on first use.
fn with_runtime<T>(f: impl FnOnce(&Runtime) -> T) -> Result<T, JsValue> {
    RUNTIME.with(|slot| {
        let mut slot = slot.borrow_mut();
        let runtime = match &mut *slot {
            Some(runtime) => runtime,
            empty => empty.insert(Runtime::new()?),
        };
        Ok(f(runtime))
    })
}

impl Runtime {
    fn new() -> Result<Self, JsValue> {
        let subtle = subtle().map_err(|e| JsValue::from_str(&e))?;
        let algorithm = Object::new();
        Reflect::set(&algorithm, &"name".into(), &ALGORITHM.into())?;
        Ok(Runtime {
            subtle,
            algorithm,
            keys: Vec::new(),
        })
    }
}

/// Imports `bytes` as the isolate's `CryptoKey` (raw, non-extractable, verify only).
async fn import(bytes: &[u8; 32]) -> Result<(), JsValue> {
    let usages = Array::of1(&JsValue::from_str("verify"));
    let promise = with_runtime(|runtime| {
        runtime.subtle.import_key_with_object(
            "raw",
            &Uint8Array::from(&bytes[..]),
            &runtime.algorithm,
            false,
            &usages,
        )
    })??;
    let crypto_key: CryptoKey = JsFuture::from(promise).await?.dyn_into()?;
    RUNTIME.with(|slot| {
        if let Some(runtime) = slot.borrow_mut().as_mut() {
            if !runtime.keys.iter().any(|(k, _)| k == bytes) {
                runtime.keys.push((*bytes, crypto_key));
            }
        }
    });
    Ok(())
}
