//! Programs as callers: API clients with their identity provider's access tokens
//! ([`issuer`], `TRUSTED_ISSUERS`) and service tokens ([`service_token`], `SERVICE_TOKENS`).
//!
//! Both end in the [`VerifiedClaims`](crate::token::claims::VerifiedClaims) a session gives,
//! marked by its [`Via`](crate::token::claims::Via), so rules, identity headers, the signed
//! assertion and the audit log treat people and programs alike. Neither credential reaches the
//! origin, neither is renewed, and neither opens the `/auth/*` routes, which take our own
//! sessions only.

pub mod issuer;
pub mod service_token;
