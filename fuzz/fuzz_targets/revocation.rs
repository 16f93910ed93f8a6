//! The revocation document (Workers KV) and the body of `POST /auth/revoke`.
//!
//! Properties: an accepted document is written back (`to_json`) as a document that parses to
//! the same list and is written the same again; merged into an empty list it gives the same
//! entries; pruning and preparing a write never panic. An accepted revocation written as JSON
//! parses to itself, and applying it lists it.
#![no_main]

use edgeauth::gateway::revocation::{Revocation, RevocationList};
use edgeauth_fuzz::text;
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_800_000_000;
const MAX_SESSION_AGE: u64 = 86_400;
const LEEWAY: u64 = 60;

fuzz_target!(|data: &[u8]| {
    if let Some(text) = text(data) {
        if let Ok(list) = RevocationList::parse(text) {
            let written = list.to_json();
            let again = RevocationList::parse(&written).expect("what to_json writes parses");
            assert_eq!(again, list, "{text:?} -> {written:?}");
            assert_eq!(again.to_json(), written);

            let mut merged = RevocationList::empty();
            merged.merge(&list);
            assert_eq!(
                (&merged.sessions, &merged.users),
                (&list.sessions, &list.users)
            );

            let mut pruned = list.clone();
            let dropped = pruned.prune(NOW);
            assert_eq!(dropped + pruned.len(), list.len());
            pruned.prepare_write(NOW);
            let _ = pruned.to_stored_json();
        }
    }

    if let Ok(revocation) = Revocation::from_json(data, NOW) {
        let body = revocation.to_json().to_string();
        assert_eq!(
            Revocation::from_json(body.as_bytes(), NOW),
            Ok(revocation.clone()),
            "{body}"
        );
        let mut list = RevocationList::empty();
        revocation.apply(&mut list, NOW, MAX_SESSION_AGE, LEEWAY);
        assert_eq!(list.len(), 1);
        assert!(RevocationList::parse(&list.to_json()).is_ok());
    }
});
