//! JSON parsing that refuses duplicate member names at any depth.
//!
//! RFC 7515 §4 lets a parser either refuse duplicates or take the last one; two parsers taking
//! different ones is how a token can mean one thing to us and another to the origin. We refuse.

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// Why strict parsing failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictJsonError {
    /// A JSON object has two members with the same name.
    DuplicateMember,
    /// Not JSON, not UTF-8, or the top level is not an object.
    Invalid,
}

const DUPLICATE: &str = "duplicate member name";

/// Parses `bytes` as one JSON object, refusing duplicate member names anywhere inside it.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, StrictJsonError> {
    parse_members(bytes, &[]).map(|([], members)| members)
}

/// Parses `bytes` as one JSON array, refusing duplicate member names anywhere inside it.
pub fn parse_array(bytes: &[u8]) -> Result<Vec<Value>, StrictJsonError> {
    match serde_json::from_slice::<StrictValue>(bytes).map_err(refusal)? {
        StrictValue(Value::Array(items)) => Ok(items),
        _ => Err(StrictJsonError::Invalid),
    }
}

/// The wanted members of an object by position (`None` when absent), and the others by name.
pub type Members<const N: usize> = ([Option<Value>; N], Map<String, Value>);

/// Parses `bytes` as one JSON object like [`parse_object`], but hands the members named in `names`
/// back by position (`None` when absent) instead of in a map; the other members come in the map.
/// The same refusals as [`parse_object`], without a map insert and lookup per wanted member.
pub fn parse_members<const N: usize>(
    bytes: &[u8],
    names: &[&str; N],
) -> Result<Members<N>, StrictJsonError> {
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = de::DeserializeSeed::deserialize(MembersSeed { names }, &mut deserializer)
        .and_then(|members| deserializer.end().map(|()| members));
    parsed.map_err(refusal)
}

/// Why `serde_json` refused: our duplicate-name error, or anything else (invalid).
fn refusal(error: serde_json::Error) -> StrictJsonError {
    if error.to_string().starts_with(DUPLICATE) {
        StrictJsonError::DuplicateMember
    } else {
        StrictJsonError::Invalid
    }
}

struct MembersSeed<'n, const N: usize> {
    names: &'n [&'n str; N],
}

impl<'de, const N: usize> de::DeserializeSeed<'de> for MembersSeed<'_, N> {
    type Value = Members<N>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for MembersSeed<'_, N> {
    type Value = Members<N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let mut wanted: [Option<Value>; N] = std::array::from_fn(|_| None);
        let mut rest = Map::new();
        while let Some(name) = access.next_key_seed(NameSeed { names: self.names })? {
            let StrictValue(value) = access.next_value()?;
            let duplicate = match name {
                Name::Wanted(i) => wanted[i].replace(value).is_some(),
                Name::Other(name) => rest.insert(name, value).is_some(),
            };
            if duplicate {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok((wanted, rest))
    }
}

/// A member name: the position of a wanted one (no allocation), or any other, owned.
enum Name {
    Wanted(usize),
    Other(String),
}

struct NameSeed<'n, const N: usize> {
    names: &'n [&'n str; N],
}

impl<'de, const N: usize> de::DeserializeSeed<'de> for NameSeed<'_, N> {
    type Value = Name;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Name, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for NameSeed<'_, N> {
    type Value = Name;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_str<E>(self, name: &str) -> Result<Name, E> {
        Ok(match self.names.iter().position(|wanted| *wanted == name) {
            Some(i) => Name::Wanted(i),
            None => Name::Other(name.to_owned()),
        })
    }
}

struct StrictValue(Value);

impl<'de> de::Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(StrictValue(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(key) = access.next_key::<String>()? {
            let StrictValue(value) = access.next_value()?;
            if map.insert(key, value).is_some() {
                return Err(de::Error::custom(DUPLICATE));
            }
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_objects() {
        let map = parse_object(br#"{"a":1,"b":{"c":[1,{"d":2}]}}"#).expect("valid");
        assert_eq!(map.len(), 2);
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":{"b":1,"b":1}}"#,
            r#"{"a":[{"b":1,"b":2}]}"#,
            // An escaped name is the same name.
            r#"{"exp":1,"\u0065xp":2}"#,
        ] {
            assert_eq!(
                parse_object(text.as_bytes()),
                Err(StrictJsonError::DuplicateMember),
                "{text}"
            );
        }
    }

    #[test]
    fn members_come_back_by_name_with_the_same_refusals() {
        let (wanted, rest) =
            parse_members(br#"{"b":[1],"z":{"y":2},"a":"x"}"#, &["a", "b", "c"]).expect("valid");
        assert_eq!(
            wanted,
            [Some(Value::from("x")), Some(Value::from(vec![1])), None]
        );
        assert_eq!(rest.len(), 1);
        for text in [
            r#"{"a":1,"a":2}"#,
            r#"{"a":null,"\u0061":null}"#,
            r#"{"z":1,"z":2}"#,
            r#"{"z":[{"y":1,"y":2}]}"#,
        ] {
            assert_eq!(
                parse_members(text.as_bytes(), &["a"]),
                Err(StrictJsonError::DuplicateMember),
                "{text}"
            );
        }
        for bytes in [&b"[]"[..], b"1", b"{", b"{} {}", b"{\"a\":\"\xff\"}"] {
            assert_eq!(parse_members(bytes, &["a"]), Err(StrictJsonError::Invalid));
        }
    }

    #[test]
    fn refuses_non_objects_and_invalid_utf8() {
        for bytes in [
            &b"[]"[..],
            b"1",
            b"\"x\"",
            b"{",
            b"{\"a\":\"\xff\"}",
            b"{} {}",
        ] {
            assert_eq!(parse_object(bytes), Err(StrictJsonError::Invalid));
        }
    }
}
