//! Any request path: `normalize` never panics, and what it accepts is canonical: a fixed point,
//! absolute, with no parameter, dot or empty segment, no escaped delimiter, no segment Windows
//! reads as `.`, `..` or nothing, and the same result whether parameters are refused or stripped
//! when it holds none. Its readings are absolute paths.
#![no_main]

use edgeauth::gateway::path::{decode, normalize, readings, Parameters};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let refused = normalize(raw, Parameters::Refuse);
    for result in [&refused, &normalize(raw, Parameters::Strip)] {
        let Ok(path) = result else { continue };
        assert!(path.starts_with('/'), "{raw:?} -> {path:?}");
        assert_eq!(
            normalize(path, Parameters::Refuse).as_ref(),
            Ok(path),
            "{raw:?}"
        );
        assert!(
            !path.contains(';') && !path.contains("//"),
            "{raw:?} -> {path:?}"
        );
        let upper = path.to_ascii_uppercase();
        for escaped in ["%2F", "%5C", "%3B", "%25", "%00", "%2E"] {
            assert!(!upper.contains(escaped), "{raw:?} -> {path:?}");
        }
        for segment in decode(path).split('/').skip(1) {
            assert!(segment != "." && segment != "..", "{raw:?} -> {path:?}");
        }
        for reading in readings(path) {
            assert!(reading.starts_with('/'), "{raw:?} -> {reading:?}");
        }
    }
    if !raw.contains(';') {
        assert_eq!(refused, normalize(raw, Parameters::Strip), "{raw:?}");
    }
});
