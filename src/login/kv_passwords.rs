//! Passwords in Workers KV (`USER_STORE=kv`): the user's record under `user:<name>`, the decoy
//! work for a username that has none, and the verdict once the password was derived.

use std::borrow::Cow;

use crate::login::password::{PasswordHash, ITERATIONS};
use crate::login::{object, profile_text, roles, Identity, RecordError, Verdict};
use serde_json::Value;

/// The Workers KV key of a user's record: `user:<username>`.
pub fn user_key(username: &str) -> String {
    format!("user:{username}")
}

/// A PBKDF2 hash of a random password that was thrown away, at [`ITERATIONS`].
///
/// When the username is unknown (or its record cannot be read), the login still derives
/// PBKDF2 of the submitted password against this hash and refuses whatever comes out. The
/// unknown user then costs the same 100,000 iterations as a known one, so the response time does
/// not tell an attacker which usernames exist. It only holds if stored records use the same
/// iteration count (the CLI's `hash-password` does by default). Nobody knows a password that
/// matches it, and the login is refused even if one did.
pub const DECOY_PASSWORD_HASH: &str =
    "$pbkdf2-sha256$i=100000$L0rYnj9cnp95eoCKCvPNpQ$09GixMytcRiyNmeoQmhQ1jSbYUreqj/izxUZmH/RMBg";
/// [`DECOY_PASSWORD_HASH`]'s salt and derived key, as bytes (a test checks they are the same).
const DECOY_SALT: [u8; 16] = [
    47, 74, 216, 158, 63, 92, 158, 159, 121, 122, 128, 138, 10, 243, 205, 165,
];
const DECOY_DERIVED: [u8; 32] = [
    211, 209, 162, 196, 204, 173, 113, 24, 178, 54, 103, 168, 66, 104, 80, 214, 52, 155, 97, 74,
    222, 170, 63, 226, 207, 21, 25, 152, 127, 209, 48, 24,
];

/// [`DECOY_PASSWORD_HASH`], parsed.
pub fn decoy_hash() -> PasswordHash {
    PasswordHash {
        iterations: ITERATIONS,
        salt: DECOY_SALT.to_vec(),
        hash: DECOY_DERIVED,
    }
}

/// A user's record in Workers KV under [`user_key`]:
/// `{"password": "<PHC string>", "roles": [...], "disabled": false, "name"?: …, "email"?: …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The stored password hash (`Debug` omits the hash bytes).
    pub password: PasswordHash,
    /// The user's roles.
    pub roles: Vec<String>,
    /// A disabled user is refused like a wrong password. Defaults to `false` when absent.
    pub disabled: bool,
    /// Display name, if any.
    pub name: Option<String>,
    /// Email address, if any.
    pub email: Option<String>,
}

impl UserRecord {
    /// Parses a record strictly: duplicate member names refused; `password` must be a
    /// supported PHC string ([`PasswordHash::parse`]); `roles` is required (it may be empty);
    /// `disabled` must be a boolean when present; `name`/`email` are optional strings of at
    /// most [`crate::login::MAX_PROFILE_BYTES`] without control characters (`null` or `""` mean absent).
    /// Unknown members are ignored, so tools may add bookkeeping fields.
    pub fn parse(json: &str) -> Result<Self, RecordError> {
        let object = object(json.as_bytes())?;
        let password = match object.get("password") {
            Some(Value::String(phc)) => PasswordHash::parse(phc)
                .map_err(|_| RecordError("password is not a supported PHC string"))?,
            Some(_) => return Err(RecordError("password is not a string")),
            None => return Err(RecordError("password is missing")),
        };
        let disabled = match object.get("disabled") {
            None => false,
            Some(Value::Bool(disabled)) => *disabled,
            Some(_) => return Err(RecordError("disabled is not true or false")),
        };
        Ok(UserRecord {
            password,
            roles: roles(&object)?,
            disabled,
            name: profile_text(&object, "name")?,
            email: profile_text(&object, "email")?,
        })
    }

