//! Session revocation: one small, versioned document listing revoked sessions (`sid`) and users
//! whose sessions from before a time are revoked (`sub` + `before`), plus the per-isolate rule
//! for how long a copy of it may be trusted.
//!
//! Pure: no I/O, time comes in as `now` (Unix seconds). Everything the adapter decides is here.
//! There, one Durable Object is the only writer (so concurrent revocations cannot overwrite each
//! other: Workers KV has no compare-and-swap) and publishes the document as one Workers KV value,
//! which every isolate reads at most every `REVOCATION_REFRESH_SECS` into a [`RevocationCopy`].
//!
//! Document (JSON):
//!
//! ```json
//! {"format":1,"revision":42,
//!  "sessions":{"<sid>":<drop_after>},
//!  "users":{"<sub>":{"before":<unix>,"drop_after":<unix>}}}
//! ```
//!
//! A `sessions` key `idp:<idp>/<idp_sid>` is a provider session ended by back-channel logout:
//! every session whose `idp` and `idp_sid` claims name it. Our own session ids never contain
//! `:`, and a reader that predates such keys parses them and never matches them, so the
//! document's format is unchanged.
//!
//! `drop_after` is the time after which no token the entry could match can still be valid
//! (`auth_time` + maximum session age + leeway): [`RevocationList::prune`] removes such entries
//! on every write, so the document stays as small as the set of live revoked sessions.

use std::collections::BTreeMap;

use crate::login::handoff::SIGN_ON_CLAIM;
use crate::machine::service_token;
use serde::{Deserialize, Serialize};

use crate::token::claims::{Claims, VerifiedClaims};

/// The only document format this version reads and writes.
pub const FORMAT: u64 = 1;
/// Default for `REVOCATION_REFRESH_SECS`: how often an isolate re-reads the document.
pub const DEFAULT_REFRESH_SECS: u64 = 30;
/// Default for `REVOCATION_MAX_STALE_SECS`: how long a copy that could not be refreshed is used
/// before protected routes fail closed.
pub const DEFAULT_MAX_STALE_SECS: u64 = 300;

/// How revocation is read and who may revoke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// How often an isolate re-reads the revocation document (`REVOCATION_REFRESH_SECS`,
    /// default 30; 0 re-reads on every request that carries a session).
    pub refresh_secs: u64,
    /// How long an isolate keeps using its last good copy when re-reading fails
    /// (`REVOCATION_MAX_STALE_SECS`, default 300); past that, protected routes fail closed.
    pub max_stale_secs: u64,
    /// The role that may revoke sessions through `POST /auth/revoke` (`REVOKE_ROLE`,
    /// default `admin`).
    pub revoke_role: String,
}

impl Settings {
    /// `REVOCATION_REFRESH_SECS`, `REVOCATION_MAX_STALE_SECS` and `REVOKE_ROLE`.
    pub fn from_vars(vars: &crate::config::Vars) -> Result<Self, crate::config::ConfigError> {
        let refresh_secs =
            vars.number("REVOCATION_REFRESH_SECS", DEFAULT_REFRESH_SECS, 0..=3600)?;
        let max_stale_secs = vars.number(
            "REVOCATION_MAX_STALE_SECS",
            DEFAULT_MAX_STALE_SECS,
            0..=86_400,
        )?;
        if max_stale_secs < refresh_secs {
            // A copy would go stale before the next read is due: every session refused between.
            return Err(crate::config::ConfigError(
                "REVOCATION_MAX_STALE_SECS must be at least REVOCATION_REFRESH_SECS".into(),
            ));
        }
        Ok(Settings {
            refresh_secs,
            max_stale_secs,
            revoke_role: vars.text("REVOKE_ROLE", "admin"),
        })
    }

