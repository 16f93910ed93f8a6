//! One structured JSON log line per decision, for `wrangler tail` and log pipelines.
//!
//! It never holds a token, a password or a key: only ids, reasons and request metadata.

use serde::Serialize;

use crate::config::{ConfigError, Vars};
use crate::refusal::{Denied, Refusal};
use crate::token::claims::VerifiedClaims;

/// A decision record. Empty fields are omitted from the line.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AuditEvent {
    /// What happened: `allow`, `deny`, `error`, `login`, `logout`, `renew`, `config_error`, …
    pub event: &'static str,
    /// Request id (the `cf-ray` when present), also in every error body.
    pub request_id: String,
    /// HTTP status sent to the client.
    pub status: u16,
    /// Why, for refusals and errors (e.g. `expired`, `missing_role`, `bad_path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The app the request was for, when the deployment serves several (`APPS`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub app: Option<String>,
    /// HTTP method.
    pub method: String,
    /// The normalized path (or the raw one when it could not be normalized: never logged raw).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The user, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<String>,
    /// The session id, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// The id of the key that signed the session, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Client IP (`cf-connecting-ip`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    /// Client country from `request.cf`, when present.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Whether the session was renewed on this response.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub renewed: bool,
    /// What this request revoked (`{"sid":…}` or `{"sub":…,"before":…}`), on `logout` and
    /// `revoke` records.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<serde_json::Value>,
    /// On `health` records: what this isolate holds (`cache_entries`, `cache_bytes`,
    /// `revoked_sessions`, `revoked_users`, `memory_bytes`), so its memory can be watched.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolate: Option<serde_json::Value>,
    /// The revocation document's revision after this request's write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

impl AuditEvent {
    /// Whether this record is written, given `AUDIT_SAMPLE_ALLOWED` (`sample_allowed`, 0–1) and a
    /// uniformly random `draw`. Only plain `allow` records are sampled: refusals, errors, logins,
    /// logouts and renewals (`renewed`) are always written.
    pub fn is_logged(&self, sample_allowed: f64, draw: u32) -> bool {
        if self.event != "allow" || self.renewed || sample_allowed >= 1.0 {
            return true;
        }
        f64::from(draw) < sample_allowed * 4_294_967_296.0
    }

    /// Records a refusal: `login_failed` for a failed login, `error` for the edge's or a
    /// dependency's failure (5xx), `deny` for anything else; its reason, and the path and user
    /// when the refusal knows them.
    pub fn record(&mut self, denied: &Denied) {
        let (status, _, _) = denied.refusal.http();
        self.event = match denied.refusal {
            Refusal::InvalidCredentials | Refusal::SignInFailed => "login_failed",
            _ if status >= 500 => "error",
            _ => "deny",
        };
        self.reason = Some(denied.reason.to_string());
        if let Some(path) = &denied.path {
            self.path = Some(path.clone());
        }
        if let Some(sub) = &denied.sub {
            self.sub = Some(sub.clone());
        }
        if let Some(sid) = &denied.sid {
            self.sid = Some(sid.clone());
        }
    }

    /// Records the verified session the request acted for.
    pub fn session(&mut self, session: &VerifiedClaims) {
        self.sub = Some(session.claims().sub.clone());
        self.sid = Some(session.claims().sid.clone());
        self.kid = Some(session.kid().to_owned());
    }

    /// The record as one line of JSON.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| r#"{"event":"log_error"}"#.into())
    }
}

/// `AUDIT_SAMPLE_ALLOWED`: the fraction of plain `allow` decisions logged (0 to 1, default 1).
pub fn sample_from_vars(vars: &Vars) -> Result<f64, ConfigError> {
    vars.fraction("AUDIT_SAMPLE_ALLOWED", 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_without_empty_fields() {
        let event = AuditEvent {
            event: "deny",
            request_id: "r1".into(),
            status: 401,
            reason: Some("expired".into()),
            method: "GET".into(),
            path: Some("/app".into()),
            ..AuditEvent::default()
        };
        let line = event.to_line();
        assert!(!line.contains('\n'));
        assert!(!line.contains("sub"));
        assert!(line.contains(r#""reason":"expired""#));
    }

    #[test]
    fn a_refusal_is_recorded_as_what_it_is() {
        let mut record = AuditEvent::default();
        for (refusal, event) in [
            (Refusal::InvalidCredentials, "login_failed"),
            (Refusal::Forbidden, "deny"),
            (Refusal::BadRequest, "deny"),
            (Refusal::Internal, "error"),
            (Refusal::OriginTimeout, "error"),
        ] {
            record.record(&Denied::new(refusal, "why").at("/p"));
            assert_eq!(record.event, event, "{refusal:?}");
            assert_eq!(record.reason.as_deref(), Some("why"));
            assert_eq!(record.path.as_deref(), Some("/p"));
        }
    }

    #[test]
    fn only_plain_allows_are_sampled() {
        let allow = AuditEvent {
            event: "allow",
            ..AuditEvent::default()
        };
        assert!(allow.is_logged(1.0, u32::MAX));
        assert!(!allow.is_logged(0.0, 0));
        assert!(allow.is_logged(0.5, u32::MAX / 2 - 1));
        assert!(!allow.is_logged(0.5, u32::MAX / 2 + 2));
        let renewed = AuditEvent {
            renewed: true,
            ..allow.clone()
        };
        assert!(renewed.is_logged(0.0, u32::MAX));
        for event in [
            "deny",
            "error",
            "login",
            "login_failed",
            "logout",
            "revoke",
            "config_error",
        ] {
            let record = AuditEvent {
                event,
                ..AuditEvent::default()
            };
            assert!(record.is_logged(0.0, u32::MAX), "{event}");
        }
    }
}