    /// The identity of `username` (already validated by [`crate::login::request::LoginRequest::parse`]) with this
    /// record's roles and profile.
    pub fn identity(&self, username: &str) -> Identity {
        Identity {
            sub: username.to_owned(),
            roles: self.roles.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            provider: None,
            amr: crate::login::AMR_PASSWORD,
        }
    }
}

/// What the store held for a username: a record, an unreadable one, or none.
#[derive(Debug)]
pub struct Lookup(Result<Option<UserRecord>, RecordError>);

impl Lookup {
    /// The stored value under [`user_key`], if any, parsed.
    pub fn from_stored(value: Option<&str>) -> Self {
        Lookup(value.map(UserRecord::parse).transpose())
    }

    /// The hash to derive the submitted password against: the record's, else the decoy, so an
    /// unknown user or a broken record costs the same work as a real one.
    pub fn hash(&self) -> PasswordHash {
        match &self.0 {
            Ok(Some(record)) => record.password.clone(),
            _ => decoy_hash(),
        }
    }

    /// The verdict for `username` once the password was derived against [`Lookup::hash`]:
    /// `matches` counts only for a record that exists, is readable and is not disabled.
    pub fn verdict(self, username: &str, matches: bool) -> Verdict {
        let reason = match self.0 {
            Err(e) => Cow::Owned(format!("bad_user_record:{}", e.0)),
            Ok(None) => Cow::Borrowed("unknown_user"),
            Ok(Some(_)) if !matches => Cow::Borrowed("wrong_password"),
            Ok(Some(record)) if record.disabled => Cow::Borrowed("disabled_user"),
            Ok(Some(record)) => return Verdict::Authenticated(record.identity(username)),
        };
        Verdict::Refused(reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::password::{self, native};
    use crate::login::MAX_ROLES;

    #[test]
    fn user_key_is_prefixed() {
        assert_eq!(user_key("alice"), "user:alice");
    }

    fn phc(password: &[u8]) -> String {
        native::hash(password, &[7u8; 16], password::MIN_ITERATIONS).to_phc()
    }

    #[test]
    fn parses_a_user_record() {
        let phc = phc(b"pw");
        let json = serde_json::json!({
            "password": phc, "roles": ["admin", "staff"], "disabled": false,
            "name": "Alice A.", "email": "alice@example.com", "updated": 12
        })
        .to_string();
        let record = UserRecord::parse(&json).expect("valid record");
        assert!(native::verify(b"pw", &record.password));
        assert_eq!(record.roles, ["admin", "staff"]);
        assert!(!record.disabled);
        assert_eq!(record.name.as_deref(), Some("Alice A."));
        assert_eq!(
            record.identity("alice"),
            Identity {
                sub: "alice".into(),
                roles: vec!["admin".into(), "staff".into()],
                name: Some("Alice A.".into()),
                email: Some("alice@example.com".into()),
                provider: None,
                amr: crate::login::AMR_PASSWORD,
            }
        );
        let minimal = format!(r#"{{"password":"{phc}","roles":[]}}"#);
        let record = UserRecord::parse(&minimal).expect("minimal record");
        assert!(!record.disabled && record.roles.is_empty() && record.name.is_none());
        let disabled = format!(r#"{{"password":"{phc}","roles":[],"disabled":true,"name":null}}"#);
        assert!(
            UserRecord::parse(&disabled)
                .expect("disabled record")
                .disabled
        );
    }

    #[test]
    fn refuses_bad_user_records() {
        let phc = phc(b"pw");
        for (expected, json) in [
            ("not a JSON object", "nope"),
            ("not a JSON object", "[]"),
            ("password is missing", r#"{"roles":[]}"#),
            ("password is not a string", r#"{"password":1,"roles":[]}"#),
            (
                "password is not a supported PHC string",
                r#"{"password":"hunter2","roles":[]}"#,
            ),
            (
                "password is not a supported PHC string",
                r#"{"password":"$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA","roles":[]}"#,
            ),
        ] {
            assert_eq!(
                UserRecord::parse(json),
                Err(RecordError(expected)),
                "{json}"
            );
        }
        // The rest of a record after a valid password.
        let bad_role = "a role is not header-safe text without commas";
        for (expected, rest) in [
            ("roles is missing", "}"),
            ("roles is not an array", r#""roles":"admin"}"#),
            (bad_role, r#""roles":["a,admin"]}"#),
            (bad_role, r#""roles":["a\r\nX: y"]}"#),
            (bad_role, r#""roles":["a b"]}"#),
            (bad_role, r#""roles":[""]}"#),
            (bad_role, r#""roles":[1]}"#),
            ("a role is listed twice", r#""roles":["a","a"]}"#),
            (
                "disabled is not true or false",
                r#""roles":[],"disabled":"no"}"#,
            ),
            (
                "name is not a short string without control characters",
                r#""roles":[],"name":"a\nb"}"#,
            ),
            (
                "email is not a short string without control characters",
                r#""roles":[],"email":5}"#,
            ),
            (
                "duplicate member name",
                r#""roles":[],"disabled":true,"disabled":false}"#,
            ),
            (
                "duplicate member name",
                &format!(r#""password":"{phc}","roles":[]}}"#),
            ),
        ] {
            let json = format!(r#"{{"password":"{phc}",{rest}"#);
            let json = json.replace(",}", "}");
            assert_eq!(
                UserRecord::parse(&json),
                Err(RecordError(expected)),
                "{json}"
            );
        }
        let many: Vec<String> = (0..=MAX_ROLES).map(|i| format!("\"r{i}\"")).collect();
        let json = format!(r#"{{"password":"{phc}","roles":[{}]}}"#, many.join(","));
        assert_eq!(UserRecord::parse(&json), Err(RecordError("too many roles")));
    }
    #[test]
    fn decoy_is_a_full_cost_hash_nobody_can_match() {
        let decoy = decoy_hash();
        assert_eq!(decoy.iterations, password::ITERATIONS);
        assert_eq!(decoy.salt.len(), password::SALT_BYTES);
        assert_eq!(decoy.to_phc(), DECOY_PASSWORD_HASH);
        assert!(!native::verify(b"", &decoy));
        assert!(!native::verify(b"password", &decoy));
    }

    #[test]
    fn decoy_bytes_are_the_decoy_string() {
        assert_eq!(PasswordHash::parse(DECOY_PASSWORD_HASH), Ok(decoy_hash()));
    }

    #[test]
    fn verdicts_name_what_failed_for_the_log_only() {
        let record = |disabled: bool| {
            format!(
                r#"{{"password":"{}","roles":["r"],"disabled":{disabled}}}"#,
                phc(b"pw")
            )
        };
        let reason = |lookup: Lookup, matches| match lookup.verdict("alice", matches) {
            Verdict::Refused(reason) => reason.into_owned(),
            Verdict::Authenticated(identity) => format!("authenticated:{}", identity.sub),
        };
        let (enabled, disabled) = (record(false), record(true));
        let found = |text: &str| Lookup::from_stored(Some(text));
        assert_eq!(reason(found(&enabled), true), "authenticated:alice");
        assert_eq!(reason(found(&enabled), false), "wrong_password");
        assert_eq!(reason(found(&disabled), true), "disabled_user");
        assert_eq!(reason(found(&disabled), false), "wrong_password");
        assert_eq!(reason(Lookup::from_stored(None), true), "unknown_user");
        assert_eq!(
            reason(found("{}"), true),
            "bad_user_record:password is missing"
        );
    }

    #[test]
    fn only_a_readable_record_gives_its_own_hash() {
        let enabled = format!(r#"{{"password":"{}","roles":[]}}"#, phc(b"pw"));
        assert_ne!(Lookup::from_stored(Some(&enabled)).hash(), decoy_hash());
        assert_eq!(Lookup::from_stored(None).hash(), decoy_hash());
        assert_eq!(Lookup::from_stored(Some("[]")).hash(), decoy_hash());
    }
}
