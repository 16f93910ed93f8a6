//! The verified-session cache answers exactly as `token::verify` does: a hit never accepts a
//! token that differs in any byte, an entry is never served outside the time window in which a
//! fresh verify would accept it (expiry, not-yet-valid, maximum age, each with leeway), and the
//! cache never holds more than its bounds. Bounded case counts: they run in `make test`.

use edgeauth::token::session_cache::SessionCache;
use edgeauth::{mint, verify, Claims, KeySet, SigningKey, Validation, VerifiedClaims};
use proptest::prelude::*;

const NOW: u64 = 1_800_000_000;

fn keys() -> KeySet {
    KeySet::new(SigningKey::from_seed(&mut [42u8; 32]), vec![])
}

fn rules() -> Validation {
    Validation::new("https://edgeauth.test", "edgeauth-test")
}

fn claims(sid: &str, iat: u64, exp: u64, auth_time: u64, nbf: Option<u64>) -> Claims {
    Claims {
        iss: "https://edgeauth.test".into(),
        aud: vec!["edgeauth-test".into()],
        sub: "alice".into(),
        sid: sid.into(),
        iat,
        exp,
        nbf,
        auth_time,
        roles: vec!["user".into()],
        name: None,
        email: None,
        extra: Default::default(),
    }
}

fn assertion_of(session: &VerifiedClaims) -> String {
    format!("assertion-for-{}", session.claims().sid)
}

/// The cache's answer, reduced to what `verify` answers.
fn cached(
    cache: &mut SessionCache,
    token: &str,
    keys: &KeySet,
    rules: &Validation,
    now: u64,
) -> Result<edgeauth::VerifiedClaims, edgeauth::Error> {
    cache
        .verify(token, keys, rules, now, assertion_of)
        .map(|s| s.verified)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// With the exact token cached, any one-byte change is a miss and is refused, like verify.
    #[test]
    fn a_hit_never_accepts_a_token_differing_in_any_byte(
        position in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
    ) {
        let (keys, rules) = (keys(), rules());
        let token = mint(&claims("c2lk", NOW, NOW + 600, NOW, None), keys.signing_key().expect("key"));
        let mut cache = SessionCache::new(16);
        prop_assert!(cached(&mut cache, &token, &keys, &rules, NOW).is_ok());
        prop_assert_eq!(cache.len(), 1);
        let mut bytes = token.clone().into_bytes();
        let at = position.index(bytes.len());
        prop_assume!(bytes[at] != replacement);
        bytes[at] = replacement;
        if let Ok(changed) = String::from_utf8(bytes) {
            let answer = cached(&mut cache, &changed, &keys, &rules, NOW);
            prop_assert!(answer.is_err(), "{} accepted", changed);
            prop_assert_eq!(answer, verify(&changed, &keys, &rules, NOW));
        }
        // Truncations and extensions are misses too.
        let shorter = &token[..position.index(token.len())];
        prop_assert!(cached(&mut cache, shorter, &keys, &rules, NOW).is_err());
        let longer = format!("{token}A");
        prop_assert!(cached(&mut cache, &longer, &keys, &rules, NOW).is_err());
    }

    /// Cached at a time it verified, then asked at any other time (earlier or later, across
    /// `exp`, `nbf`, `iat`, `auth_time` and the maximum age, each with leeway), the cache answers
    /// exactly what a fresh verify at that time answers — so an expired or too-old entry is
    /// never served.
    #[test]
    fn a_cached_entry_answers_like_verify_at_every_time(
        iat_offset in 0u64..200,
        ttl in 1u64..400,
        auth_age in 0u64..300,
        nbf_offset in proptest::option::of(0u64..250),
        leeway in 0u64..60,
        max_age in 0u64..500,
        first in 0u64..700,
        later in proptest::collection::vec(0u64..1_000, 1..12),
    ) {
        let base = NOW - 500;
        let iat = base + iat_offset;
        let auth_time = iat.saturating_sub(auth_age);
        let c = claims("c2lk", iat, iat + ttl, auth_time, nbf_offset.map(|o| base + o));
        let keys = keys();
        let mut rules = rules();
        rules.leeway_secs = leeway;
        rules.max_session_age_secs = max_age;
        let token = mint(&c, keys.signing_key().expect("key"));
        let mut cache = SessionCache::new(4);
        let first = base + first;
        let answer = cached(&mut cache, &token, &keys, &rules, first);
        prop_assert_eq!(&answer, &verify(&token, &keys, &rules, first));
        for t in later {
            let now = base + t;
            prop_assert_eq!(
                cached(&mut cache, &token, &keys, &rules, now),
                verify(&token, &keys, &rules, now),
                "at {}", now
            );
        }
    }
}

#[test]
fn a_hit_gives_exactly_what_verify_gives_and_the_first_assertion() {
    let (keys, rules) = (keys(), rules());
    let token = mint(
        &claims("c2lk", NOW - 5, NOW + 600, NOW - 5, None),
        keys.signing_key().expect("key"),
    );
    let mut cache = SessionCache::new(8);
    let first = cache
        .verify(&token, &keys, &rules, NOW, assertion_of)
        .expect("verifies");
    let mut minted_again = false;
    let hit = cache
        .verify(&token, &keys, &rules, NOW + 1, |c| {
            minted_again = true;
            assertion_of(c)
        })
        .expect("hit");
    assert!(!minted_again, "a hit must not mint");
    assert_eq!(hit, first);
    assert_eq!(
        hit.verified,
        verify(&token, &keys, &rules, NOW + 1).expect("verifies")
    );
}

