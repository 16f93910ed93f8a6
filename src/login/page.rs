//! The login page: `www/login.html` is a template whose markers are filled by plain string
//! substitution, every value HTML-escaped.
//!
//! Markers: `{{error}}` (the message in the alert element, empty when none),
//! `{{error_autofocus}}` (`autofocus` when there is a message, so focus lands on it without
//! JavaScript), `{{next}}` (the hidden `next` input's value), `{{providers}}` (one sign-in link
//! per identity provider), `{{password_hidden}}` (`hidden` without a password store) and
//! `{{passkeys_script}}` (the passkey script, when passkeys are configured). Any
//! other `{{…}}` is left as is.

use crate::login::next::encode_component;

/// The login page template, `www/login.html`, built into the binary.
pub const LOGIN_TEMPLATE: &str = include_str!("../../www/login.html");

/// What one rendering of the page shows.
#[derive(Debug, Clone, Copy, Default)]
pub struct Page<'a> {
    /// Where to go afterwards, already passed through [`crate::login::next::safe_next`].
    pub next: &'a str,
    /// The message to show, if any (an empty one counts as none).
    pub error: Option<&'a str>,
    /// The identity providers, as `(id, label)`: a "Sign in with <label>" link each.
    pub providers: &'a [(&'a str, &'a str)],
    /// Whether the password form is shown.
    pub password_form: bool,
    /// Whether passkeys are offered (their script is included).
    pub passkeys: bool,
    /// Whether a rule asked for a fresh login (`reauth=1`): the single sign-on links ask the
    /// provider to authenticate the user again (`prompt=login`).
    pub reauth: bool,
}

