//! Every way the edge says no, and the one table that maps each to HTTP.
//!
//! Bodies are generic: they never say which check failed. The precise reason is logged.

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
    /// An `/auth/*` path that does not exist.
    NotFound,
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
            Refusal::NotFound => (404, "not_found", "Not found."),
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
