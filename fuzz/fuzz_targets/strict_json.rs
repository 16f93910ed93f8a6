//! The strict JSON reader every parser of untrusted JSON shares: one object (or array), no
//! duplicate member name at any depth.
//!
//! Properties: it accepts exactly what `serde_json` accepts as an object (or array) without a
//! duplicate name, to the same value; what it accepts, written back, reads back (the same,
//! floats aside); the members it hands back by name are the object's.
#![no_main]

use edgeauth::encoding::strict_json::{parse_array, parse_members, parse_object, StrictJsonError};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let lenient = serde_json::from_slice::<Value>(data).ok();

    match (parse_object(data), &lenient) {
        (Ok(object), Some(Value::Object(lenient))) => {
            assert_eq!(&object, lenient);
            let written = serde_json::to_vec(&object).expect("a map is written");
            let again = parse_object(&written).expect("what serde_json writes is read back");
            // serde_json's default float parsing is not correctly rounded (no `float_roundtrip`),
            // so a float may read back one unit off: only documents without floats compare.
            if !object.values().any(has_float) {
                assert_eq!(again, object);
            }

            let ([alg, kid], rest) = parse_members(data, &["alg", "kid"]).expect("same input");
            assert_eq!(alg.as_ref(), object.get("alg"));
            assert_eq!(kid.as_ref(), object.get("kid"));
            assert_eq!(
                rest.len() + usize::from(alg.is_some()) + usize::from(kid.is_some()),
                object.len()
            );
            assert!(rest
                .iter()
                .all(|(name, value)| object.get(name) == Some(value)));
        }
        (Ok(object), lenient) => panic!("strict accepted {object:?}, serde_json read {lenient:?}"),
        // serde_json keeps the last of duplicate members; anything else it refuses too.
        (Err(StrictJsonError::DuplicateMember), _) => {}
        (Err(StrictJsonError::Invalid), Some(Value::Object(_))) => {
            panic!("strict refused an object serde_json reads: {data:?}")
        }
        (Err(StrictJsonError::Invalid), _) => {}
    }

    match (parse_array(data), &lenient) {
        (Ok(items), Some(Value::Array(lenient))) => assert_eq!(&items, lenient),
        (Ok(items), lenient) => panic!("strict accepted {items:?}, serde_json read {lenient:?}"),
        (Err(StrictJsonError::Invalid), Some(Value::Array(_))) => {
            panic!("strict refused an array serde_json reads: {data:?}")
        }
        (Err(_), _) => {}
    }
});

fn has_float(value: &Value) -> bool {
    match value {
        Value::Number(number) => number.is_f64(),
        Value::Array(items) => items.iter().any(has_float),
        Value::Object(members) => members.values().any(has_float),
        _ => false,
    }
}