/// Fills `template`'s markers for `page`.
///
/// One pass over the template: text inserted for one marker is never searched for another, so
/// a value containing `{{next}}` stays literal.
pub fn render(template: &str, page: &Page) -> String {
    let error = page.error.filter(|message| !message.is_empty());
    let mut out = String::with_capacity(template.len() + page.next.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let marker = after
            .find("}}")
            .map(|end| (&after[..end], &after[end + 2..]));
        let Some((name, tail)) = marker else {
            out.push_str("{{");
            rest = after;
            continue;
        };
        match name {
            "error" => escape_into(&mut out, error.unwrap_or_default()),
            "error_autofocus" if error.is_some() => out.push_str("autofocus"),
            "error_autofocus" => {}
            "next" => escape_into(&mut out, page.next),
            "providers" => providers_into(&mut out, page),
            "password_hidden" if !page.password_form => out.push_str("hidden"),
            "password_hidden" => {}
            "passkeys_script" if page.passkeys => {
                out.push_str(r#"<script src="/auth/passkeys.js" defer></script>"#)
            }
            "passkeys_script" => {}
            _ => {
                out.push_str("{{");
                rest = after;
                continue;
            }
        }
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// `<nav class="providers">` with a link to `/auth/sso/<id>?next=…` per provider.
fn providers_into(out: &mut String, page: &Page) {
    if page.providers.is_empty() {
        return;
    }
    out.push_str(r#"<nav class="providers" aria-label="Single sign-on">"#);
    for (id, label) in page.providers {
        out.push_str(r#"<a class="provider" href="/auth/sso/"#);
        escape_into(out, &encode_component(id));
        out.push_str("?next=");
        escape_into(out, &encode_component(page.next));
        if page.reauth {
            out.push_str("&amp;prompt=login");
        }
        out.push_str(r#"">Sign in with "#);
        escape_into(out, label);
        out.push_str("</a>");
    }
    out.push_str("</nav>");
}

/// Escapes `&`, `<`, `>`, `"` and `'`: safe in text and in quoted attribute values.
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::login::INVALID_CREDENTIALS;

    fn form<'a>(next: &'a str, error: Option<&'a str>) -> Page<'a> {
        Page {
            next,
            error,
            providers: &[],
            password_form: true,
            passkeys: false,
            reauth: false,
        }
    }

    #[test]
    fn one_link_per_provider_and_the_form_only_with_a_store() {
        let providers = [("corp", "Corp <SSO>"), ("gh", "GitHub")];
        let page = render(
            LOGIN_TEMPLATE,
            &Page {
                next: "/app?x=1&y=2",
                error: None,
                providers: &providers,
                password_form: false,
                passkeys: true,
                reauth: false,
            },
        );
        assert!(page.contains(
            r#"<a class="provider" href="/auth/sso/corp?next=%2Fapp%3Fx%3D1%26y%3D2">Sign in with Corp &lt;SSO&gt;</a>"#
        ));
        assert!(page.contains(r#"href="/auth/sso/gh?next="#));
        assert!(page.contains(r#"action="/auth/login" hidden>"#));
        assert!(page.contains(r#"<script src="/auth/passkeys.js" defer></script>"#));
        let plain = render(LOGIN_TEMPLATE, &form("/", None));
        assert!(
            !plain.contains(r#"<script src="/auth/passkeys.js""#),
            "no passkey script unless configured"
        );
        assert!(!plain.contains(r#"class="provider"#));
        assert!(plain.contains(r#"action="/auth/login" >"#));
        let again = render(
            LOGIN_TEMPLATE,
            &Page {
                next: "/pay",
                error: None,
                providers: &providers,
                password_form: true,
                passkeys: false,
                reauth: true,
            },
        );
        assert!(again.contains(r#"href="/auth/sso/corp?next=%2Fpay&amp;prompt=login""#));
    }

    #[test]
    fn the_template_has_each_marker_once() {
        for marker in [
            "{{error}}",
            "{{error_autofocus}}",
            "{{next}}",
            "{{providers}}",
            "{{password_hidden}}",
            "{{passkeys_script}}",
        ] {
            assert_eq!(LOGIN_TEMPLATE.matches(marker).count(), 1, "{marker}");
        }
        assert_eq!(
            LOGIN_TEMPLATE.matches("{{").count(),
            6,
            "no undocumented markers"
        );
    }

    #[test]
    fn fills_the_real_template() {
        let page = render(LOGIN_TEMPLATE, &form("/app?x=1&y=2", None));
        assert!(!page.contains("{{"));
        assert!(page.contains(r#"<input type="hidden" name="next" value="/app?x=1&amp;y=2">"#));
        assert!(
            page.contains(r#"tabindex="-1" ></p>"#),
            "empty alert, no autofocus"
        );

        let page = render(LOGIN_TEMPLATE, &form("/", Some(INVALID_CREDENTIALS)));
        assert!(page.contains(r#"tabindex="-1" autofocus>Invalid username or password.</p>"#));
        assert_eq!(
            render(LOGIN_TEMPLATE, &form("/", Some(""))),
            render(LOGIN_TEMPLATE, &form("/", None))
        );
    }

    #[test]
    fn values_cannot_break_out() {
        let next = r#"/x"><script>alert(1)</script><input value='"#;
        let error = r#"</p><script>alert("e")</script>&amp;"#;
        let page = render(LOGIN_TEMPLATE, &form(next, Some(error)));
        assert_eq!(
            page.matches("<script").count(),
            1,
            "only the page's own script tag"
        );
        assert!(page.contains(
            r#"value="/x&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;&lt;input value=&#39;""#
        ));
        assert!(page
            .contains("&lt;/p&gt;&lt;script&gt;alert(&quot;e&quot;)&lt;/script&gt;&amp;amp;</p>"));
    }

    #[test]
    fn one_pass_and_unknown_markers_stay() {
        let template = "[{{next}}][{{error}}][{{other}}][{{error_autofocus}}][{{";
        assert_eq!(
            render(template, &form("{{error}}", Some("{{next}}"))),
            "[{{error}}][{{next}}][{{other}}][autofocus][{{"
        );
    }
}
