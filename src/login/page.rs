//! The login page: `www/login.html` is a template whose markers are filled by plain string
//! substitution, every value HTML-escaped.
//!
//! Markers: `{{error}}` (the message in the alert element, empty when none),
//! `{{error_autofocus}}` (`autofocus` when there is a message, so focus lands on it without
//! JavaScript) and `{{next}}` (the hidden `next` input's value). Any other `{{…}}` is left as is.

/// The login page template, `www/login.html`, built into the binary.
pub const LOGIN_TEMPLATE: &str = include_str!("../../www/login.html");

/// Fills `template`'s markers: `next` (already passed through [`crate::login::next::safe_next`]) and
/// the `error` message, if any (an empty message counts as none).
///
/// One pass over the template: text inserted for one marker is never searched for another, so
/// a value containing `{{next}}` stays literal.
pub fn render(template: &str, next: &str, error: Option<&str>) -> String {
    let error = error.filter(|message| !message.is_empty());
    let mut out = String::with_capacity(template.len() + next.len() + 64);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let marker = after
            .find("}}")
            .map(|end| (&after[..end], &after[end + 2..]));
        match marker {
            Some(("error", tail)) => {
                escape_into(&mut out, error.unwrap_or_default());
                rest = tail;
            }
            Some(("error_autofocus", tail)) => {
                if error.is_some() {
                    out.push_str("autofocus");
                }
                rest = tail;
            }
            Some(("next", tail)) => {
                escape_into(&mut out, next);
                rest = tail;
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes `&`, `<`, `>`, `"` and `'`: safe in text and in quoted attribute values.
fn escape_into(out: &mut String, text: &str) {
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

    #[test]
    fn the_template_has_each_marker_once() {
        for marker in ["{{error}}", "{{error_autofocus}}", "{{next}}"] {
            assert_eq!(LOGIN_TEMPLATE.matches(marker).count(), 1, "{marker}");
        }
        assert_eq!(
            LOGIN_TEMPLATE.matches("{{").count(),
            3,
            "no undocumented markers"
        );
    }

    #[test]
    fn fills_the_real_template() {
        let page = render(LOGIN_TEMPLATE, "/app?x=1&y=2", None);
        assert!(!page.contains("{{"));
        assert!(page.contains(r#"<input type="hidden" name="next" value="/app?x=1&amp;y=2">"#));
        assert!(
            page.contains(r#"tabindex="-1" ></p>"#),
            "empty alert, no autofocus"
        );

        let page = render(LOGIN_TEMPLATE, "/", Some(INVALID_CREDENTIALS));
        assert!(page.contains(r#"tabindex="-1" autofocus>Invalid username or password.</p>"#));
        assert_eq!(
            render(LOGIN_TEMPLATE, "/", Some("")),
            render(LOGIN_TEMPLATE, "/", None)
        );
    }

    #[test]
    fn values_cannot_break_out() {
        let next = r#"/x"><script>alert(1)</script><input value='"#;
        let error = r#"</p><script>alert("e")</script>&amp;"#;
        let page = render(LOGIN_TEMPLATE, next, Some(error));
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
            render(template, "{{error}}", Some("{{next}}")),
            "[{{error}}][{{next}}][{{other}}][autofocus][{{"
        );
    }
}
