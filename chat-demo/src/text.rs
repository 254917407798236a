//! What may reach another client's terminal: sanitised text and validated nicknames and room
//! names.
//!
//! Text loses what could act on a terminal (escape sequences, control characters) and what
//! could make it show something else than it says: characters that reorder a line (bidi
//! overrides and isolates), hide in it (zero-width characters, fillers) or break it (line and
//! paragraph separators); runs of spaces shrink to one, so a message cannot push a fake
//! `*** notice` to the start of the next terminal row. Names are ASCII and compared folded, so
//! that `Adrnin` is `admin`.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Removes everything that could act on a terminal or disguise a line instead of being shown:
///
/// - ANSI escape sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL/ST`, two-byte `ESC x`),
///   C0 and C1 control characters and DEL;
/// - Unicode format characters (general category Cf: bidi embeddings, overrides and isolates,
///   zero-width spaces and joiners, the byte order mark, soft hyphens, tag characters), line
///   and paragraph separators (Zl, Zp), and the [`FILLERS`] that show as nothing;
/// - runs of whitespace (spaces, tabs, no-break and ideographic spaces, the braille blank)
///   become one space, and none is left at either end.
///
/// # Examples
///
/// ```
/// use chat_demo::text::sanitize;
/// assert_eq!(sanitize("hi \u{1b}[31mred\u{1b}[0m\u{7}!"), "hi red!");
/// assert_eq!(sanitize("a\tb"), "a b");
/// assert_eq!(sanitize("evil\u{202E}txt.exe"), "eviltxt.exe"); // no right-to-left override
/// assert_eq!(sanitize("   *** admin joined"), "*** admin joined");
/// assert_eq!(sanitize("a\u{3164}\u{200B}b"), "ab"); // a Hangul filler, a zero-width space
/// ```
pub fn sanitize(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                // CSI: parameters and intermediates, then one final byte in @..~.
                Some('[') => {
                    for c in chars.by_ref() {
                        if ('@'..='~').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC (and the other string sequences): up to BEL or ESC \.
                Some(']' | 'P' | '^' | '_' | 'X') => {
                    while let Some(c) = chars.next() {
                        if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                            break;
                        }
                    }
                }
                _ => {}
            },
            c if is_hidden(c) => {}
            c if c.is_whitespace() || c == BRAILLE_BLANK => {
                if !out.is_empty() && !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    let shown = out.trim_end_matches(' ').len();
    out.truncate(shown);
    out
}

/// Characters that are letters or marks to Unicode yet show as nothing, so they can pad or
/// disguise a line; [`sanitize`] removes them. (The format characters, Cf, are removed by
/// category; this list is what the categories miss.)
///
/// - U+115F, U+1160, U+3164, U+FFA0: the Hangul fillers, placeholders inside a syllable that are
///   never meant to be seen alone (a favourite "invisible name");
/// - U+034F combining grapheme joiner, U+17B4 and U+17B5 (Khmer inherent vowels, which Unicode
///   advises against using): marks with no glyph.
///
/// The braille blank, U+2800, is not here: it is the space of braille text, so it counts as a
/// space (and a run of them as one).
///
/// # Examples
///
/// ```
/// use chat_demo::text::{sanitize, FILLERS};
/// let padded: String = FILLERS.iter().collect();
/// assert_eq!(sanitize(&format!("a{padded}b")), "ab");
/// ```
pub const FILLERS: [char; 7] = [
    '\u{115F}', '\u{1160}', '\u{3164}', '\u{FFA0}', '\u{034F}', '\u{17B4}', '\u{17B5}',
];

/// U+2800, an empty braille cell: shown as a blank as wide as a letter.
const BRAILLE_BLANK: char = '\u{2800}';

/// Whether `c` is removed outright: a control character other than a tab, a format character,
/// a line or paragraph separator, or a filler.
fn is_hidden(c: char) -> bool {
    (c.is_control() && c != '\t')
        || matches!(
            c.general_category(),
            GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
        )
        || FILLERS.contains(&c)
}

/// The longest nickname, in characters.
pub const MAX_NICK: usize = 16;

/// Why a nickname was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NickError {
    /// Empty or longer than [`MAX_NICK`].
    Length,
    /// Only ASCII letters, digits, `-` and `_` are allowed (no look-alikes, no spaces).
    Characters,
    /// Names that would impersonate the server.
    Reserved,
}

