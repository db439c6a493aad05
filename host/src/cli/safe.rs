//! Text a plugin, a vendor or the state store wrote, made safe for a
//! terminal before it is printed.
//!
//! Record ids, names, ledger reasons, error messages and a connector's
//! `describe` strings can hold anything. Printed raw, an escape sequence in
//! them could clear the screen, set the window title, recolour what follows
//! or return the cursor to forge a line. So human output shows every control
//! character as a visible escape (`\x1b`, `\r`, `\u{202e}`); JSON and CSV
//! output is left exact (their encoders escape what they must).
//!
//! Escaped: C0 controls (ESC, BEL, CR, backspace, …) and DEL, C1 controls
//! (U+0080–U+009F), the Unicode bidi controls (U+061C, U+200E, U+200F,
//! U+202A–U+202E, U+2066–U+2069), which can make text read backwards, and
//! the line and paragraph separators U+2028, U+2029. `\n` and `\t` stay
//! only in [`text`]; [`line`] escapes them too.
//!
//! A backslash is not escaped, so a vendor's literal `\x1b` reads like an
//! escaped ESC; that is harmless (nothing reaches the terminal raw) and keeps
//! ordinary text such as Windows paths unchanged.

use std::borrow::Cow;
use std::fmt::{self, Write as _};

use crate::config::Diagnostics;

/// A single-line field (an id, a name, a reason): every control character
/// escaped, `\n` and `\t` included. Borrowed when nothing needs escaping.
pub fn line(s: &str) -> Cow<'_, str> {
    escape(s, false)
}

/// Text that may span lines (an error message): like [`line`], but `\n`
/// and `\t` stay.
pub fn text(s: &str) -> Cow<'_, str> {
    escape(s, true)
}

/// Whether `c` is shown as an escape.
fn needs_escape(c: char, multiline: bool) -> bool {
    match c {
        '\n' | '\t' => !multiline,
        // C0, DEL and C1 (the `Cc` category).
        c if c.is_control() => true,
        // Bidi controls, line and paragraph separators.
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}' => true,
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => true,
        _ => false,
    }
}