    /// The longest a revocation takes to reach every isolate ([`max_propagation_secs`]).
    pub fn max_propagation_secs(&self) -> u64 {
        max_propagation_secs(self.refresh_secs, self.max_stale_secs)
    }
}
/// A document larger than this is refused as corrupt, and never written (KV values may be far
/// larger; ours should never be, since expired entries are pruned).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;
/// How long a Workers KV location may keep serving an older value after a write elsewhere.
pub const KV_PROPAGATION_SECS: u64 = 60;
/// Least time between two reads while an isolate has no usable copy: a failing store is retried
/// about once a second, not on every request.
pub const RETRY_SECS: u64 = 1;
/// A read that has not finished after this long is considered abandoned (its request was
/// cancelled) and another may start.
pub const READ_ABANDONED_SECS: u64 = 10;

/// A revocation of every session of one user that began (`auth_time`) before `before`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRevocation {
    /// Sessions with `auth_time` strictly before this (Unix seconds) are refused.
    pub before: u64,
    /// After this time no such session can still be valid: the entry may be dropped.
    pub drop_after: u64,
}

/// The revocation document.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationList {
    /// Document format; must be [`FORMAT`].
    pub format: u64,
    /// Incremented on every write, so logs and operators can tell copies apart.
    pub revision: u64,
    /// Revoked session ids → when the entry may be dropped.
    #[serde(default)]
    pub sessions: BTreeMap<String, u64>,
    /// Revoked users → from when and until when.
    #[serde(default)]
    pub users: BTreeMap<String, UserRevocation>,
}

/// The `sessions` key of the provider session `sid` at the provider `idp` (provider ids hold
/// no `/`, so the key names one pair only; our session ids hold no `:`, so it is no session id,
/// and no trusted issuer may be called `idp`, so it is no issuer's token id either).
pub fn provider_session_key(idp: &str, sid: &str) -> String {
    format!("idp:{idp}/{sid}")
}

/// Why a document could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DocumentError {
    /// Over [`MAX_DOCUMENT_BYTES`].
    TooLarge,
    /// Not JSON of the expected shape.
    Malformed(String),
    /// A `format` this version does not understand.
    UnknownFormat(u64),
}

impl std::fmt::Display for DocumentError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocumentError::TooLarge => {
                write!(f, "revocation document over {MAX_DOCUMENT_BYTES} bytes")
            }
            DocumentError::Malformed(e) => write!(f, "revocation document malformed: {e}"),
            DocumentError::UnknownFormat(v) => {
                write!(f, "revocation document format {v} (expected {FORMAT})")
            }
        }
    }
}

/// Why a verified session is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// Its `sid` is listed.
    Session,
    /// Its user is listed and it began before the cut-off.
    User,
    /// Its identity provider ended the provider session it came from.
    ProviderSession,
    /// The auth host's session it came from is listed (an app's session, [`SIGN_ON_CLAIM`]).
    SignOn,
}

impl Revoked {
    /// The log reason.
    pub fn code(self) -> &'static str {
        match self {
            Revoked::Session => "revoked_session",
            Revoked::User => "revoked_user",
            Revoked::ProviderSession => "revoked_provider_session",
            Revoked::SignOn => "revoked_sign_on",
        }
    }
}

impl RevocationList {
    /// An empty document (what a missing KV value means).
    pub fn empty() -> Self {
        RevocationList {
            format: FORMAT,
            ..RevocationList::default()
        }
    }

    /// Parses a stored document, refusing unknown formats and fields.
    pub fn parse(text: &str) -> Result<Self, DocumentError> {
        if text.len() > MAX_DOCUMENT_BYTES {
            return Err(DocumentError::TooLarge);
        }
        let list: RevocationList =
            serde_json::from_str(text).map_err(|e| DocumentError::Malformed(e.to_string()))?;
        if list.format != FORMAT {
            return Err(DocumentError::UnknownFormat(list.format));
        }
        Ok(list)
    }

