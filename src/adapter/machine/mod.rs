//! Machine credentials' I/O: a trusted issuer's keys ([`issuer`]) and a service token's record
//! in Workers KV ([`service_token`]). Every decision is the core's (`crate::machine`).

pub mod issuer;
pub mod service_token;
