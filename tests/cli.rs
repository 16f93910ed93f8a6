//! The `edgeauth` binary as a user drives it: exit codes, stdout/stderr split, round trips.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn edgeauth(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_edgeauth"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary runs");
    // The binary may exit before reading (bad arguments); a closed pipe is not a failure here.
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    child.wait_with_output().expect("binary finishes")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> Self {
        let path = std::env::temp_dir().join(format!("edgeauth-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).expect("write temp file");
        TempFile(path)
    }
    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn keygen_mint_verify_round_trip() {
    let keygen = edgeauth(&["keygen"], "");
    assert!(keygen.status.success());
    let private = stdout(&keygen);
    assert_eq!(
        private.lines().count(),
        1,
        "stdout is exactly the private JWK line"
    );
    let stderr = String::from_utf8_lossy(&keygen.stderr);
    let key = edgeauth::SigningKey::from_jwk(&private).expect("keygen output imports");
    assert!(stderr.contains(key.kid()), "stderr names the kid");
    assert!(
        !stderr.contains("\"d\""),
        "stderr never shows the private key"
    );
    let key_file = TempFile::new("key.json", &private);

    let jwks = edgeauth(&["jwks", key_file.path()], "");
    assert!(jwks.status.success());
    assert!(!stdout(&jwks).contains("\"d\""), "JWKS is public only");
    let jwks_file = TempFile::new("jwks.json", &stdout(&jwks));

    let minted = edgeauth(
        &[
            "mint",
            "--key",
            key_file.path(),
            "--iss",
            "https://a.test",
            "--aud",
            "app",
            "--sub",
            "alice",
            "--roles",
            "admin,ops",
            "--claim",
            "team=\"blue\"",
        ],
        "",
    );
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    let token = stdout(&minted);

    let args = [
        "verify",
        "--keys",
        jwks_file.path(),
        "--iss",
        "https://a.test",
        "--aud",
        "app",
    ];
    let verified = edgeauth(&args, &token);
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
    let claims: serde_json::Value = serde_json::from_str(&stdout(&verified)).expect("claims JSON");
    assert_eq!(claims["sub"], "alice");
    assert_eq!(claims["roles"], serde_json::json!(["admin", "ops"]));
    assert_eq!(claims["team"], "blue");
    assert_eq!(
        claims["sid"].as_str().map(str::len),
        Some(22),
        "128-bit random sid"
    );

    let wrong_aud = edgeauth(
        &[
            "verify",
            "--keys",
            jwks_file.path(),
            "--iss",
            "https://a.test",
            "--aud",
            "other",
            token.trim(),
        ],
        "",
    );
    assert_eq!(wrong_aud.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&wrong_aud.stderr).contains("wrong audience"));
    assert!(wrong_aud.stdout.is_empty());
}

#[test]
fn bad_input_exits_2_with_one_clear_line() {
    let missing = edgeauth(&["jwks", "/nonexistent/key.json"], "");
    assert_eq!(missing.status.code(), Some(2));
    let not_a_key = edgeauth(&["jwks", "-"], r#"{"kty":"RSA"}"#);
    assert_eq!(not_a_key.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&not_a_key.stderr).lines().count(),
        1
    );
    let public_as_private = edgeauth(
        &[
            "mint", "--key", "-", "--iss", "i", "--aud", "a", "--sub", "s",
        ],
        &edgeauth::SigningKey::from_seed(&mut [5u8; 32])
            .verifying_key()
            .to_jwk()
            .to_string(),
    );
    assert_eq!(public_as_private.status.code(), Some(2));
    let too_many_iterations = edgeauth(&["hash-password", "--iterations", "100001"], "pw\n");
    assert_eq!(too_many_iterations.status.code(), Some(2));
}

#[test]
fn hash_password_output_verifies() {
    let out = edgeauth(&["hash-password"], "correct horse battery\n");
    assert!(out.status.success());
    let phc = stdout(&out);
    assert!(phc.starts_with("$pbkdf2-sha256$i=100000$"));
    let parsed = edgeauth::login::password::PasswordHash::parse(phc.trim()).expect("parses");
    assert_eq!(parsed.salt.len(), 16);
    assert!(edgeauth::login::password::native::verify(
        b"correct horse battery",
        &parsed
    ));
    assert!(!edgeauth::login::password::native::verify(
        b"correct horse battery\n",
        &parsed
    ));
}

#[test]
fn check_config_accepts_the_shipped_config_and_refuses_conflicts_and_secrets() {
    let shipped = format!("{}/wrangler.toml", env!("CARGO_MANIFEST_DIR"));
    assert!(edgeauth(&["check-config", &shipped], "").status.success());
    let conflicting = TempFile::new(
        "conflict.toml",
        r#"[vars]
ACCESS_RULES = '[{"path": "/a/*", "access": "public"}, {"path": "/a/*", "roles": ["x"]}]'
"#,
    );
    let out = edgeauth(&["check-config", conflicting.path()], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("conflicts"));
    // Each binding the Worker reads (`edgeauth::bindings::ALL`), taken out of the shipped
    // configuration, is named by check-config: a missing one would fail closed only at run time.
    let text = std::fs::read_to_string(&shipped).expect("wrangler.toml");
    for binding in edgeauth::bindings::ALL {
        let declares = |block: &str| {
            block.contains(&format!("binding = \"{}\"", binding.name))
                || block.contains(&format!("name = \"{}\"", binding.name))
        };
        let blocks: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(
            blocks.iter().filter(|b| declares(b)).count(),
            1,
            "{}",
            binding.name
        );
        let without: Vec<&str> = blocks.into_iter().filter(|b| !declares(b)).collect();
        // The shipped configuration has no passkeys (their RP ID is the deployment's host):
        // turned on here, since only they need SINGLE_USE.
        let enable = match binding.name {
            edgeauth::bindings::SINGLE_USE => "[vars]\nPASSKEY_RP_ID = \"example.com\"\n",
            _ => "[vars]\n",
        };
        let config = TempFile::new(
            "without.toml",
            &without.join("\n\n").replace("[vars]\n", enable),
        );
        let out = edgeauth(&["check-config", config.path()], "");
        assert_eq!(out.status.code(), Some(2), "{}", binding.name);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(&format!("{:?}", binding.name)), "{stderr}");
        if binding.name == edgeauth::bindings::USERS {
            // Only the KV password store reads USERS.
            let upstream = without.join("\n\n").replace(
                "[vars]\n",
                "[vars]\nUSER_STORE = \"upstream\"\nUPSTREAM_AUTH_URL = \"https://users.example\"\n",
            );
            let config = TempFile::new("upstream.toml", &upstream);
            let out = edgeauth(&["check-config", config.path()], "");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    // An identity provider's client secret: checked without its value, refused as a var.
    let providers = r#"IDENTITY_PROVIDERS = '[{"id": "corp", "label": "Corp", "issuer": "https://idp.example.com", "client_id": "edge", "client_secret_secret": "CORP_SECRET"}]'"#;
    let with_providers = TempFile::new(
        "providers.toml",
        &text.replace("[vars]\n", &format!("[vars]\n{providers}\n")),
    );
    let out = edgeauth(&["check-config", with_providers.path()], "");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let secret_as_var = TempFile::new(
        "provider-var.toml",
        &text.replace(
            "[vars]\n",
            &format!("[vars]\n{providers}\nCORP_SECRET = 's3cret'\n"),
        ),
    );
    let out = edgeauth(&["check-config", secret_as_var.path()], "");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("CORP_SECRET holds an identity provider's client secret"),
        "{stderr}"
    );
    assert!(!stderr.contains("s3cret"), "{stderr}");
    let secret_in_vars = TempFile::new("secret.toml", "[vars]\nSIGNING_KEY = 'x'\n");
    let out = edgeauth(&["check-config", secret_in_vars.path()], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("must be a secret"));
}

#[test]
fn key_rotation_steps_old_key_verifies_from_its_public_jwk_only() {
    let old = stdout(&edgeauth(&["keygen"], ""));
    let new = stdout(&edgeauth(&["keygen"], ""));
    let old_file = TempFile::new("rotation-old.json", &old);
    let new_file = TempFile::new("rotation-new.json", &new);
    // Step 2: the retiring key's public JWK, for PREVIOUS_KEYS (also read from a .dev.vars).
    let public = edgeauth(&["public-key", old_file.path()], "");
    assert!(public.status.success());
    let public_jwk = stdout(&public);
    assert!(
        !public_jwk.contains("\"d\""),
        "public-key prints no private part"
    );
    let old_kid = edgeauth::SigningKey::from_jwk(&old)
        .expect("key")
        .kid()
        .to_owned();
    assert!(String::from_utf8_lossy(&public.stderr).contains(&old_kid));
    let dev_vars = TempFile::new(
        "rotation.dev.vars",
        &format!("SIGNING_KEY='{}'\n", old.trim()),
    );
    assert_eq!(
        stdout(&edgeauth(&["public-key", dev_vars.path()], "")),
        public_jwk
    );
    let previous = TempFile::new("rotation-previous.json", &public_jwk);
    // A session minted by the old key verifies against new signing key + previous public key,
    // and not against the new key alone (after the old one is removed).
    let token = stdout(&edgeauth(
        &[
            "mint",
            "--key",
            old_file.path(),
            "--iss",
            "i",
            "--aud",
            "a",
            "--sub",
            "alice",
        ],
        "",
    ));
    let verify = |keys: &[&str]| {
        let mut args = vec!["verify", "--iss", "i", "--aud", "a"];
        for key in keys {
            args.extend(["--keys", key]);
        }
        args.push(token.trim());
        edgeauth(&args, "").status.code()
    };
    assert_eq!(verify(&[new_file.path(), previous.path()]), Some(0));
    assert_eq!(verify(&[new_file.path()]), Some(1));
    // A public key is not a signing key.
    assert_eq!(
        edgeauth(&["public-key", previous.path()], "").status.code(),
        Some(2)
    );
}

#[test]
fn revoke_needs_a_url_a_target_and_an_admin_token_and_reports_an_unreachable_edge() {
    let token = TempFile::new("admin.token", "header.payload.signature\n");
    let revoke = |args: &[&str]| {
        let mut all = vec!["revoke"];
        all.extend_from_slice(args);
        let mut command = Command::new(env!("CARGO_BIN_EXE_edgeauth"));
        command.args(&all).env_remove("EDGEAUTH_TOKEN");
        command.output().expect("binary runs")
    };
    let url = "http://127.0.0.1:9"; // discard port: nothing listens
    for (args, needle) in [
        (vec!["--url", url, "--sid", "s"], "EDGEAUTH_TOKEN"),
        (
            vec![
                "--url",
                "ftp://x",
                "--sid",
                "s",
                "--token-file",
                token.path(),
            ],
            "--url",
        ),
        (
            vec![
                "--url",
                url,
                "--sid",
                "s",
                "--user",
                "u",
                "--token-file",
                token.path(),
            ],
            "cannot be used with",
        ),
        (
            vec!["--url", url, "--before", "1", "--token-file", token.path()],
            "required",
        ),
    ] {
        let out = revoke(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(needle),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = revoke(&["--url", url, "--user", "u", "--token-file", token.path()]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "an unreachable edge is a failure"
    );
    assert!(stdout(&out).is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/auth/revoke"));
}

#[test]
fn enroll_prints_a_one_time_link_whose_token_opens_only_under_the_same_key() {
    use edgeauth::login::passkey::enrollment::SealedEnrollment;
    let keygen = edgeauth(&["keygen"], "");
    let key = TempFile::new("enroll-key.jwk", &stdout(&keygen));
    let enroll = edgeauth(
        &[
            "enroll",
            "--key",
            key.path(),
            "--url",
            "https://app.example.com/some/path",
            "alice",
            "--roles",
            "staff,deploy",
            "--name",
            "Alice",
            "--ttl",
            "600",
        ],
        "",
    );
    assert!(enroll.status.success(), "{enroll:?}");
    let link = stdout(&enroll);
    let token = link
        .trim()
        .strip_prefix("https://app.example.com/auth/passkeys/enroll#token=")
        .expect("the link is the enrollment page with the token in its fragment");
    let signing = edgeauth::SigningKey::from_jwk(stdout(&keygen).trim()).expect("key");
    let sealed = SealedEnrollment::parse(token).expect("a sealed enrollment");
    let ok = signing
        .verifying_key()
        .verify(sealed.signing_input(), sealed.signature())
        .is_ok();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let enrollment = sealed.open(ok, now).expect("opens under the same key");
    assert_eq!(enrollment.sub, "alice");
    assert_eq!(enrollment.roles, ["staff", "deploy"]);
    assert!(enrollment.exp <= now + 600);

    for bad in [
        vec!["--ttl", "0"],
        vec!["--ttl", "604801"],
        vec!["--roles", "a,b c"],
    ] {
        let mut args = vec![
            "enroll",
            "--key",
            key.path(),
            "--url",
            "https://a.example",
            "alice",
        ];
        args.extend(bad.iter().copied());
        let refused = edgeauth(&args, "");
        assert_eq!(refused.status.code(), Some(2), "{bad:?}");
        assert!(stdout(&refused).is_empty(), "no link for {bad:?}");
    }
    let bad_user = edgeauth(
        &[
            "enroll",
            "--key",
            key.path(),
            "--url",
            "https://a.example",
            "al ice",
        ],
        "",
    );
    assert_eq!(bad_user.status.code(), Some(2));
    let bad_url = edgeauth(
        &[
            "enroll",
            "--key",
            key.path(),
            "--url",
            "ftp://a.example",
            "alice",
        ],
        "",
    );
    assert_eq!(bad_url.status.code(), Some(2));
}

#[test]
fn service_token_create_prints_the_secret_once_and_a_record_that_accepts_only_it() {
    use edgeauth::machine::service_token::{check, Presented};
    let create = edgeauth(
        &[
            "service-token",
            "create",
            "ci-deploy",
            "--roles",
            "deployer,reader",
            "--ttl",
            "3600",
            "--now",
            "1000",
        ],
        "",
    );
    assert!(create.status.success(), "{create:?}");
    let out = stdout(&create);
    let field = |label: &str| {
        out.lines()
            .find_map(|line| line.strip_prefix(&format!("{label}: ")))
            .unwrap_or_else(|| panic!("no {label} in {out}"))
            .to_owned()
    };
    let (id, secret, record) = (field("client_id"), field("secret"), field("record"));
    assert_eq!(field("expires"), "4600");
    assert!(
        !record.contains(&secret[4..]),
        "the record never holds the secret"
    );
    let store = field("store");
    assert!(
        store.starts_with(&format!(
            "npx wrangler kv key put --binding USERS 'service-token:{id}' '"
        )) && store.ends_with("--expiration 4600"),
        "{store}"
    );
    assert!(!store.contains(&secret[4..]));
    let validation = edgeauth::Validation::new("https://edge.test", "edgeauth");
    let presented = Presented::parse(&id, &secret).expect("well-formed");
    let verified = check(&presented, Some(&record), &validation, 600, 2000).expect("accepted");
    assert_eq!(verified.claims().sub, "service:ci-deploy");
    assert_eq!(verified.claims().roles, ["deployer", "reader"]);
    assert!(
        check(&presented, Some(&record), &validation, 600, 4600).is_err(),
        "expired"
    );
    // Two tokens never share an id or a secret.
    let again = stdout(&edgeauth(&["service-token", "create", "ci-deploy"], ""));
    assert!(!again.contains(&id) && !again.contains(&secret));

    for bad in [
        &["service-token", "create", "CI"][..],
        &["service-token", "create", "ci", "--roles", "a,b c"],
        &["service-token", "create", "ci", "--ttl", "0"],
        &["service-token", "revoke", "not-an-id"],
    ] {
        let refused = edgeauth(bad, "");
        assert_eq!(refused.status.code(), Some(2), "{bad:?}");
    }
    let revoke = edgeauth(&["service-token", "revoke", &id], "");
    assert_eq!(
        stdout(&revoke).trim(),
        format!("npx wrangler kv key delete --binding USERS 'service-token:{id}'")
    );
}

#[test]
fn service_token_list_reads_wranglers_listing_and_never_shows_a_digest() {
    let listing = r#"[
        {"name": "service-token:0123456789abcdef0123456789abcdef",
         "metadata": {"name": "ci", "roles": ["deployer"], "created": 10, "expires": 5000}},
        {"name": "service-token:fedcba9876543210fedcba9876543210",
         "metadata": {"name": "old", "roles": [], "created": 10, "expires": 100}},
        {"name": "user:alice"}
    ]"#;
    let list = edgeauth(&["service-token", "list", "--now", "1000"], listing);
    assert!(list.status.success(), "{list:?}");
    let out = stdout(&list);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        lines[1],
        "0123456789abcdef0123456789abcdef\tci\tdeployer\t10\t5000\tactive"
    );
    assert!(lines[2].ends_with("\texpired"), "{out}");
    let bad = edgeauth(&["service-token", "list"], "{}");
    assert_eq!(bad.status.code(), Some(2));
}

/// A two-app deployment: check-config reads every app, and check-policy picks the app by the
/// URL's host, as the edge does.
#[test]
fn check_config_and_check_policy_read_every_app() {
    let apps_vars = r#"[vars]
AUTH_HOST = "auth.example.com"
APPS = '''[
  {"id": "wiki", "hosts": ["wiki.example.com"], "origin": "https://wiki.internal",
   "rules": [{"path": "/public/*", "access": "public"}, {"path": "/admin/*", "roles": ["admin"]}]},
  {"id": "tools", "hosts": ["*.tools.example.com"], "origin": "https://tools.internal"}
]'''
"#;
    // The shipped configuration (its bindings), its demo rules unset: each app has its own.
    let shipped = std::fs::read_to_string(format!("{}/wrangler.toml", env!("CARGO_MANIFEST_DIR")))
        .expect("wrangler.toml");
    let rules_at = shipped.find("ACCESS_RULES = \"\"\"").expect("demo rules");
    let rules_end = rules_at + shipped[rules_at..].find("]\"\"\"").expect("their end") + 4;
    let apps =
        format!("{}{}", &shipped[..rules_at], &shipped[rules_end..]).replace("[vars]\n", apps_vars);
    let config = TempFile::new("apps.toml", &apps);
    let check = edgeauth(&["check-config", config.path()], "");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let policy = |url: &str, extra: &[&str]| {
        let mut args = vec!["check-policy", url, "--config", config.path()];
        args.extend_from_slice(extra);
        let out = edgeauth(&args, "");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let (code, out) = policy("https://wiki.example.com/public/a", &[]);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("app: wiki") && out.contains("ACCESS_RULES[0]"),
        "{out}"
    );
    // The same path at the other app: its rules (none) need a session.
    let (code, out) = policy("https://a.tools.example.com/public/a", &[]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("app: tools"), "{out}");
    let (code, out) = policy(
        "https://wiki.example.com/admin/x",
        &["--user", "alice", "--roles", "admin"],
    );
    assert_eq!(code, Some(0), "{out}");
    for (url, says) in [
        ("https://other.example.com/public/a", "421"),
        ("https://auth.example.com/public/a", "404"),
        ("/public/a", "400"),
    ] {
        let (code, out) = policy(url, &[]);
        assert_eq!(code, Some(1), "{url}: {out}");
        assert!(out.contains(says), "{url}: {out}");
    }
    // A host served twice is refused at check-config.
    let twice = TempFile::new(
        "twice.toml",
        &apps.replace("*.tools.example.com", "wiki.example.com"),
    );
    let out = edgeauth(&["check-config", twice.path()], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("listed twice"));
}