    /// The document as stored (compact JSON, keys sorted).
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| String::from("{}"))
    }

    /// Whether a verified session is revoked: at most four lookups, whatever the document's
    /// size.
    pub fn check(&self, session: &VerifiedClaims) -> Result<(), Revoked> {
        let claims = session.claims();
        if self.sessions.contains_key(&claims.sid) {
            return Err(Revoked::Session);
        }
        let text = |name: &str| claims.extra.get(name).and_then(serde_json::Value::as_str);
        if text(SIGN_ON_CLAIM).is_some_and(|psid| self.sessions.contains_key(psid)) {
            return Err(Revoked::SignOn);
        }
        if let (Some(idp), Some(sid)) = (text("idp"), text("idp_sid")) {
            if self.sessions.contains_key(&provider_session_key(idp, sid)) {
                return Err(Revoked::ProviderSession);
            }
        }
        match self.users.get(&claims.sub) {
            Some(user) if claims.auth_time < user.before => Err(Revoked::User),
            _ => Ok(()),
        }
    }

    /// Revokes one session until `drop_after` (keeps the later time if already listed).
    pub fn revoke_session(&mut self, sid: &str, drop_after: u64) {
        let entry = self.sessions.entry(sid.to_owned()).or_insert(drop_after);
        *entry = (*entry).max(drop_after);
    }

    /// Revokes every session that came from the provider session `sid` at `idp`, until
    /// `drop_after`.
    pub fn revoke_provider_session(&mut self, idp: &str, sid: &str, drop_after: u64) {
        self.revoke_session(&provider_session_key(idp, sid), drop_after);
    }

    /// Revokes every session of `sub` that began before `before`; the entry lives until
    /// `before + max_session_age + leeway`, when none of those sessions can still be valid.
    pub fn revoke_user(&mut self, sub: &str, before: u64, max_session_age: u64, leeway: u64) {
        let drop_after = before
            .saturating_add(max_session_age)
            .saturating_add(leeway);
        let entry = self
            .users
            .entry(sub.to_owned())
            .or_insert(UserRevocation { before, drop_after });
        entry.before = entry.before.max(before);
        entry.drop_after = entry.drop_after.max(drop_after);
    }

    /// Drops every entry that can no longer match a valid token; returns how many.
    pub fn prune(&mut self, now: u64) -> usize {
        let before = self.len();
        self.sessions.retain(|_, drop_after| *drop_after >= now);
        self.users.retain(|_, user| user.drop_after >= now);
        before - self.len()
    }

    /// Prune, bump the revision: what the writer does before storing the document.
    pub fn prepare_write(&mut self, now: u64) {
        self.prune(now);
        self.revision = self.revision.saturating_add(1);
    }

    /// Adds every entry of `delta` (a later cut-off or drop time wins; nothing is removed).
    pub fn merge(&mut self, delta: &RevocationList) {
        for (sid, drop_after) in &delta.sessions {
            self.revoke_session(sid, *drop_after);
        }
        for (sub, user) in &delta.users {
            let entry = self
                .users
                .entry(sub.clone())
                .or_insert_with(|| user.clone());
            entry.before = entry.before.max(user.before);
            entry.drop_after = entry.drop_after.max(user.drop_after);
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.sessions.len() + self.users.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The document as stored, or `None` if it would be over [`MAX_DOCUMENT_BYTES`] (readers
    /// would refuse it: the write must be refused instead).
    pub fn to_stored_json(&self) -> Option<String> {
        Some(self.to_json()).filter(|text| text.len() <= MAX_DOCUMENT_BYTES)
    }
}

/// One revocation, as `POST /auth/revoke` and `edgeauth revoke` take it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revocation {
    /// One session, by `sid`.
    Session {
        /// The session id.
        sid: String,
    },
    /// Every session of `sub` that began before `before`.
    User {
        /// The user id.
        sub: String,
        /// Cut-off (Unix seconds): sessions with `auth_time` before it are refused.
        before: u64,
    },
}

/// Longest `sid` or `sub` a revocation names (a token's are far shorter).
pub const MAX_ID_BYTES: usize = 256;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RevocationBody {
    sid: Option<String>,
    sub: Option<String>,
    before: Option<u64>,
}

impl Revocation {
    /// Parses a request body: `{"sid":"…"}`, or `{"sub":"…"}` with an optional `"before"`
    /// (Unix seconds). The default is `now + 1`, so every session begun up to and including the
    /// current second is covered (times are whole seconds); a later value is refused, so a
    /// revocation cannot block logins that come after it.
    pub fn from_json(body: &[u8], now: u64) -> Result<Self, &'static str> {
        let body: RevocationBody =
            serde_json::from_slice(body).map_err(|_| "revocation_body_malformed")?;
        let valid = |id: &str| !id.is_empty() && id.len() <= MAX_ID_BYTES;
        // A service token authenticates afresh on every request, under its client id: a
        // revocation entry would never match it, or would wear off while the token lives on.
        // It is revoked by deleting its record (`edgeauth service-token revoke`).
        let is_service_token = |sid: &Option<String>, sub: &Option<String>| {
            sid.as_deref().is_some_and(service_token::is_client_id)
                || sub.as_deref().is_some_and(|sub| {
                    crate::login::oidc::in_namespace(sub, service_token::SUB_NAMESPACE)
                })
        };
        if is_service_token(&body.sid, &body.sub) {
            return Err("revocation_of_service_token");
        }
        match (body.sid, body.sub, body.before) {
            (Some(sid), None, None) if valid(&sid) => Ok(Revocation::Session { sid }),
            (None, Some(sub), before) if valid(&sub) => {
                let latest = now.saturating_add(1);
                let before = before.unwrap_or(latest);
                if before > latest {
                    return Err("revocation_before_in_future");
                }
                Ok(Revocation::User { sub, before })
            }
            _ => Err("revocation_body_invalid"),
        }
    }

    /// Adds this revocation to `list`. A session's `auth_time` is unknown here, but it began no
    /// later than `now`, so its entry can be dropped once `now` is older than the maximum age.
    pub fn apply(&self, list: &mut RevocationList, now: u64, max_session_age: u64, leeway: u64) {
        match self {
            Revocation::Session { sid } => {
                list.revoke_session(sid, session_drop_after(now, max_session_age, leeway));
            }
            Revocation::User { sub, before } => {
                list.revoke_user(sub, *before, max_session_age, leeway);
            }
        }
    }

    /// `{"sid":…}` or `{"sub":…,"before":…}`: what the audit log and responses show.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Revocation::Session { sid } => serde_json::json!({ "sid": sid }),
            Revocation::User { sub, before } => serde_json::json!({ "sub": sub, "before": before }),
        }
    }
}

