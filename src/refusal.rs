//! Every way the edge says no, the one table that maps each to HTTP, and [`Denied`], the one
//! value that carries a refusal from the core's decision to the adapter's response.
//!
//! Bodies are generic: they never say which check failed. The precise reason is logged.

use std::borrow::Cow;

use crate::token::claims::VerifiedClaims;

/// A refusal on its way to the client: what the client is told ([`Refusal`]) and what only the
/// log sees (the reason, the path, the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    /// What the client is told.
    pub refusal: Refusal,
    /// Why, for the log only (a stable code, sometimes with a `:detail`).
    pub reason: Cow<'static, str>,
    /// The canonical path, when the refusal came after the path was understood.
    pub path: Option<String>,
    /// Where a browser is sent to log in ([`Refusal::LoginRequired`]).
    pub location: Option<String>,
    /// The verified user, when the refusal came after verification (a missing role).
    pub sub: Option<String>,
    /// The verified session id, likewise.
    pub sid: Option<String>,
}

impl Denied {
    /// A refusal with its log reason.
    pub fn new(refusal: Refusal, reason: impl Into<Cow<'static, str>>) -> Self {
        Denied {
            refusal,
            reason: reason.into(),
            path: None,
            location: None,
            sub: None,
            sid: None,
        }
    }

    /// The same refusal, logged for `path`.
    pub fn at(mut self, path: &str) -> Self {
        self.path = Some(path.to_owned());
        self
    }

    /// The same refusal, logged for the verified session `session`.
    pub fn of(mut self, session: &VerifiedClaims) -> Self {
        self.sub = Some(session.claims().sub.clone());
        self.sid = Some(session.claims().sid.clone());
        self
    }
}

impl From<(Refusal, &'static str)> for Denied {
    fn from((refusal, reason): (Refusal, &'static str)) -> Self {
        Denied::new(refusal, reason)
    }
}

/// A refusal, in the terms the client may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Malformed path or ambiguous credentials.
    BadRequest,
    /// No valid session on a protected route (API clients).
    Unauthenticated,
    /// No valid session on a protected route during a browser navigation: go log in.
    LoginRequired,
    /// A valid session without a required role.
    Forbidden,
    /// A failed login (unknown user, wrong password, disabled user, a store that said no): one
    /// answer for all of them.
    InvalidCredentials,
    /// A single sign-on that did not complete: refused at the provider, a transaction that is
    /// missing, expired or not this one, an ID token or identity that is not accepted.
    SignInFailed,
    /// The identity provider could not be reached or answered nonsense.
    ProviderUnavailable,
    /// An `/auth/*` path that does not exist.
    NotFound,
    /// A host no app of this deployment is served on (`APPS`): never sent to a default origin.
    MisdirectedRequest,
    /// A method the endpoint does not serve.
    MethodNotAllowed,
    /// A cross-site state-changing request.
    CrossSite,
    /// The request body is larger than the endpoint accepts.
    PayloadTooLarge,
    /// Too many attempts; retry later.
    TooManyRequests,
    /// The edge is misconfigured or failed internally. Never a pass-through.
    Internal,
    /// The origin could not be reached.
    OriginUnavailable,
    /// The origin did not answer in time.
    OriginTimeout,
    /// A store the edge must write to (the revocation document) is unavailable: nothing changed.
    StoreUnavailable,
}

impl Refusal {
    /// HTTP status, stable error code and generic message: the error→HTTP table.
    pub fn http(self) -> (u16, &'static str, &'static str) {
        match self {
            Refusal::BadRequest => (400, "bad_request", "The request could not be understood."),
            Refusal::Unauthenticated => (401, "unauthorized", "A valid session is required."),
            Refusal::LoginRequired => (302, "login_required", "A valid session is required."),
            Refusal::Forbidden => (403, "forbidden", "You do not have access to this resource."),
            Refusal::InvalidCredentials => (
                401,
                "invalid_credentials",
                crate::login::INVALID_CREDENTIALS,
            ),
            Refusal::SignInFailed => (
                401,
                "sign_in_failed",
                "Signing in did not complete. Please try again.",
            ),
            Refusal::ProviderUnavailable => (
                502,
                "provider_unavailable",
                "The sign-in service could not be reached. Please try again later.",
            ),
            Refusal::NotFound => (404, "not_found", "Not found."),
            Refusal::MisdirectedRequest => {
                (421, "misdirected_request", "This host is not served here.")
            }
            Refusal::MethodNotAllowed => (405, "method_not_allowed", "Method not allowed."),
            Refusal::CrossSite => (403, "forbidden", "Cross-site requests are not allowed."),
            Refusal::PayloadTooLarge => {
                (413, "payload_too_large", "The request body is too large.")
            }
            Refusal::TooManyRequests => (
                429,
                "too_many_requests",
                "Too many attempts. Try again later.",
            ),
            Refusal::Internal => (
                500,
                "internal_error",
                "The gateway could not handle this request.",
            ),
            Refusal::OriginUnavailable => (502, "bad_gateway", "The origin could not be reached."),
            Refusal::OriginTimeout => {
                (504, "gateway_timeout", "The origin did not answer in time.")
            }
            Refusal::StoreUnavailable => (
                503,
                "unavailable",
                "The change could not be stored. Try again later.",
            ),
        }
    }

    /// The JSON body: `{"error": code, "message": …, "request_id": …}`.
    pub fn body(self, request_id: &str) -> String {
        let (_, code, message) = self.http();
        serde_json::json!({ "error": code, "message": message, "request_id": request_id })
            .to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_never_name_the_failed_check() {
        for refusal in [
            Refusal::Unauthenticated,
            Refusal::LoginRequired,
            Refusal::Forbidden,
        ] {
            let body = refusal.body("r1");
            for leak in ["expired", "signature", "kid", "issuer", "audience", "role"] {
                assert!(!body.contains(leak), "{refusal:?}: {body}");
            }
            assert!(body.contains("\"request_id\":\"r1\""));
        }
    }
}