impl std::fmt::Display for NickError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NickError::Length => "a nick has 1 to 16 characters",
            NickError::Characters => "a nick may use only letters, digits, - and _",
            NickError::Reserved => "that nick is reserved",
        })
    }
}

/// Checks a nickname; uniqueness is the server's business (it compares [`nick_key`]s).
///
/// # Examples
///
/// ```
/// use chat_demo::text::{validate_nick, NickError};
/// assert!(validate_nick("alice_2").is_ok());
/// assert_eq!(validate_nick("al ice"), Err(NickError::Characters));
/// assert_eq!(validate_nick("аlice"), Err(NickError::Characters)); // Cyrillic а
/// assert_eq!(validate_nick("Adrnin"), Err(NickError::Reserved)); // folds to "admin"
/// ```
pub fn validate_nick(nick: &str) -> Result<(), NickError> {
    if nick.is_empty() || nick.chars().count() > MAX_NICK {
        return Err(NickError::Length);
    }
    if !nick
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(NickError::Characters);
    }
    let key = nick_key(nick);
    if RESERVED.iter().any(|reserved| nick_key(reserved) == key) {
        return Err(NickError::Reserved);
    }
    Ok(())
}

/// Nicks that would impersonate the server, refused in every spelling that folds to one of them
/// ([`nick_key`]): `ADMIN`, `AdmIn` and `Adrnin` are all `admin`.
pub const RESERVED: [&str; 3] = ["server", "admin", "system"];

/// The form two nicks are compared in, so that one cannot pass for another: case is ignored,
/// and ASCII characters that look alike on screen count as the same (`I`, `l`, `1` and `|`;
/// `O` and `0`; `rn` and `m`; `vv` and `w`; `-` and `_`).
///
/// # Examples
///
/// ```
/// use chat_demo::text::nick_key;
/// assert_eq!(nick_key("Alice"), nick_key("alice"));
/// assert_eq!(nick_key("AIice"), nick_key("alice")); // capital i
/// assert_eq!(nick_key("b0b"), nick_key("bob"));
/// assert_eq!(nick_key("rnike"), nick_key("mike"));
/// assert_ne!(nick_key("bob"), nick_key("rob"));
/// ```
pub fn nick_key(nick: &str) -> String {
    let folded: String = nick
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            'i' | '1' | '|' => 'l',
            '0' => 'o',
            '-' => '_',
            c => c,
        })
        .collect();
    folded.replace("rn", "m").replace("vv", "w")
}

/// Why a room name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomError {
    /// Empty or longer than [`MAX_NICK`].
    Length,
    /// Only ASCII letters, digits, `-` and `_` are allowed, as in nicks.
    Characters,
}

impl std::fmt::Display for RoomError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            RoomError::Length => "a room name has 1 to 16 characters",
            RoomError::Characters => "a room name may use only letters, digits, - and _",
        })
    }
}

/// Checks a room name: the nick rules, with errors that say "room". Which rooms are the same is
/// the server's business (it compares [`room_key`]s).
///
/// # Examples
///
/// ```
/// use chat_demo::text::{validate_room, RoomError};
/// assert!(validate_room("rust-users").is_ok());
/// assert_eq!(validate_room("a b"), Err(RoomError::Characters));
/// assert_eq!(
///     validate_room("").unwrap_err().to_string(),
///     "a room name has 1 to 16 characters"
/// );
/// ```
pub fn validate_room(room: &str) -> Result<(), RoomError> {
    if room.is_empty() || room.chars().count() > MAX_NICK {
        return Err(RoomError::Length);
    }
    if !room
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(RoomError::Characters);
    }
    Ok(())
}

/// The form two room names are compared in, folded as nicks are ([`nick_key`]): `Lobby`,
/// `1obby` and `Iobby` are all the lobby. A server keys its rooms by this and shows the name as
/// the room's first member spelled it.
///
/// # Examples
///
/// ```
/// use chat_demo::text::room_key;
/// assert_eq!(room_key("Lobby"), room_key("lobby"));
/// assert_eq!(room_key("1obby"), room_key("Iobby"));
/// assert_ne!(room_key("lobby"), room_key("hobby"));
/// ```
pub fn room_key(room: &str) -> String {
    nick_key(room)
}
