//! Session revocation: one small, versioned document listing revoked sessions (`sid`) and users
//! whose sessions from before a time are revoked (`sub` + `before`), plus the per-isolate rule
//! for how long a copy of it may be trusted.
//!
//! Pure: no I/O, time comes in as `now` (Unix seconds). The Workers adapter stores the document
//! as one Workers KV value and keeps a copy per isolate; everything it decides is here.
//!
//! Document (JSON):
//!
//! ```json
//! {"format":1,"revision":42,
//!  "sessions":{"<sid>":<drop_after>},
//!  "users":{"<sub>":{"before":<unix>,"drop_after":<unix>}}}
//! ```
//!
//! `drop_after` is the time after which no token the entry could match can still be valid
//! (`auth_time` + maximum session age + leeway): [`RevocationList::prune`] removes such entries
//! on every write, so the document stays as small as the set of live revoked sessions.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::claims::Claims;

/// The only document format this version reads and writes.
pub const FORMAT: u64 = 1;
/// Default for `REVOCATION_REFRESH_SECS`: how often an isolate re-reads the document.
pub const DEFAULT_REFRESH_SECS: u64 = 30;
/// Default for `REVOCATION_MAX_STALE_SECS`: how long a copy that could not be refreshed is used
/// before protected routes fail closed.
pub const DEFAULT_MAX_STALE_SECS: u64 = 300;
/// A document larger than this is refused as corrupt (KV values may be far larger; ours should
/// never be, since expired entries are pruned).
pub const MAX_DOCUMENT_BYTES: usize = 4 * 1024 * 1024;

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
}

