//! Several apps by host: the `Host` value, host patterns, the app list (`APPS`), the auth host's
//! handoff target (`app=`) and a handoff token (`token=`).
//!
//! Input: `Host \0 pattern \0 app= \0 token \0 APPS`.
//! Properties: a parsed host is lower case and parses back from its authority to itself; a pattern
//! that parses matches a host only when their names agree (exactly, or by one label for `*.`); a
//! handoff target is never the auth host and is always an app's host; an app list that loads
//! sends every host to at most one app, and no unsealed token opens.
#![no_main]

use edgeauth::apps::{Deployment, Host, HostPattern, Site};
use edgeauth::login::handoff::SealedHandoff;
use edgeauth_fuzz::{fields, lossy};
use libfuzzer_sys::fuzz_target;

/// A fixed, valid key (a throwaway, for fuzzing only): the app list is what varies.
const KEY: &str = r#"{"kty":"OKP","crv":"Ed25519","x":"dAlth4kqd6XUPh5QiCgo1eDvlYI-gk3eD9Vn0Bv0pfE","d":"2USwaxAnXHeSqlj8Rb1552yI_ksdeqhJ_alxfg5Q-HA","kid":"BiKmWnZczoQWAZneELQX2m-YTJFt4msgJYUmXa_SaJ8","use":"sig","alg":"EdDSA"}"#;

fuzz_target!(|data: &[u8]| {
    let [host, pattern, requested, token, apps] = fields::<5>(data).map(lossy);

    if let Ok(parsed) = Host::parse(Some(&host)) {
        assert_eq!(parsed.name(), parsed.name().to_ascii_lowercase());
        assert_eq!(Host::parse(Some(&parsed.authority())), Ok(parsed.clone()));
        if let Ok(pattern) = HostPattern::parse(&pattern) {
            if pattern.matches(&parsed) && !pattern.is_wildcard() {
                let stated = pattern_name(&pattern);
                assert_eq!(parsed.name(), stated);
            }
        }
    }

    let vars = |name: &str| match name {
        "SIGNING_KEY" => Some(KEY.to_owned()),
        "AUTH_HOST" => Some("auth.example.com".to_owned()),
        "APPS" => Some(apps.to_string()),
        _ => None,
    };
    let Ok(deployment) = Deployment::from_lookup(vars) else {
        return;
    };
    let _ = deployment.site(Some(&host));
    if let Some(listed) = &deployment.apps {
        let here = Host::parse(Some("auth.example.com")).expect("auth host");
        if let Some((app, target)) = listed.handoff_target(&requested, &here) {
            assert_ne!(target.name(), "auth.example.com");
            assert!(
                matches!(deployment.site(Some(&target.authority())), Ok(Site::App(a)) if a.id == app.id)
            );
        }
        if let (Ok(sealed), Some(app)) = (SealedHandoff::parse(&token), listed.iter().next()) {
            let link = app.config.app.as_ref().expect("an app's link");
            assert!(
                sealed.open(false, link, &here, 0).is_err(),
                "an unsealed handoff opened"
            );
        }
    }
});

/// A pattern's name, as its `Debug` shows it (the field is private on purpose).
fn pattern_name(pattern: &HostPattern) -> String {
    let debug = format!("{pattern:?}");
    debug
        .split("name: \"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap_or_default()
        .to_owned()
}
