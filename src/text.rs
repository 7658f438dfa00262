//! Characters that act on how text is shown without being visible themselves, shared by every
//! place that takes text from outside: the vault strips them from titles and file names, the
//! offline verifier escapes them before printing.

/// Control characters (C0 and C1, NUL and DEL included) and the bidirectional marks,
/// embeddings, overrides and isolates (U+061C, U+200E/F, U+202A–202E, U+2066–2069).
/// `invoice\u{202E}fdp.exe` would show as `invoiceexe.pdf`; an ESC sequence clears a terminal.
pub fn is_hidden_control(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_controls_are_recognised_and_letters_are_not() {
        for c in [
            '\0', '\u{1b}', '\u{7f}', '\u{9b}', '\u{061C}', '\u{200F}', '\u{202E}', '\u{2069}',
        ] {
            assert!(is_hidden_control(c), "{c:?}");
        }
        for c in ['a', 'ệ', ' ', '\u{2028}', '\u{200B}'] {
            assert!(!is_hidden_control(c), "{c:?}");
        }
    }
}
