//! Our own attack vectors (`tests/vectors/expect_fail.json`): every case must get exactly the
//! refusal it names, and the controls must pass.

mod common;

use edgeauth::{Error, UntrustedToken};

fn outcome(result: Result<edgeauth::VerifiedClaims, Error>) -> (String, Option<String>) {
    match result {
        Ok(_) => ("ok".into(), None),
        Err(Error::Malformed(m)) => ("malformed".into(), Some(m.code().into())),
        Err(e) => (e.code().into(), None),
    }
}

#[test]
fn every_case_gets_its_named_outcome() {
    let vectors = common::ExpectFail::load();
    assert_eq!(
        vectors.doc["kid"].as_str(),
        Some(vectors.key.kid()),
        "kid in file"
    );
    assert_eq!(vectors.doc["other_kid"].as_str(), Some(vectors.other.kid()));
    let keys = vectors.key_set();
    let rules = vectors.validation();
    let (mut refused, mut controls) = (0, 0);
    for case in vectors.cases() {
        let name = case["name"].as_str().expect("name");
        let token = vectors.build(case, vectors.now);
        let got = outcome(edgeauth::verify(&token, &keys, &rules, vectors.now));
        let expected = (
            case["expect"].as_str().expect("expect").to_owned(),
            case["detail"].as_str().map(str::to_owned),
        );
        assert_eq!(got, expected, "case {name}: {token}");
        if expected.0 == "ok" {
            controls += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        controls >= 1 && refused >= 60,
        "{controls} controls, {refused} refusals"
    );
    println!("expect-fail vectors: {refused} refused as named, {controls} controls accepted");
}

#[test]
fn case_names_are_unique_and_every_case_says_what_it_attacks() {
    let vectors = common::ExpectFail::load();
    let mut names = std::collections::HashSet::new();
    for case in vectors.cases() {
        let name = case["name"].as_str().expect("name");
        assert!(names.insert(name), "duplicate case {name}");
        assert!(
            case["attack"].as_str().is_some_and(|a| !a.is_empty()),
            "{name}"
        );
    }
}

#[test]
fn untrusted_kid_is_readable_before_verification() {
    let vectors = common::ExpectFail::load();
    let token = vectors.build(&vectors.cases()[0], vectors.now);
    let untrusted = UntrustedToken::parse(&token, 4096).expect("control parses");
    assert_eq!(untrusted.kid(), vectors.key.kid());
}
