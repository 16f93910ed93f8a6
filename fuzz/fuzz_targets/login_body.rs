//! The password login's inputs: the body of `POST /auth/login` under its `Content-Type`, the
//! PHC hash a user record stores, the record itself (Workers KV) and the upstream store's
//! answer.
//!
//! Input: `content type \0 body`; the body alone is also read as a PHC string, a user record and
//! an upstream answer.
//! Properties: an accepted login has a valid username, a password of 1 to 1,024 bytes and a
//! `next` that `safe_next` keeps as it is (`/` for JSON); an accepted PHC string is canonical
//! (it is what `to_phc` writes back).
#![no_main]

use edgeauth::login::is_valid_username;
use edgeauth::login::kv_passwords::UserRecord;
use edgeauth::login::next::safe_next;
use edgeauth::login::password::PasswordHash;
use edgeauth::login::request::{LoginKind, LoginRequest, MAX_PASSWORD_BYTES};
use edgeauth::login::upstream;
use edgeauth::login::Verdict;
use edgeauth_fuzz::{fields, lossy, text};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [content_type, body] = fields::<2>(data);
    let content_type = lossy(content_type);
    let content_type = Some(content_type.as_ref()).filter(|ct| !ct.is_empty());
    if let Ok(request) = LoginRequest::parse(content_type, body) {
        assert!(is_valid_username(&request.username), "{request:?}");
        assert!(!request.password.is_empty() && request.password.len() <= MAX_PASSWORD_BYTES);
        assert_eq!(safe_next(Some(&request.next)), request.next, "{request:?}");
        if request.kind == LoginKind::Json {
            assert_eq!(request.next, "/");
        }
    }

    let Some(body) = text(body) else { return };
    if let Ok(hash) = PasswordHash::parse(body) {
        assert_eq!(hash.to_phc(), body, "not canonical");
        assert!(PasswordHash::parse(&hash.to_phc()) == Ok(hash));
    }
    if let Ok(record) = UserRecord::parse(body) {
        let _ = record.identity("alice");
    }
    match upstream::verdict(200, body) {
        Verdict::Authenticated(identity) => assert!(is_valid_username(&identity.sub)),
        Verdict::Refused(_) => {}
    }
});
