//! Native mint and verify throughput: `cargo bench --bench token`.
//!
//! A plain timing loop (no harness dependency): each figure is the best of five rounds of at
//! least 200 ms, which is steadier than a mean on a shared machine.

use edgeauth::{mint, verify, Claims, KeySet, SigningKey, Validation};
use std::hint::black_box;
use std::time::{Duration, Instant};

const NOW: u64 = 1_800_000_000;

fn per_second(mut op: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_millis(200) {
            for _ in 0..50 {
                op();
            }
            n += 50;
        }
        best = best.min(start.elapsed().as_secs_f64() / n as f64);
    }
    1.0 / best
}

fn main() {
    let keys = KeySet::new(SigningKey::from_seed(&mut [42u8; 32]), vec![]);
    let key = keys.signing_key().expect("signing key");
    let rules = Validation::new("https://edgeauth.example", "edgeauth");
    let claims = Claims {
        iss: rules.issuer.clone(),
        aud: vec![rules.audience.clone()],
        sub: "user-8c1f2a".into(),
        sid: "q1w2e3r4t5y6u7i8o9p0aa".into(),
        iat: NOW - 60,
        exp: NOW + 3600,
        nbf: None,
        auth_time: NOW - 60,
        roles: vec!["user".into(), "billing:read".into(), "ops".into()],
        name: Some("Ada Lovelace".into()),
        email: Some("ada@example.com".into()),
        extra: Default::default(),
    };
    let token = mint(&claims, key);
    assert!(verify(&token, &keys, &rules, NOW).is_ok());

    let mint_rate = per_second(|| {
        black_box(mint(black_box(&claims), key));
    });
    let verify_rate = per_second(|| {
        black_box(verify(black_box(&token), &keys, &rules, NOW).is_ok());
    });
    println!("token: {} bytes", token.len());
    println!(
        "native mint:   {:>9.0} /s  ({:.1} µs each)",
        mint_rate,
        1e6 / mint_rate
    );
    println!(
        "native verify: {:>9.0} /s  ({:.1} µs each)",
        verify_rate,
        1e6 / verify_rate
    );
}
