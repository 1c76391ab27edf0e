//! Text that came from a host or an operator's file is untrusted: it may carry ANSI escapes,
//! control characters, bidirectional overrides or invisible characters meant to rewrite the
//! operator's screen or to make one name look like another. Everything printed from a host,
//! and every piece of an input file shown in a message, goes through here.

/// Replaces control, bidi-override and invisible characters (including ESC) with visible
/// `\u{..}` escapes so the text can be printed without the terminal interpreting any of it,
/// and reads as what it is. Tabs become a space.
pub fn for_terminal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push(' '),
            c if is_hidden(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Whether `c` must never reach a terminal as itself: a control character, a bidi override
/// or isolate, or a character that shows nothing (zero-width, joiners, fillers, tags).
pub fn is_hidden(c: char) -> bool {
    c.is_control() || is_bidi_control(c) || is_invisible(c)
}

/// Unicode bidirectional controls (embeddings, overrides, isolates, marks) can make text read
/// differently from what it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// Characters that take no visible room: two names differing only by one look identical.
fn is_invisible(c: char) -> bool {
    matches!(
        c,
        '\u{00ad}'
            | '\u{034f}'
            | '\u{115f}'
            | '\u{1160}'
            | '\u{17b4}'
            | '\u{17b5}'
            | '\u{180b}'..='\u{180f}'
            | '\u{200b}'..='\u{200d}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{2060}'..='\u{2065}'
            | '\u{206a}'..='\u{206f}'
            | '\u{3164}'
            | '\u{feff}'
            | '\u{ffa0}'
            | '\u{fff9}'..='\u{fffb}'
            | '\u{e0000}'..='\u{e007f}'
    )
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

    #[test]
    fn invisible_characters_are_made_visible() {
        assert_eq!(for_terminal("web\u{200b}1"), "web\\u{200b}1");
        assert_eq!(for_terminal("a\u{2067}b\u{2069}"), "a\\u{2067}b\\u{2069}");
        assert_eq!(for_terminal("\u{feff}x\u{2028}"), "\\u{feff}x\\u{2028}");
        assert_eq!(for_terminal("café ünïcode"), "café ünïcode");
    }
}
