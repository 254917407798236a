//! What may reach another client's terminal: sanitised text and validated nicknames.

/// Removes everything that could act on a terminal instead of being shown: ANSI escape
/// sequences (CSI `ESC [ ... final`, OSC `ESC ] ... BEL/ST`, and two-byte `ESC x`), C0 and C1
/// control characters and DEL. Tabs become spaces.
///
/// # Examples
///
/// ```
/// use chat_demo::text::sanitize;
/// assert_eq!(sanitize("hi \u{1b}[31mred\u{1b}[0m\u{7}!"), "hi red!");
/// assert_eq!(sanitize("a\tb"), "a b");
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
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
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
    if ["server", "admin", "system"].contains(&nick_key(nick).as_str()) {
        return Err(NickError::Reserved);
    }
    Ok(())
}

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

/// Room names follow the nick rules.
pub fn validate_room(room: &str) -> Result<(), NickError> {
    if room.is_empty() || room.chars().count() > MAX_NICK {
        return Err(NickError::Length);
    }
    if !room
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(NickError::Characters);
    }
    Ok(())
}