/// The longest a stored revocation can take to reach every isolate, with the default refresh and
/// staleness settings given: an isolate re-reads after `refresh_secs`, or keeps an old copy up to
/// `max_stale_secs` when reads fail, and KV may serve the previous value for
/// [`KV_PROPAGATION_SECS`].
pub fn max_propagation_secs(refresh_secs: u64, max_stale_secs: u64) -> u64 {
    refresh_secs
        .max(max_stale_secs)
        .saturating_add(KV_PROPAGATION_SECS)
}

/// How long a logout's sign-on entry ([`SIGN_ON_CLAIM`]) must be kept: until every session of
/// that sign-on alive now, or made before every isolate knew of the revocation (a renewal, an
/// app's handoff), has expired. Not capped by the presented session's maximum age: a later login
/// of the same sign-on began later.
pub fn sign_on_drop_after(
    claims: &Claims,
    now: u64,
    ttl: u64,
    propagation_secs: u64,
    leeway: u64,
) -> u64 {
    claims
        .exp
        .max(now.saturating_add(propagation_secs).saturating_add(ttl))
        .saturating_add(leeway)
}

/// How long a logout's `sid` entry must be kept: until the presented token has expired, and any
/// renewal of the same session minted before every isolate knew of the revocation (at most
/// `propagation_secs` from `now`, each at most `ttl` long) has too; never past the session's
/// maximum age. Much shorter than [`session_drop_after`], so frequent logouts keep the document
/// small.
pub fn logout_drop_after(
    claims: &Claims,
    now: u64,
    ttl: u64,
    propagation_secs: u64,
    max_session_age: u64,
    leeway: u64,
) -> u64 {
    let latest_renewal = now.saturating_add(propagation_secs).saturating_add(ttl);
    claims
        .exp
        .max(latest_renewal)
        .saturating_add(leeway)
        .min(session_drop_after(
            claims.auth_time,
            max_session_age,
            leeway,
        ))
}

