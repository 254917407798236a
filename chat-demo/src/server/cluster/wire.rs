//! What one server publishes for the others: a tag and fields, one to a line, the chat line
//! itself last (with its own `\n`). Server ids, nicks and room names never hold a newline
//! (they are validated before they get here), so the fields split without escaping.
//!
//! ```text
//!   R \n <server> \n <C|N> \n <room> \n <line>          a room line (chat or notice)
//!   P \n <server> \n <from nick> \n <to nick> \n <line> a private message
//!   B \n <to nick> \n <line>                            a private message that was not delivered
//! ```

use super::super::Kind;

/// A message between servers.
#[derive(Debug, PartialEq)]
pub(super) enum Message<'a> {
    Room {
        from: &'a str,
        kind: Kind,
        room: &'a str,
        line: &'a str,
    },
    Private {
        from: &'a str,
        from_nick: &'a str,
        to: &'a str,
        line: &'a str,
    },
    Bounce {
        to: &'a str,
        line: &'a str,
    },
}

impl Message<'_> {
    pub(super) fn encode(&self) -> Vec<u8> {
        match self {
            Message::Room {
                from,
                kind,
                room,
                line,
            } => {
                let kind = if *kind == Kind::Chat { "C" } else { "N" };
                format!("R\n{from}\n{kind}\n{room}\n{line}")
            }
            Message::Private {
                from,
                from_nick,
                to,
                line,
            } => format!("P\n{from}\n{from_nick}\n{to}\n{line}"),
            Message::Bounce { to, line } => format!("B\n{to}\n{line}"),
        }
        .into_bytes()
    }

    /// The message in `bytes`, or `None` for anything else (which is then ignored).
    pub(super) fn decode(bytes: &[u8]) -> Option<Message<'_>> {
        let text = std::str::from_utf8(bytes).ok()?;
        let (tag, rest) = text.split_once('\n')?;
        match tag {
            "R" => {
                let mut fields = rest.splitn(4, '\n');
                let (from, kind, room, line) = (
                    fields.next()?,
                    fields.next()?,
                    fields.next()?,
                    fields.next()?,
                );
                let kind = match kind {
                    "C" => Kind::Chat,
                    "N" => Kind::Notice,
                    _ => return None,
                };
                Some(Message::Room {
                    from,
                    kind,
                    room,
                    line,
                })
            }
            "P" => {
                let mut fields = rest.splitn(4, '\n');
                Some(Message::Private {
                    from: fields.next()?,
                    from_nick: fields.next()?,
                    to: fields.next()?,
                    line: fields.next()?,
                })
            }
            "B" => {
                let (to, line) = rest.split_once('\n')?;
                Some(Message::Bounce { to, line })
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_message_reads_back_as_written() {
        let messages = [
            Message::Room {
                from: "a",
                kind: Kind::Chat,
                room: "lobby",
                line: "<alice> hi: a\tb\n",
            },
            Message::Room {
                from: "b-2",
                kind: Kind::Notice,
                room: "x",
                line: "*** bob joined x\n",
            },
            Message::Private {
                from: "a",
                from_nick: "alice",
                to: "bob",
                line: "[pm from alice] psst\n",
            },
            Message::Bounce {
                to: "alice",
                line: "!!! bob is not reading\n",
            },
        ];
        for message in messages {
            assert_eq!(Message::decode(&message.encode()), Some(message));
        }
    }

    #[test]
    fn anything_else_is_ignored() {
        for junk in [
            &b""[..],
            b"R\na\nC\n",
            b"X\nfoo\nbar",
            b"R\na\nQ\nroom\nline\n",
            b"\xff\n",
        ] {
            assert_eq!(Message::decode(junk), None, "{junk:?}");
        }
    }
}
