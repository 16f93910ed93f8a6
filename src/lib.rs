//! edgeauth: Ed25519-signed, read-only session tokens, verified at the edge.
//!
//! The crate is a pure, target-independent core (tokens, keys, claims, JWKS, passwords) plus a
//! thin Cloudflare Workers adapter that exists only in the wasm32 build.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]

#[cfg(target_arch = "wasm32")]
mod adapter;

pub mod audit;
pub mod base64url;
pub mod claims;
pub mod config;
pub mod cookie;
pub mod credentials;
pub mod error;
pub mod gateway;
pub mod headers;
pub mod http_url;
pub mod jwk;
pub mod jws;
pub mod keys;
pub mod login;
pub mod login_page;
pub mod password;
pub mod path;
pub mod refusal;
pub mod revocation;
pub mod rules;
pub mod session_cache;
pub mod signature_precheck;
pub mod strict_json;
pub mod token;
pub mod validation;

pub use claims::{Claims, VerifiedClaims};
pub use error::{Error, Malformed};
pub use keys::{KeySet, SigningKey, VerifyingKey};
pub use token::{mint, verify, PendingSignature, UntrustedToken};
pub use validation::Validation;
