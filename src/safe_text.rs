//! Text that came from a host is untrusted: it may carry ANSI escapes or control characters
//! meant to rewrite the operator's screen. Everything printed from a host goes through here.

/// Replaces control characters (including ESC) with visible `\u{..}` escapes so the text
/// can be printed without the terminal interpreting any of it. Tabs become a space.
pub fn for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push(' '),
            c if c.is_control() || is_bidi_override(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Unicode bidirectional overrides can make text read differently from what it is.
fn is_bidi_override(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_are_made_visible() {
        assert_eq!(for_terminal("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(for_terminal("x\ny"), "x\\u{a}y");
        assert_eq!(for_terminal("libssl3 3.0.15-1~deb12u1"), "libssl3 3.0.15-1~deb12u1");
        assert_eq!(for_terminal("a\u{202e}b"), "a\\u{202e}b");
    }
}
