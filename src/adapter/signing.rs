//! Everything the Worker signs (sessions, renewals, `X-Auth-Assertion`, sealed transactions and
//! passkey challenges) is signed here, through the runtime's WebCrypto
//! (`crypto.subtle.sign("Ed25519")`, native code in workerd): the core only says what to sign
//! (`token::ToSign`). The private key is imported once per isolate, non-extractable, and
//! checked once: a signature of its own must verify under the public key its JWK states, or
//! nothing is signed (the JWK's `x` and `d` disagree).

use std::cell::RefCell;

use js_sys::{Array, Object, Reflect, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::CryptoKey;

use crate::config::GatewayConfig;
use crate::refusal::{Denied, Refusal};
use crate::token::claims::Claims;
use crate::token::keys::SigningKey;
use crate::token::{self, ToSign};

use crate::adapter::token::ed25519;
use crate::adapter::webcrypto::subtle;

/// What the key check signs: it holds a space, so no token or sealed value is ever this.
const KEY_CHECK: &[u8] = b"edgeauth signing-key check v1";

thread_local! {
    /// The signing key imported into WebCrypto, by its kid.
    static IMPORTED: RefCell<Option<(String, CryptoKey)>> = const { RefCell::new(None) };
}

fn failed(what: &'static str) -> Denied {
    Denied::new(Refusal::Internal, format!("signing_failed:{what}"))
}

/// Signs `to_sign` with the configured signing key.
pub async fn sign(config: &GatewayConfig, to_sign: ToSign) -> Result<String, Denied> {
    let key = config.signing_key();
    let crypto_key = match IMPORTED.with(|cell| {
        cell.borrow()
            .as_ref()
            .filter(|(kid, _)| kid == key.kid())
            .map(|(_, k)| k.clone())
    }) {
        Some(crypto_key) => crypto_key,
        None => import_checked(key).await?,
    };
    let signature = sign_with_key(&crypto_key, to_sign.input())
        .await
        .map_err(|_| failed("sign"))?;
    Ok(to_sign.finish(&signature))
}

/// Signs `message` with `key` (imported and checked first): for the test-only vector route.
#[cfg(feature = "vector-tests")]
pub async fn sign_with(key: &SigningKey, message: &[u8]) -> Result<[u8; 64], Denied> {
    let crypto_key = import_checked(key).await?;
    sign_with_key(&crypto_key, message)
        .await
        .map_err(|_| failed("sign"))
}

/// Mints the session token for `claims`.
pub async fn mint(config: &GatewayConfig, claims: &Claims) -> Result<String, Denied> {
    sign(config, token::unsigned(claims, config.signing_key().kid())).await
}

/// Imports `key` for signing and checks it against its public half before keeping it.
async fn import_checked(key: &SigningKey) -> Result<CryptoKey, Denied> {
    let crypto_key = import(key).await.map_err(|_| failed("import"))?;
    let probe = sign_with_key(&crypto_key, KEY_CHECK)
        .await
        .map_err(|_| failed("sign"))?;
    if !ed25519::verify(key.verifying_key(), KEY_CHECK, &probe).await {
        return Err(failed("key_mismatch"));
    }
    IMPORTED.with(|cell| *cell.borrow_mut() = Some((key.kid().to_owned(), crypto_key.clone())));
    Ok(crypto_key)
}

/// PKCS #8 `PrivateKeyInfo` of an Ed25519 key (RFC 8410) up to its 32-byte seed.
const PKCS8_ED25519_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// Imports the key as PKCS #8 bytes, non-extractable: the seed is never a string (on either
/// side), and both copies of the bytes are wiped once WebCrypto has its own.
async fn import(key: &SigningKey) -> Result<CryptoKey, JsValue> {
    let subtle = subtle().map_err(|e| JsValue::from_str(&e))?;
    let mut der = zeroize::Zeroizing::new(Vec::with_capacity(48));
    der.extend_from_slice(&PKCS8_ED25519_PREFIX);
    der.extend_from_slice(key.seed());
    let bytes = Uint8Array::from(der.as_slice());
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"Ed25519".into())?;
    let usages = Array::of1(&JsValue::from_str("sign"));
    let imported = subtle.import_key_with_object("pkcs8", &bytes, &algorithm, false, &usages);
    // importKey has copied the key data by the time it returns its promise.
    bytes.fill(0, 0, bytes.length());
    JsFuture::from(imported?).await?.dyn_into()
}

async fn sign_with_key(key: &CryptoKey, message: &[u8]) -> Result<[u8; 64], JsValue> {
    let subtle = subtle().map_err(|e| JsValue::from_str(&e))?;
    let algorithm = Object::new();
    Reflect::set(&algorithm, &"name".into(), &"Ed25519".into())?;
    let promise = subtle.sign_with_object_and_u8_array(&algorithm, key, message)?;
    let buffer = JsFuture::from(promise).await?;
    let bytes = Uint8Array::new(&buffer).to_vec();
    bytes
        .try_into()
        .map_err(|_| JsValue::from_str("not a 64-byte signature"))
}
