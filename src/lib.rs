//! edgeauth: Ed25519-signed, read-only session tokens, verified at the edge.
//!
//! A pure, target-independent core, grouped by subsystem, and a thin Cloudflare Workers
//! adapter (`adapter/`, wasm32 only) that mirrors it and performs the I/O:
//!
//! - [`token`]: the session token: format, keys, claims, verification, the verified cache.
//! - [`gateway`]: the decision on every forwarded request: canonical path, rules, credentials,
//!   revocation, and exactly what the origin receives.
//! - [`login`]: login methods, the identity a login produces, the session it mints, and what
//!   the `/auth/*` routes require.
//! - [`machine`]: programs as callers: external issuers' access tokens and service tokens.
//! - [`apps`]: several apps behind one deployment, by host, with one sign-on across them.
//! - [`config`]: Worker vars and secrets, read once into one validated value, section by section.
//! - [`refusal`]: every refusal and the one error→HTTP table; [`audit`]: the one log line.
//! - [`bindings`]: the Worker's bindings by name; [`encoding`]: strict shared parsers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]
#![cfg_attr(not(test), deny(clippy::expect_used, clippy::panic))]

#[cfg(target_arch = "wasm32")]
mod adapter;

pub mod apps;
pub mod audit;
pub mod bindings;
pub mod config;
pub mod encoding;
pub mod gateway;
pub mod login;
pub mod machine;
pub mod refusal;
pub mod token;

pub use token::claims::{Claims, VerifiedClaims};
pub use token::error::{Error, Malformed};
pub use token::keys::{KeySet, SigningKey, VerifyingKey};
pub use token::validation::Validation;
#[cfg(not(target_arch = "wasm32"))]
pub use token::{mint, verify};
pub use token::{PendingSignature, UntrustedToken};
