//! What a name may be. Names end up in ssh arguments, shell commands (quoted), file names
//! (the journal is named after the window), journal lines and every screen, and inventories
//! are often generated from a CMDB or cloud tags: a name is not trusted input.
//!
//! - **Identifiers** (host, group, tag, wave and window names, users): ASCII letters, digits,
//!   `.`, `_` and `-`, not starting with `-`, at most [`MAX_IDENTIFIER`] bytes.
//!   A host name may also be an IP address (`2001:db8::7`).
//! - **Labels** (step and check names, which people read): letters and digits (any script),
//!   `.`, `_`, `-`, and single spaces between words; never control, bidi or invisible
//!   characters, quotes, `$`, backquotes or newlines. At most [`MAX_LABEL`] characters.
//! - **Addresses** (what ssh connects to): a hostname, IP address or ssh alias, checked by
//!   [`super::ssh_config::check_argv_word`]: never starting with `-`.
//!
//! The same rules hold for runbooks, TOML hosts files and Ansible INI, YAML and JSON
//! inventories; docs/runbook.md ("Names") gives the reason to the operator.

/// Longest identifier: a fully qualified domain name.
pub const MAX_IDENTIFIER: usize = 253;
/// Longest label, in characters.
pub const MAX_LABEL: usize = 100;

const IDENTIFIER_RULE: &str = "a name is letters, digits, '.', '_' and '-' (docs/runbook.md, \"Names\")";
const LABEL_RULE: &str = "a step or check name is letters, digits, '.', '_', '-' and single spaces between words (docs/runbook.md, \"Names\")";

/// Checks an identifier; `what` names it in the message ("host name", "tag").
pub fn identifier(what: &str, value: &str) -> Result<(), String> {
    let shown = crate::safe_text::for_terminal(value);
    if value.is_empty() {
        return Err(format!("{what} is empty"));
    }
    if value.len() > MAX_IDENTIFIER {
        return Err(format!("{what} is longer than {MAX_IDENTIFIER} characters"));
    }
    if value.starts_with('-') {
        return Err(format!("{what} `{shown}` starts with '-', which reads as an option: {IDENTIFIER_RULE}"));
    }
    match value.chars().find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        Some(c) => Err(format!("{what} `{shown}` contains {}: {IDENTIFIER_RULE}", describe(c))),
        None => Ok(()),
    }
}

/// Checks a host name: an identifier, or an IP address as written in many inventories
/// (`2001:db8::7` has colons, which are harmless: it is never a file name or an option).
pub fn host_name(what: &str, value: &str) -> Result<(), String> {
    if value.parse::<std::net::IpAddr>().is_ok() {
        return Ok(());
    }
    identifier(what, value)
}

/// Checks a label (step and check names).
pub fn label(what: &str, value: &str) -> Result<(), String> {
    let shown = crate::safe_text::for_terminal(value);
    if value.trim().is_empty() {
        return Err(format!("{what} is empty"));
    }
    if value.chars().count() > MAX_LABEL {
        return Err(format!("{what} is longer than {MAX_LABEL} characters"));
    }
    if value.starts_with(' ') || value.ends_with(' ') || value.contains("  ") {
        return Err(format!("{what} `{shown}` has a space at an end or two in a row: {LABEL_RULE}"));
    }
    let allowed =
        |c: char| (c.is_alphanumeric() && !crate::safe_text::is_hidden(c)) || matches!(c, '.' | '_' | '-' | ' ');
    match value.chars().find(|&c| !allowed(c)) {
        Some(c) => Err(format!("{what} `{shown}` contains {}: {LABEL_RULE}", describe(c))),
        None => Ok(()),
    }
}

/// Checks a host's address (hostname, IP address, ssh alias).
pub fn address(what: &str, value: &str) -> Result<(), String> {
    super::ssh_config::check_argv_word(value).map_err(|reason| {
        format!(
            "{what} `{}` is not a hostname, IP address or ssh alias: {reason}",
            crate::safe_text::for_terminal(value)
        )
    })
}

/// A character as the operator can read it, whatever it is.
fn describe(c: char) -> String {
    if c == ' ' {
        "a space".to_string()
    } else if c.is_whitespace() || crate::safe_text::is_hidden(c) {
        format!("the invisible character U+{:04X}", c as u32)
    } else {
        format!("'{c}'")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_are_letters_digits_dot_underscore_dash() {
        for ok in ["web1", "web-1.example.com", "db_2", "10.0.0.7", "openssl-security-2026-11", "A.b-C_d"] {
            assert_eq!(identifier("host name", ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("h1$(touch${IFS}pwned)", "contains '$'"),
            ("web 1", "contains a space"),
            ("web\u{200b}1", "U+200B"),
            ("web\u{202e}1", "U+202E"),
            ("a\nb", "U+000A"),
            ("-oProxyCommand", "starts with '-'"),
            ("wéb", "contains 'é'"),
            ("a\"b", "contains '\"'"),
            ("a`b", "contains '`'"),
            ("", "is empty"),
        ] {
            let err = identifier("host name", bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
            assert!(!err.contains('\u{202e}') && !err.contains('\n'), "shown escaped: {err:?}");
        }
        assert!(identifier("x", &"a".repeat(254)).is_err());
        assert_eq!(host_name("host name", "2001:db8::7"), Ok(()));
        assert!(identifier("window name", "2001:db8::7").is_err());
        assert!(host_name("host name", "2001:db8::7;id").is_err());
    }

    #[test]
    fn labels_allow_single_interior_spaces_and_any_script() {
        for ok in ["apply tested updates", "site answers from outside", "redémarrer nginx", "step-2.b_c"] {
            assert_eq!(label("step name", ok), Ok(()), "{ok}");
        }
        for bad in [
            " lead",
            "trail ",
            "two  spaces",
            "tab\there",
            "new\nline",
            "quote\"s",
            "it's",
            "$HOME",
            "a`b`",
            "zw\u{200d}j",
            "bidi\u{2066}x",
            "a:b",
            "",
        ] {
            assert!(label("step name", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn addresses_never_start_with_a_dash() {
        for ok in ["web1", "10.0.0.7", "2001:db8::7", "fe80::1%eth0", "web1.example.com"] {
            assert_eq!(address("address", ok), Ok(()), "{ok}");
        }
        for bad in ["-oProxyCommand=touch /tmp/x", "-J", "a b", "a;b", ""] {
            assert!(address("address", bad).is_err(), "{bad:?}");
        }
    }
}