impl Revoked {
    /// The log reason.
    pub fn code(self) -> &'static str {
        match self {
            Revoked::Session => "revoked_session",
            Revoked::User => "revoked_user",
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

    /// Whether a verified session is revoked: two hash lookups, whatever the document's size.
    pub fn check(&self, claims: &Claims) -> Result<(), Revoked> {
        if self.sessions.contains_key(&claims.sid) {
            return Err(Revoked::Session);
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
        let before = self.sessions.len() + self.users.len();
        self.sessions.retain(|_, drop_after| *drop_after >= now);
        self.users.retain(|_, user| user.drop_after >= now);
        before - self.sessions.len() - self.users.len()
    }

    /// Prune, bump the revision: what every writer does before storing the document.
    pub fn prepare_write(&mut self, now: u64) {
        self.prune(now);
        self.revision = self.revision.saturating_add(1);
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

/// When a session of `auth_time` can no longer be valid anywhere: its revocation's `drop_after`.
pub fn session_drop_after(auth_time: u64, max_session_age: u64, leeway: u64) -> u64 {
    auth_time
        .saturating_add(max_session_age)
        .saturating_add(leeway)
}

/// What an isolate may do with its copy of the document at `now`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Freshness {
    /// The copy is recent enough: use it, no read.
    Fresh,
    /// Time to re-read; the copy (if any) may be used if the read fails.
    Refresh,
}

/// An isolate's copy of the document and when it last read it successfully.
#[derive(Clone, Debug, Default)]
pub struct RevocationCopy {
    /// The last document read successfully, and when (Unix seconds).
    pub copy: Option<(RevocationList, u64)>,
    /// When a read was last attempted, successful or not.
    pub last_attempt: Option<u64>,
}

impl RevocationCopy {
    /// Whether a read is due: never attempted, or the last attempt is `refresh_secs` old.
    pub fn freshness(&self, now: u64, refresh_secs: u64) -> Freshness {
        match self.last_attempt {
            Some(at) if now < at.saturating_add(refresh_secs) => Freshness::Fresh,
            _ => Freshness::Refresh,
        }
    }

    /// Records a read: `Some(list)` on success (a missing value is an empty list), `None` on
    /// failure (KV error, corrupt document): the previous copy is kept as it was.
    pub fn record_read(&mut self, now: u64, result: Option<RevocationList>) {
        self.last_attempt = Some(now);
        if let Some(list) = result {
            self.copy = Some((list, now));
        }
    }

    /// The copy to check against, or `None` if there is none or it is older than
    /// `max_stale_secs` (then protected routes must fail closed).
    pub fn usable(&self, now: u64, max_stale_secs: u64) -> Option<&RevocationList> {
        match &self.copy {
            Some((list, read_at)) if now <= read_at.saturating_add(max_stale_secs) => Some(list),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
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

    #[test]
    fn session_revocation_matches_only_that_sid() {
        let mut list = RevocationList::empty();
        list.revoke_session("s1", 2000);
        assert_eq!(
            list.check(&claims("alice", "s1", 1000)),
            Err(Revoked::Session)
        );
        assert_eq!(list.check(&claims("alice", "s2", 1000)), Ok(()));
        assert_eq!(
            list.check(&claims("bob", "s1", 1000)),
            Err(Revoked::Session)
        );
    }

    #[test]
    fn user_revocation_matches_sessions_begun_before_the_cut_off_only() {
        let mut list = RevocationList::empty();
        list.revoke_user("alice", 1000, 604_800, 30);
        assert_eq!(list.check(&claims("alice", "s", 999)), Err(Revoked::User));
        assert_eq!(
            list.check(&claims("alice", "s", 1000)),
            Ok(()),
            "a login at the cut-off or later is new"
        );
        assert_eq!(list.check(&claims("bob", "s", 999)), Ok(()));
        // A later revocation moves the cut-off forward, never back.
        list.revoke_user("alice", 500, 604_800, 30);
        assert_eq!(list.users["alice"].before, 1000);
        list.revoke_user("alice", 5000, 604_800, 30);
        assert_eq!(list.check(&claims("alice", "s", 4000)), Err(Revoked::User));
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

    #[test]
    fn copies_refresh_on_schedule_and_go_unusable_when_too_stale() {
        let mut copy = RevocationCopy::default();
        assert_eq!(copy.freshness(0, 30), Freshness::Refresh);
        assert_eq!(copy.usable(0, 300), None, "no copy yet: fail closed");
        copy.record_read(100, Some(RevocationList::empty()));
        assert_eq!(copy.freshness(129, 30), Freshness::Fresh);
        assert_eq!(copy.freshness(130, 30), Freshness::Refresh);
        // A failed read keeps the old copy, and waits a full interval before the next attempt.
        copy.record_read(130, None);
        assert_eq!(copy.freshness(131, 30), Freshness::Fresh);
        assert!(copy.usable(400, 300).is_some());
        assert_eq!(copy.usable(401, 300), None);
        // A successful read makes it usable again.
        copy.record_read(500, Some(RevocationList::empty()));
        assert!(copy.usable(500, 300).is_some());
    }

    #[test]
    fn revocation_bodies_name_exactly_one_session_or_user() {
        assert_eq!(
            Revocation::from_json(br#"{"sid":"s1"}"#, 100),
            Ok(Revocation::Session { sid: "s1".into() })
        );
        assert_eq!(
            Revocation::from_json(br#"{"sub":"alice"}"#, 100),
            Ok(Revocation::User {
                sub: "alice".into(),
                before: 101
            }),
            "a session begun this very second is covered"
        );
        assert_eq!(
            Revocation::from_json(br#"{"sub":"alice","before":50}"#, 100),
            Ok(Revocation::User {
                sub: "alice".into(),
                before: 50
            })
        );
        assert_eq!(
            Revocation::from_json(br#"{"sub":"alice","before":102}"#, 100),
            Err("revocation_before_in_future")
        );
        let long = format!(r#"{{"sid":"{}"}}"#, "s".repeat(MAX_ID_BYTES + 1));
        for bad in [
            &b"{}"[..],
            br#"{"sid":"s","sub":"u"}"#,
            br#"{"sid":"s","before":1}"#,
            br#"{"sid":""}"#,
            br#"{"sub":""}"#,
            br#"{"sid":"s","role":"x"}"#,
            br#"{"sid":1}"#,
            b"[]",
            b"",
            long.as_bytes(),
        ] {
            assert!(
                Revocation::from_json(bad, 100).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn applied_revocations_last_until_no_matching_session_can_be_valid() {
        let mut list = RevocationList::empty();
        Revocation::Session { sid: "s1".into() }.apply(&mut list, 1000, 600, 30);
        Revocation::User {
            sub: "bob".into(),
            before: 900,
        }
        .apply(&mut list, 1000, 600, 30);
        assert_eq!(list.sessions["s1"], 1630);
        assert_eq!(list.users["bob"].drop_after, 1530);
        assert_eq!(list.check(&claims("x", "s1", 1000)), Err(Revoked::Session));
        assert_eq!(list.check(&claims("bob", "s", 899)), Err(Revoked::User));
        assert_eq!(list.prune(1630), 1, "the user entry outlived its sessions");
        assert_eq!(list.prune(1631), 1);
    }

    #[test]
    fn session_drop_after_covers_the_maximum_session_age() {
        assert_eq!(session_drop_after(1000, 604_800, 30), 605_830);
        assert_eq!(session_drop_after(u64::MAX, 1, 1), u64::MAX);
    }
}
