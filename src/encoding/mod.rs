//! Strict parsers every subsystem shares: they refuse what they do not fully understand.

pub mod base64url;
pub mod der_signature;
pub mod http_url;
pub mod strict_json;
