//! Hostile input, generated: arbitrary bytes in arbitrary chunks never panic the line framing,
//! never make it hold more than a line's worth, and frame exactly like a simple reference;
//! sanitized text never carries a control, format or separator character nor a run of spaces;
//! no line parses into a panic.

use chat_demo::command::{parse, Command};
use chat_demo::framing::{decode, Incoming, LineReader};
use chat_demo::text::{nick_key, sanitize, validate_nick, FILLERS};
use proptest::prelude::*;
use std::io::{self, Read};
use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Hands out `data` in the given chunk sizes, as a network would.
struct Chunked {
    data: Vec<u8>,
    sizes: Vec<usize>,
    at: usize,
    turn: usize,
}

impl Read for Chunked {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let size = self.sizes[self.turn % self.sizes.len()].max(1);
        self.turn += 1;
        let n = size.min(buf.len()).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// What the framing must produce: complete lines, overlong ones reported, the tail dropped.
fn reference(data: &[u8], max_line: usize) -> Vec<Incoming> {
    let mut parts: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    parts.pop(); // the unterminated tail (or the empty piece after a final newline)
    parts
        .into_iter()
        .map(|line| {
            // The limit does not count the line ending: `\n` or `\r\n`.
            if line.strip_suffix(b"\r").unwrap_or(line).len() > max_line {
                Incoming::TooLong
            } else {
                decode(line)
            }
        })
        .collect()
}

fn bytes_with_newlines() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(
        prop_oneof![4 => any::<u8>(), 1 => Just(b'\n'), 1 => Just(b'\r'), 1 => Just(0x1b)],
        0..3000,
    )
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 300,
        failure_persistence: None, // a failure prints its minimal input; nothing is written
        ..ProptestConfig::default()
    })]

    #[test]
    fn framing_matches_the_reference_and_stays_bounded(
        data in bytes_with_newlines(),
        sizes in prop::collection::vec(1usize..700, 1..8),
        max_line in 1usize..200,
    ) {
        let expected = reference(&data, max_line);
        let mut lines = LineReader::new(Chunked { data, sizes, at: 0, turn: 0 }, max_line);
        let mut got = Vec::new();
        while let Some(incoming) = lines.next_line().unwrap() {
            prop_assert!(lines.buffered() <= max_line + 1 + 1024, "held {} bytes", lines.buffered());
            if let Incoming::Line(text) = &incoming {
                prop_assert!(text.len() <= max_line && !text.contains('\n'));
            }
            got.push(incoming);
        }
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn sanitized_text_has_no_control_characters_and_is_stable(text in any::<String>()) {
        let clean = sanitize(&text);
        prop_assert!(!clean.chars().any(char::is_control), "{:?}", clean);
        prop_assert!(!clean.chars().any(|c| matches!(
            c.general_category(),
            GeneralCategory::Format | GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
        ) || FILLERS.contains(&c)), "{:?}", clean);
        prop_assert!(!clean.contains("  ") && clean.trim() == clean, "{:?}", clean);
        prop_assert!(!clean.chars().any(|c| c.is_whitespace() && c != ' '), "{:?}", clean);
        prop_assert_eq!(sanitize(&clean), clean.clone());
    }

    #[test]
    fn escape_sequences_never_survive(
        before in "[a-z ]{0,10}",
        params in "[0-9;]{0,8}",
        last in prop::sample::select(vec!['m', 'H', 'J', 'K', 'A']),
        after in "[a-z ]{0,10}",
    ) {
        let hostile = format!("{before}\u{1b}[{params}{last}{after}\u{1b}]0;owned\u{7}");
        // Exactly as if the sequences had never been there (spaces around them then collapse).
        prop_assert_eq!(sanitize(&hostile), sanitize(&format!("{before}{after}")));
    }

    #[test]
    fn any_line_parses_without_panicking(line in any::<String>()) {
        let command = parse(&line);
        if !line.starts_with('/') {
            prop_assert_eq!(command, Command::Say(line));
        }
    }

    #[test]
    fn commands_inside_a_private_message_are_just_text(to in "[a-z]{1,8}", inner in "/(quit|nick x|join y|msg z w)") {
        let command = parse(&format!("/msg {to} {inner}"));
        prop_assert_eq!(command, Command::Msg { to, text: inner });
    }

    #[test]
    fn accepted_nicks_are_printable_and_case_blind(nick in any::<String>()) {
        if validate_nick(&nick).is_ok() {
            prop_assert!(!nick.chars().any(|c| c.is_control() || c.is_whitespace()));
            prop_assert_eq!(nick_key(&nick.to_uppercase()), nick_key(&nick.to_lowercase()));
        }
    }
}

#[test]
fn a_one_mib_line_without_a_newline_is_never_held_whole() {
    let mut data = vec![b'a'; 1024 * 1024];
    data.extend_from_slice(b"\0nul inside\nok\n");
    let sizes = vec![65536];
    let mut lines = LineReader::new(
        Chunked {
            data,
            sizes,
            at: 0,
            turn: 0,
        },
        4096,
    );
    assert_eq!(lines.next_line().unwrap(), Some(Incoming::TooLong));
    assert!(lines.buffered() <= 4096 + 1024);
    assert_eq!(
        lines.next_line().unwrap(),
        Some(Incoming::Line("ok".into()))
    );
    // NUL bytes are valid UTF-8 and reach the parser, but never a terminal.
    assert_eq!(sanitize("a\0b"), "ab");
}