/// How long a back-channel logout's provider-session entry must be kept: until every session
/// that could carry that provider session has expired. Such a session was minted or renewed at
/// the latest when every isolate learnt of the entry (`propagation_secs` from `now`), or minted
/// later from an ID token the provider issued before the logout (at most `id_token_age_secs`
/// old), and lives at most `ttl`; once the entry is known no such session is admitted, so none
/// is renewed. Never past a session's maximum age from `now`. Hours, not the maximum age, so the
/// document stays small however often providers log users out.
pub fn provider_logout_drop_after(
    now: u64,
    ttl: u64,
    propagation_secs: u64,
    id_token_age_secs: u64,
    max_session_age: u64,
    leeway: u64,
) -> u64 {
    now.saturating_add(propagation_secs.max(id_token_age_secs.saturating_add(leeway)))
        .saturating_add(ttl)
        .saturating_add(leeway)
        .min(session_drop_after(now, max_session_age, leeway))
}

/// When a session of `auth_time` can no longer be valid anywhere: its revocation's `drop_after`.
pub fn session_drop_after(auth_time: u64, max_session_age: u64, leeway: u64) -> u64 {
    auth_time
        .saturating_add(max_session_age)
        .saturating_add(leeway)
}

/// What a request should do about the isolate's copy at `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// Check the session against the copy (or fail closed if there is no usable one).
    Check,
    /// Read the document first (this request does it; others wait for it or use the copy).
    Read,
    /// Another request of this isolate is reading and there is no usable copy: wait for it.
    Wait,
}

/// An isolate's copy of the document and the state of its reads.
#[derive(Clone, Debug, Default)]
pub struct RevocationCopy {
    /// The newest document held, and when it was last confirmed by a read or a write.
    copy: Option<(RevocationList, u64)>,
    /// When a read was last started.
    last_attempt: Option<u64>,
    /// When the read in flight, if any, started.
    reading_since: Option<u64>,
}

impl RevocationCopy {
    /// Entries of the document held (sessions, users), for the isolate's own report.
    pub fn sizes(&self) -> (usize, usize) {
        self.copy
            .as_ref()
            .map_or((0, 0), |(list, _)| (list.sessions.len(), list.users.len()))
    }

    /// The next step for a request at `now`. Reads happen every `refresh_secs` while the copy is
    /// usable, every [`RETRY_SECS`] while it is not, and never two at once.
    pub fn next_step(&self, now: u64, refresh_secs: u64, max_stale_secs: u64) -> Step {
        let usable = self.usable(now, max_stale_secs).is_some();
        let reading = self
            .reading_since
            .is_some_and(|since| now < since.saturating_add(READ_ABANDONED_SECS));
        if reading {
            return if usable { Step::Check } else { Step::Wait };
        }
        let interval = if usable {
            refresh_secs
        } else {
            refresh_secs.min(RETRY_SECS)
        };
        match self.last_attempt {
            Some(at) if now < at.saturating_add(interval) => Step::Check,
            _ => Step::Read,
        }
    }

    /// Marks a read as started at `now`.
    pub fn begin_read(&mut self, now: u64) {
        self.last_attempt = Some(now);
        self.reading_since = Some(now);
    }

    /// Records a read that started at `started`: `Some(list)` on success (a missing value is an
    /// empty list), `None` on failure (KV error, corrupt document: the copy is kept as it was).
    pub fn record_read(&mut self, started: u64, now: u64, result: Option<RevocationList>) {
        if self.reading_since == Some(started) {
            self.reading_since = None;
        }
        if let Some(list) = result {
            self.install(list, now);
        }
    }

    /// Records the document this isolate's own write produced: it applies here at once.
    pub fn record_written(&mut self, now: u64, list: RevocationList) {
        self.install(list, now);
    }

    /// Revisions only grow (one writer), so an older revision is KV still serving a previous
    /// value after a newer one was seen: the newer copy is kept, and counts as confirmed.
    fn install(&mut self, list: RevocationList, now: u64) {
        match &mut self.copy {
            Some((held, confirmed)) if held.revision > list.revision => *confirmed = now,
            _ => self.copy = Some((list, now)),
        }
    }