#[test]
fn size_never_exceeds_the_entry_bound() {
    let (keys, rules) = (keys(), rules());
    let key = keys.signing_key().expect("key");
    let mut cache = SessionCache::new(16);
    let tokens: Vec<String> = (0..100)
        .map(|i| mint(&claims(&format!("sid{i}"), NOW, NOW + 600, NOW, None), key))
        .collect();
    for (i, token) in tokens.iter().enumerate() {
        assert!(cached(&mut cache, token, &keys, &rules, NOW).is_ok());
        assert!(
            cache.len() <= 16,
            "{} entries after {} inserts",
            cache.len(),
            i + 1
        );
        // The token just verified is always kept.
        assert!(cached(&mut cache, token, &keys, &rules, NOW).is_ok());
    }
    // Evicted tokens still verify: they are verified afresh.
    for token in &tokens {
        assert!(cached(&mut cache, token, &keys, &rules, NOW).is_ok());
        assert!(cache.len() <= 16);
    }
}

#[test]
fn estimated_bytes_never_exceed_the_byte_bound() {
    let (keys, rules) = (keys(), rules());
    let key = keys.signing_key().expect("key");
    let max_bytes = 20_000;
    let mut cache = SessionCache::with_bounds(1_000, max_bytes);
    for i in 0..200 {
        let mut c = claims(&format!("sid{i}"), NOW, NOW + 600, NOW, None);
        c.name = Some("n".repeat(i % 50 * 10));
        let token = mint(&c, key);
        assert!(cached(&mut cache, &token, &keys, &rules, NOW).is_ok());
        assert!(cache.bytes() <= max_bytes, "{} bytes", cache.bytes());
    }
    assert!(cache.len() < 1_000);
}

#[test]
fn expired_entries_are_swept_when_the_cache_is_full() {
    let (keys, rules) = (keys(), rules());
    let key = keys.signing_key().expect("key");
    let mut cache = SessionCache::new(8);
    for i in 0..8 {
        let token = mint(&claims(&format!("old{i}"), NOW, NOW + 10, NOW, None), key);
        assert!(cached(&mut cache, &token, &keys, &rules, NOW).is_ok());
    }
    assert_eq!(cache.len(), 8);
    let later = NOW + 10 + rules.leeway_secs;
    let token = mint(&claims("new", later, later + 600, later, None), key);
    assert!(cached(&mut cache, &token, &keys, &rules, later).is_ok());
    assert_eq!(cache.len(), 1, "every expired entry is dropped first");
}

#[test]
fn capacity_zero_caches_nothing_and_still_verifies() {
    let (keys, rules) = (keys(), rules());
    let token = mint(
        &claims("c2lk", NOW, NOW + 600, NOW, None),
        keys.signing_key().expect("key"),
    );
    let mut cache = SessionCache::new(0);
    assert!(cached(&mut cache, &token, &keys, &rules, NOW).is_ok());
    assert!(cache.is_empty());
    let mut minted = 0;
    for _ in 0..2 {
        cache
            .verify(&token, &keys, &rules, NOW, |c| {
                minted += 1;
                assertion_of(c)
            })
            .expect("verifies");
    }
    assert_eq!(minted, 2);
}

#[test]
fn refusals_are_not_cached() {
    let (keys, rules) = (keys(), rules());
    let token = mint(
        &claims("c2lk", NOW, NOW + 600, NOW, None),
        keys.signing_key().expect("key"),
    );
    let mut cache = SessionCache::new(8);
    // Not yet valid at NOW - 1000: refused, not cached; valid later.
    assert!(cached(&mut cache, &token, &keys, &rules, NOW - 1000).is_err());
    assert!(cache.is_empty());
    assert!(cached(&mut cache, &token, &keys, &rules, NOW).is_ok());
    assert_eq!(cache.len(), 1);
}

#[test]
fn rules_and_roles_run_on_every_hit() {
    use edgeauth::config::GatewayConfig;
    use edgeauth::gateway::{self, Checked, Inbound};
    use edgeauth::refusal::Refusal;
    let key = SigningKey::from_seed(&mut [11u8; 32])
        .to_private_jwk()
        .to_string();
    let config = GatewayConfig::from_lookup(|name| match name {
        "SIGNING_KEY" => Some(key.clone()),
        "ISSUER" => Some("https://edgeauth.test".into()),
        "SESSION_AUDIENCE" => Some("edgeauth-test".into()),
        "ACCESS_RULES" => Some(r#"[{"path": "/admin/*", "roles": ["admin"]}]"#.into()),
        _ => None,
    })
    .expect("config");
    assert_eq!(config.session_cache_size, 10_000);
    let token = mint(
        &claims("c2lk", NOW, NOW + 600, NOW, None),
        config.signing_key(),
    );
    let bearer = format!("Bearer {token}");
    let mut cache = SessionCache::new(config.session_cache_size);
    let mut decide = |path: &str| {
        let inbound = Inbound {
            method: "GET",
            path,
            accept: None,
            cookie: None,
            authorization: Some(&bearer),
            ..Inbound::default()
        };
        let plan = gateway::plan(&config, &inbound)?;
        let checked = plan.token().map(|t| {
            match cache.verify(t, &config.keys, &config.session, NOW, assertion_of) {
                Ok(session) => Checked::Valid(session.verified),
                Err(e) => Checked::Invalid(e),
            }
        });
        gateway::decide(plan, checked, NOW)
    };
    for _ in 0..3 {
        let admitted = decide("/app").expect("authenticated");
        assert_eq!(
            admitted.identity.expect("identity").claims().sub,
            "alice".to_owned()
        );
        let denied = decide("/admin/x").expect_err("no admin role");
        assert_eq!(denied.refusal, Refusal::Forbidden);
    }
}
