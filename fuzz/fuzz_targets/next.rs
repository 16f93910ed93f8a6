//! `next`, where the browser goes after logging in, the login URL that carries it, and the
//! same-origin check on the `/auth/*` POSTs (`Origin`, `Sec-Fetch-Site`).
//!
//! Input: `next \0 query \0 Origin \0 Sec-Fetch-Site`.
//! Properties: `safe_next` keeps the value or answers `/`; what it answers starts with exactly
//! one `/`, holds visible ASCII only, and is kept as it is when given again. The login URL
//! percent-encodes `next` so that decoding it gives back the path and query. The same-origin
//! check passes only an `Origin` equal to the edge's, ignoring ASCII case.
#![no_main]

use edgeauth::login::next::{encode_component, login_location, safe_next};
use edgeauth::login::same_origin::is_same_origin;
use edgeauth_fuzz::{fields, lossy};
use libfuzzer_sys::fuzz_target;

const EDGE: &str = "https://edge.example";

fuzz_target!(|data: &[u8]| {
    let [next, query, origin, site] = fields::<4>(data).map(lossy);

    let safe = safe_next(Some(&next));
    assert!(safe == "/" || safe == next, "{next:?} -> {safe:?}");
    let bytes = safe.as_bytes();
    assert_eq!(bytes.first(), Some(&b'/'), "{next:?} -> {safe:?}");
    assert!(
        !matches!(bytes.get(1), Some(b'/' | b'\\')),
        "{next:?} -> {safe:?}"
    );
    assert!(bytes.iter().all(|b| b.is_ascii_graphic()), "{safe:?}");
    assert!(!bytes.contains(&b'\\'), "{safe:?}");
    assert_eq!(safe_next(Some(&safe)), safe);

    let query = Some(query.as_ref()).filter(|q| !q.is_empty());
    let location = login_location(&next, query);
    let encoded = location
        .strip_prefix("/auth/login?next=")
        .expect("the login page");
    let mut expected = next.to_string();
    if let Some(query) = query {
        expected.push('?');
        expected.push_str(query);
    }
    assert_eq!(encoded, encode_component(&expected));
    assert_eq!(decode(encoded).as_deref(), Some(expected.as_bytes()));

    let origin = Some(origin.as_ref()).filter(|o| !o.is_empty());
    let site = Some(site.as_ref()).filter(|s| !s.is_empty());
    if is_same_origin(origin, site, EDGE) {
        if let Some(origin) = origin {
            assert!(origin.eq_ignore_ascii_case(EDGE), "{origin:?}");
        }
    }
});

/// Percent-decoding of what `encode_component` writes: only unreserved characters and `%XX`.
fn decode(encoded: &str) -> Option<Vec<u8>> {
    let bytes = encoded.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = encoded.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b if b.is_ascii_alphanumeric() || b"-._~".contains(&b) => {
                out.push(b);
                i += 1;
            }
            _ => return None,
        }
    }
    Some(out)
}
