//! The chat protocol's commands.

use crate::text::sanitize;

/// What a client's line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A plain line: say it to the room.
    Say(String),
    /// `/me action`
    Me(String),
    /// `/nick NAME`
    Nick(String),
    /// `/join ROOM`
    Join(String),
    /// `/rooms [PAGE]`: one page of the room list, from 1.
    Rooms(usize),
    /// `/who`
    Who,
    /// `/msg NICK text`
    Msg { to: String, text: String },
    /// `/help`
    Help,
    /// `/quit`
    Quit,
    /// A command that needs an argument it did not get, or one nobody knows.
    Invalid(String),
}

/// The text `/help` sends.
pub const HELP: &str =
    "commands: /nick NAME, /join ROOM, /rooms, /who, /msg NICK text, /me action, /help, /quit";

/// Parses one line. A line starting with `//` says the rest literally (to say "/something").
///
/// An action or a private message with nothing left to show once [`sanitize`]d (only escape
/// sequences, say) is refused with its usage: it would reach others as a bare `* nick `.
///
/// # Examples
///
/// ```
/// use chat_demo::command::{parse, Command};
/// assert_eq!(parse("hello"), Command::Say("hello".into()));
/// assert_eq!(parse("/msg bob hi there"), Command::Msg { to: "bob".into(), text: "hi there".into() });
/// assert_eq!(parse("/join"), Command::Invalid("usage: /join ROOM".into()));
/// assert_eq!(parse("/rooms"), Command::Rooms(1));
/// assert_eq!(parse("/rooms 3"), Command::Rooms(3));
/// assert_eq!(parse("/me \u{1b}[31m"), Command::Invalid("usage: /me action".into()));
/// ```
pub fn parse(line: &str) -> Command {
    let Some(rest) = line.strip_prefix('/') else {
        return Command::Say(line.to_string());
    };
    if let Some(literal) = rest.strip_prefix('/') {
        return Command::Say(format!("/{literal}"));
    }
    let (name, argument) = match rest.split_once(char::is_whitespace) {
        Some((name, argument)) => (name, argument.trim()),
        None => (rest, ""),
    };
    let needs = |usage: &str, make: fn(String) -> Command| {
        if sanitize(argument).is_empty() {
            Command::Invalid(format!("usage: {usage}"))
        } else {
            make(argument.to_string())
        }
    };
    match name.to_ascii_lowercase().as_str() {
        "me" => needs("/me action", Command::Me),
        "nick" => needs("/nick NAME", Command::Nick),
        "join" => needs("/join ROOM", Command::Join),
        "rooms" if argument.is_empty() => Command::Rooms(1),
        "rooms" => match argument.parse() {
            Ok(page) if page > 0 => Command::Rooms(page),
            _ => Command::Invalid("usage: /rooms [PAGE]".into()),
        },
        "who" => Command::Who,
        "help" => Command::Help,
        "quit" => Command::Quit,
        "msg" => match argument.split_once(char::is_whitespace) {
            Some((to, text)) if !sanitize(text).is_empty() => Command::Msg {
                to: to.to_string(),
                text: text.trim().to_string(),
            },
            _ => Command::Invalid("usage: /msg NICK text".into()),
        },
        other => Command::Invalid(format!("unknown command /{other}; try /help")),
    }
}