fn escape(s: &str, multiline: bool) -> Cow<'_, str> {
    let Some(first) = s.find(|c| needs_escape(c, multiline)) else {
        return Cow::Borrowed(s);
    };
    let mut out = String::with_capacity(s.len() + 16);
    out.push_str(&s[..first]);
    for c in s[first..].chars() {
        if needs_escape(c, multiline) {
            push_escaped(&mut out, c);
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

fn push_escaped(out: &mut String, c: char) {
    let _ = match c {
        '\n' => out.write_str("\\n"),
        '\r' => out.write_str("\\r"),
        '\t' => out.write_str("\\t"),
        '\0'..='\x7f' => write!(out, "\\x{:02x}", c as u32),
        _ => write!(out, "\\u{{{:x}}}", c as u32),
    };
}

/// A workspace's diagnostics for stderr: coloured (`colour`, stderr is a
/// terminal) when the plain report holds nothing to escape, so that every
/// escape sequence in the coloured one is the renderer's own; else the
/// plain report made safe (names from a connector's `describe` can appear
/// in messages).
pub fn diagnostics(d: &Diagnostics, colour: bool) -> String {
    let plain = d.render(false);
    match text(&plain) {
        Cow::Borrowed(_) if colour => d.render(true),
        Cow::Borrowed(_) => plain,
        Cow::Owned(escaped) => escaped,
    }
}

/// An error message made safe already (a diagnostics report, perhaps
/// coloured): [`error`] prints it as it is.
#[derive(Debug)]
pub struct Rendered(pub String);

impl fmt::Display for Rendered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Rendered {}

/// An error and its causes as `{e:#}` shows them (`outer: inner`), each
/// made safe ([`text`]: lines stay), except parts that are [`Rendered`].
pub fn error(e: &anyhow::Error) -> String {
    e.chain()
        .map(|cause| match cause.downcast_ref::<Rendered>() {
            Some(r) => r.0.clone(),
            None => text(&cause.to_string()).into_owned(),
        })
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        // (input, line(), text())
        let table: &[(&str, &str, &str)] = &[
            ("", "", ""),
            ("plain ascii", "plain ascii", "plain ascii"),
            ("Zoë – 東京 ✓", "Zoë – 東京 ✓", "Zoë – 東京 ✓"),
            ("C:\\path\\x1b", "C:\\path\\x1b", "C:\\path\\x1b"),
            ("\u{1b}[2J", "\\x1b[2J", "\\x1b[2J"),
            (
                "\u{1b}]0;pwned\u{7}",
                "\\x1b]0;pwned\\x07",
                "\\x1b]0;pwned\\x07",
            ),
            ("red\rFORGED", "red\\rFORGED", "red\\rFORGED"),
            ("a\nb", "a\\nb", "a\nb"),
            ("a\tb", "a\\tb", "a\tb"),
            ("crlf\r\n", "crlf\\r\\n", "crlf\\r\n"),
            ("back\u{8}space", "back\\x08space", "back\\x08space"),
            ("nul\0", "nul\\x00", "nul\\x00"),
            ("\u{b}\u{c}", "\\x0b\\x0c", "\\x0b\\x0c"),
            ("del\u{7f}", "del\\x7f", "del\\x7f"),
            ("csi\u{9b}31m", "csi\\u{9b}31m", "csi\\u{9b}31m"),
            ("\u{80}\u{9f}", "\\u{80}\\u{9f}", "\\u{80}\\u{9f}"),
            ("\u{a0}nbsp", "\u{a0}nbsp", "\u{a0}nbsp"),
            (
                "txt.exe\u{202e}fdp",
                "txt.exe\\u{202e}fdp",
                "txt.exe\\u{202e}fdp",
            ),
            (
                "\u{202a}\u{202b}\u{202c}\u{202d}",
                "\\u{202a}\\u{202b}\\u{202c}\\u{202d}",
                "\\u{202a}\\u{202b}\\u{202c}\\u{202d}",
            ),
            (
                "\u{2066}\u{2067}\u{2068}\u{2069}",
                "\\u{2066}\\u{2067}\\u{2068}\\u{2069}",
                "\\u{2066}\\u{2067}\\u{2068}\\u{2069}",
            ),
            (
                "\u{200e}\u{200f}\u{61c}",
                "\\u{200e}\\u{200f}\\u{61c}",
                "\\u{200e}\\u{200f}\\u{61c}",
            ),
            (
                "\u{2028}\u{2029}",
                "\\u{2028}\\u{2029}",
                "\\u{2028}\\u{2029}",
            ),
            (
                "\u{1b}[2J\u{1b}]0;pwned\u{7}\u{1b}[31mred\rFORGED",
                "\\x1b[2J\\x1b]0;pwned\\x07\\x1b[31mred\\rFORGED",
                "\\x1b[2J\\x1b]0;pwned\\x07\\x1b[31mred\\rFORGED",
            ),
        ];
        for (input, want_line, want_text) in table {
            assert_eq!(line(input), *want_line, "line({input:?})");
            assert_eq!(text(input), *want_text, "text({input:?})");
        }
    }

    #[test]
    fn clean_text_is_borrowed() {
        assert!(matches!(line("r1 → new-r1 (ok)"), Cow::Borrowed(_)));
        assert!(matches!(text("two\n\tlines"), Cow::Borrowed(_)));
        assert!(matches!(line("two\nlines"), Cow::Owned(_)));
        assert!(matches!(text("\u{1b}"), Cow::Owned(_)));
    }

    #[test]
    fn errors_are_escaped_except_rendered_parts() {
        let inner = anyhow::anyhow!("bad \u{1b}[2J\nsecond line");
        let e = inner.context("sync `s`");
        assert_eq!(error(&e), "sync `s`: bad \\x1b[2J\nsecond line");
        let rendered = anyhow::Error::new(Rendered("\u{1b}[31mours\u{1b}[0m".into()));
        assert_eq!(error(&rendered), "\u{1b}[31mours\u{1b}[0m");
    }
}