    /// The copy to check against, or `None` if there is none or it was last confirmed more than
    /// `max_stale_secs` ago (then protected routes must fail closed).
    pub fn usable(&self, now: u64, max_stale_secs: u64) -> Option<&RevocationList> {
        match &self.copy {
            Some((list, confirmed)) if now <= confirmed.saturating_add(max_stale_secs) => {
                Some(list)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn service_tokens_are_not_revoked_through_the_list() {
        for body in [
            r#"{"sub":"service:ci"}"#,
            r#"{"sub":"service:ci","before":5}"#,
            r#"{"sid":"0123456789abcdef0123456789abcdef"}"#,
        ] {
            assert_eq!(
                Revocation::from_json(body.as_bytes(), 100),
                Err("revocation_of_service_token"),
                "{body}"
            );
        }
        assert!(Revocation::from_json(br#"{"sub":"services:ci"}"#, 100).is_ok());
        assert!(Revocation::from_json(br#"{"sub":"corp:ci-job"}"#, 100).is_ok());
    }

    use super::*;
    use serde_json::Map;

    fn claims(sub: &str, sid: &str, auth_time: u64) -> Claims {
        Claims {
            iss: "i".into(),
            aud: vec!["a".into()],
            sub: sub.into(),
            sid: sid.into(),
            iat: auth_time,
            exp: auth_time + 3600,
            nbf: None,
            auth_time,
            roles: vec![],
            name: None,
            email: None,
            extra: Map::new(),
        }
    }

    fn verified(sub: &str, sid: &str, auth_time: u64) -> VerifiedClaims {
        VerifiedClaims::new(claims(sub, sid, auth_time), "kid".into())
    }

    #[test]
    fn a_provider_session_revokes_exactly_the_sessions_it_began() {
        let from = |idp: &str, idp_sid: &str, sid: &str| {
            let mut c = claims("alice", sid, 1000);
            c.extra.insert("idp".into(), idp.into());
            c.extra.insert("idp_sid".into(), idp_sid.into());
            VerifiedClaims::new(c, "kid".into())
        };
        let mut list = RevocationList::empty();
        list.revoke_provider_session("corp", "p-1", 5000);
        assert_eq!(
            list.check(&from("corp", "p-1", "s1")),
            Err(Revoked::ProviderSession)
        );
        assert_eq!(
            list.check(&from("corp", "p-1", "s2")),
            Err(Revoked::ProviderSession)
        );
        assert_eq!(list.check(&from("corp", "p-2", "s3")), Ok(()));
        assert_eq!(list.check(&from("other", "p-1", "s4")), Ok(()));
        assert_eq!(
            list.check(&verified("alice", "s5", 1000)),
            Ok(()),
            "no idp claims"
        );
        let stored = RevocationList::parse(&list.to_json()).expect("round trip");
        assert_eq!(stored, list);
        let mut merged = RevocationList::empty();
        merged.merge(&list);
        assert_eq!(merged.len(), 1);
        assert_eq!(
            merged.prune(5001),
            1,
            "dropped once no such session can be valid"
        );
        let old = r#"{"format":1,"revision":3,"sessions":{},"users":{}}"#;
        assert!(
            RevocationList::parse(old).is_ok(),
            "documents without the member still read"
        );
    }

    #[test]
    fn session_revocation_matches_only_that_sid() {
        let mut list = RevocationList::empty();
        list.revoke_session("s1", 2000);
        assert_eq!(
            list.check(&verified("alice", "s1", 1000)),
            Err(Revoked::Session)
        );
        assert_eq!(list.check(&verified("alice", "s2", 1000)), Ok(()));
        assert_eq!(
            list.check(&verified("bob", "s1", 1000)),
            Err(Revoked::Session)
        );
    }

    #[test]
    fn user_revocation_matches_sessions_begun_before_the_cut_off_only() {
        let mut list = RevocationList::empty();
        list.revoke_user("alice", 1000, 604_800, 30);
        assert_eq!(list.check(&verified("alice", "s", 999)), Err(Revoked::User));
        assert_eq!(
            list.check(&verified("alice", "s", 1000)),
            Ok(()),
            "a login at the cut-off or later is new"
        );
        assert_eq!(list.check(&verified("bob", "s", 999)), Ok(()));
        // A later revocation moves the cut-off forward, never back.
        list.revoke_user("alice", 500, 604_800, 30);
        assert_eq!(list.users["alice"].before, 1000);
        list.revoke_user("alice", 5000, 604_800, 30);
        assert_eq!(
            list.check(&verified("alice", "s", 4000)),
            Err(Revoked::User)
        );
        assert_eq!(list.users["alice"].drop_after, 5000 + 604_800 + 30);
    }

    #[test]
    fn prune_drops_only_entries_that_can_no_longer_match() {
        let mut list = RevocationList::empty();
        list.revoke_session("old", 100);
        list.revoke_session("live", 300);
        list.revoke_user("gone", 10, 50, 0);
        list.revoke_user("here", 200, 50, 0);
        assert_eq!(list.prune(200), 2);
        assert_eq!(list.sessions.keys().collect::<Vec<_>>(), ["live"]);
        assert_eq!(list.users.keys().collect::<Vec<_>>(), ["here"]);
        list.prepare_write(1_000);
        assert!(list.sessions.is_empty() && list.users.is_empty());
        assert_eq!(list.revision, 1);
    }

    #[test]
    fn documents_round_trip_and_bad_ones_are_refused() {
        let mut list = RevocationList::empty();
        list.revoke_session("s1", 2000);
        list.revoke_user("alice", 1000, 10, 5);
        list.prepare_write(0);
        let text = list.to_json();
        assert_eq!(
            text,
            r#"{"format":1,"revision":1,"sessions":{"s1":2000},"users":{"alice":{"before":1000,"drop_after":1015}}}"#
        );
        assert_eq!(RevocationList::parse(&text), Ok(list));
        assert_eq!(
            RevocationList::parse(r#"{"format":1,"revision":0}"#),
            Ok(RevocationList::empty())
        );
        assert_eq!(
            RevocationList::parse(r#"{"format":2,"revision":0}"#),
            Err(DocumentError::UnknownFormat(2))
        );
        for bad in [
            "",
            "[]",
            "{",
            r#"{"format":1,"revision":0,"extra":1}"#,
            r#"{"format":1,"revision":0,"sessions":{"s":"x"}}"#,
        ] {
            assert!(
                matches!(RevocationList::parse(bad), Err(DocumentError::Malformed(_))),
                "{bad}"
            );
        }
        assert_eq!(
            RevocationList::parse(&" ".repeat(MAX_DOCUMENT_BYTES + 1)),
            Err(DocumentError::TooLarge)
        );
    }

    fn listed(revision: u64, sid: &str) -> RevocationList {
        let mut list = RevocationList::empty();
        list.revision = revision;
        list.revoke_session(sid, 10_000);
        list
    }

    #[test]
    fn copies_refresh_on_schedule_and_go_unusable_when_too_stale() {
        let mut copy = RevocationCopy::default();
        assert_eq!(copy.next_step(0, 30, 300), Step::Read);
        assert_eq!(copy.usable(0, 300), None, "no copy yet: fail closed");
        copy.begin_read(100);
        copy.record_read(100, 100, Some(RevocationList::empty()));
        assert_eq!(copy.next_step(129, 30, 300), Step::Check);
        assert_eq!(copy.next_step(130, 30, 300), Step::Read);
        // A failed read keeps the old copy, and waits a full interval before the next attempt.
        copy.begin_read(130);
        copy.record_read(130, 130, None);
        assert_eq!(copy.next_step(131, 30, 300), Step::Check);
        assert!(copy.usable(400, 300).is_some());
        assert_eq!(copy.usable(401, 300), None);
        // Without a usable copy a read is retried every RETRY_SECS, not every refresh interval.
        copy.begin_read(401);
        copy.record_read(401, 401, None);
        assert_eq!(copy.next_step(401, 30, 300), Step::Check);
        assert_eq!(copy.next_step(401 + RETRY_SECS, 30, 300), Step::Read);
        // A successful read makes it usable again.
        copy.begin_read(500);
        copy.record_read(500, 500, Some(RevocationList::empty()));
        assert!(copy.usable(500, 300).is_some());
    }

    #[test]
    fn one_read_at_a_time_and_requests_without_a_copy_wait_for_it() {
        let mut copy = RevocationCopy::default();
        copy.begin_read(100);
        assert_eq!(
            copy.next_step(100, 0, 0),
            Step::Wait,
            "cold: wait, never refuse early"
        );
        copy.record_read(100, 100, Some(RevocationList::empty()));
        assert_eq!(copy.next_step(100, 30, 300), Step::Check);
        copy.begin_read(130);
        assert_eq!(
            copy.next_step(131, 30, 300),
            Step::Check,
            "a usable copy is used while the next read is in flight"
        );
        // A read whose request vanished does not block reads forever.
        assert_eq!(copy.next_step(160, 30, 300), Step::Read);
        let mut cold = RevocationCopy::default();
        cold.begin_read(0);
        assert_eq!(cold.next_step(READ_ABANDONED_SECS - 1, 30, 300), Step::Wait);
        assert_eq!(cold.next_step(READ_ABANDONED_SECS, 30, 300), Step::Read);
    }

    #[test]
    fn an_older_revision_never_replaces_a_newer_copy() {
        let mut copy = RevocationCopy::default();
        copy.record_written(100, listed(5, "mine"));
        copy.begin_read(110);
        // KV still serves revision 4 at this location: the copy keeps the isolate's own write.
        copy.record_read(110, 110, Some(listed(4, "other")));
        let held = copy.usable(110, 0).expect("confirmed at 110");
        assert!(held.sessions.contains_key("mine"));
        assert_eq!(held.revision, 5);
        copy.record_read(110, 120, Some(listed(6, "newer")));
        assert!(copy
            .usable(120, 0)
            .expect("usable")
            .sessions
            .contains_key("newer"));
    }

    #[test]
    fn merge_keeps_every_entry_and_the_later_times() {
        let mut list = RevocationList::empty();
        list.revoke_session("a", 100);
        list.revoke_user("u", 50, 10, 0);
        let mut delta = RevocationList::empty();
        delta.revoke_session("a", 90);
        delta.revoke_session("b", 200);
        delta.revoke_user("u", 70, 10, 0);
        list.merge(&delta);
        assert_eq!(list.sessions["a"], 100);
        assert_eq!(list.sessions["b"], 200);
        assert_eq!(list.users["u"].before, 70);
        assert_eq!(list.len(), 3);
    }

    #[test]
    fn a_document_readers_would_refuse_is_never_produced() {
        let mut list = RevocationList::empty();
        assert!(list.to_stored_json().is_some());
        let sid = "s".repeat(MAX_ID_BYTES);
        for i in 0..(MAX_DOCUMENT_BYTES / MAX_ID_BYTES + 1) {
            list.revoke_session(&format!("{sid}{i}"), 1);
        }
        assert!(list.to_stored_json().is_none());
    }

    #[test]
    fn logout_entries_outlive_every_renewal_minted_before_propagation_only() {
        let session = claims("alice", "s", 1_000);
        // exp 4600 (auth_time + 3600); logged out at 2000; ttl 3600; propagation 360; leeway 30.
        assert_eq!(
            logout_drop_after(&session, 2_000, 3_600, 360, 604_800, 30),
            2_000 + 360 + 3_600 + 30
        );
        // Never past the maximum session age.
        assert_eq!(
            logout_drop_after(&session, 2_000, 3_600, 360, 2_000, 30),
            1_000 + 2_000 + 30
        );
        assert_eq!(max_propagation_secs(30, 300), 360);
    }

    #[test]
    fn session_drop_after_covers_the_maximum_session_age() {
        assert_eq!(session_drop_after(1000, 604_800, 30), 605_830);
        assert_eq!(session_drop_after(u64::MAX, 1, 1), u64::MAX);
    }
}
