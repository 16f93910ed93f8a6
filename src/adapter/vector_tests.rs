//! Test-only route, compiled in only with the `vector-tests` cargo feature (which only
//! `scripts/test.sh` passes, building into `target/vector-tests/`, never into `build/`): no var,
//! secret or request can reach it in a production bundle, because the code is not there.
//!
//! `POST /__test/vectors` with `{"now", "signatures": [{"key","msg","sig"}], "tokens": [..]}`
//! (key, message and signature as base64url) runs every entry through the request path's
//! verification inside workerd and answers `{"signatures": [bool], "tokens": [outcome]}`:
//! - a signature: the key imported as the configuration imports keys
//!   ([`VerifyingKey::from_bytes`]), then the core's strict pre-checks, then WebCrypto Ed25519:
//!   the same three steps a session token's signature goes through;
//! - a token: [`session::verify_fresh`] with the worker's key set and validation at `now`;
//!   the outcome is `ok`, an error code, or `malformed:<rule>`;
//! - `"signing": [{"jwk", "msg"}]`: `msg` signed through the Worker's signer
//!   ([`crate::adapter::signing`]: WebCrypto, the key checked at import) with the private JWK
//!   given; the answer lists the base64url signatures (`null` for a key refused).

use serde_json::Value;
use worker::{Request, Response};

use crate::config::GatewayConfig;
use crate::encoding::base64url;
use crate::token::error::Error;
use crate::token::keys::{SigningKey, VerifyingKey};
use crate::token::signature_precheck::precheck;

use super::token::{self as session, ed25519};
use super::{respond, signing};

/// Path of the vector route.
pub const PATH: &str = "/__test/vectors";

/// Runs the vectors of the request body, as described in the module documentation.
pub async fn handle(mut req: Request, config: &GatewayConfig) -> Response {
    let Ok(body) = req.json::<Value>().await else {
        return respond::json_text(400, r#"{"error":"body"}"#, "no-store");
    };
    let now = body["now"].as_u64().unwrap_or(0);
    let mut signatures = Vec::new();
    for case in body["signatures"].as_array().into_iter().flatten() {
        let field = |name: &str| case[name].as_str().and_then(base64url::decode);
        let verdict = match (field("key"), field("msg"), field("sig")) {
            (Some(key), Some(msg), Some(sig)) => accepts(&key, &msg, &sig).await,
            _ => return respond::json_text(400, r#"{"error":"signature case"}"#, "no-store"),
        };
        signatures.push(Value::Bool(verdict));
    }
    let mut tokens = Vec::new();
    for token in body["tokens"].as_array().into_iter().flatten() {
        let Some(token) = token.as_str() else {
            return respond::json_text(400, r#"{"error":"token case"}"#, "no-store");
        };
        let outcome = match session::verify_fresh(token, &config.keys, &config.session, now).await {
            Ok(_) => "ok".to_owned(),
            Err(Error::Malformed(rule)) => format!("malformed:{}", rule.code()),
            Err(e) => e.code().to_owned(),
        };
        tokens.push(Value::String(outcome));
    }
    let mut signed = Vec::new();
    for case in body["signing"].as_array().into_iter().flatten() {
        let (Some(jwk), Some(msg)) = (
            case["jwk"].as_str(),
            case["msg"].as_str().and_then(base64url::decode),
        ) else {
            return respond::json_text(400, r#"{"error":"signing case"}"#, "no-store");
        };
        let signature = match SigningKey::from_jwk(jwk) {
            Ok(key) => signing::sign_with(&key, &msg)
                .await
                .ok()
                .map(|sig| Value::String(base64url::encode(&sig))),
            Err(_) => None,
        };
        signed.push(signature.unwrap_or(Value::Null));
    }
    let answer =
        serde_json::json!({ "signatures": signatures, "tokens": tokens, "signing": signed });
    respond::json_text(200, &answer.to_string(), "no-store")
}

async fn accepts(key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    let (Ok(key), Ok(signature)) = (<[u8; 32]>::try_from(key), <[u8; 64]>::try_from(signature))
    else {
        return false;
    };
    let Ok(key) = VerifyingKey::from_bytes(&key) else {
        return false;
    };
    precheck(&signature).is_ok() && ed25519::verify(&key, message, &signature).await
}
