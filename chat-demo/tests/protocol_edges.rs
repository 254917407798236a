//! Issue 15, finding 8: small things a client could notice. An action with nothing left to say
//! is refused, a bad room name gets the room's error, and a line's length limit counts the same
//! with either line ending.

mod common;

use chat_demo::server::Config;
use common::{with_server, Client};
use std::io::{self, Write};
use std::time::Duration;

#[test]
fn an_action_or_private_message_of_only_escapes_is_refused() -> io::Result<()> {
    with_server(Config::default(), |addr| {
        let mut mallory = Client::named(addr, "mallory")?;
        let mut victim = Client::named(addr, "victim")?;
        mallory.send("/me \u{1b}[31m\u{1b}[0m")?;
        assert_eq!(mallory.reply()?, "!!! usage: /me action");
        mallory.send("/me \u{202E}\u{200B}")?;
        assert_eq!(mallory.reply()?, "!!! usage: /me action");
        mallory.send("/msg victim \u{1b}[2J")?;
        assert_eq!(mallory.reply()?, "!!! usage: /msg NICK text");
        mallory.send("/me waves")?;
        assert_eq!(
            victim.chat()?,
            "* mallory waves",
            "nothing empty came first"
        );
        Ok(())
    })
}

#[test]
fn a_bad_room_name_gets_the_room_error_not_the_nick_error() -> io::Result<()> {
    with_server(Config::default(), |addr| {
        let mut alice = Client::connect(addr)?;
        alice.send("/join a b")?;
        assert_eq!(
            alice.reply()?,
            "!!! a room name may use only letters, digits, - and _"
        );
        alice.send(&format!("/join {}", "r".repeat(17)))?;
        assert_eq!(alice.reply()?, "!!! a room name has 1 to 16 characters");
        Ok(())
    })
}

#[test]
fn the_line_limit_counts_the_same_with_crlf_and_lf() -> io::Result<()> {
    let config = Config {
        max_line: 64,
        ..Config::default()
    };
    with_server(config, |addr| {
        let mut sender = Client::named(addr, "sender")?;
        let mut reader = Client::connect(addr)?;
        let (fits, over) = ("f".repeat(64), "o".repeat(65));
        for ending in ["\n", "\r\n"] {
            sender
                .stream
                .write_all(format!("{fits}{ending}").as_bytes())?;
            assert_eq!(reader.chat()?, format!("<sender> {fits}"), "{ending:?}");
            sender
                .stream
                .write_all(format!("{over}{ending}").as_bytes())?;
            assert_eq!(
                sender.reply()?,
                "!!! line too long (max 64 bytes); discarded",
                "{ending:?}"
            );
        }
        // The same when the line comes a byte at a time, its \r alone in the last read.
        for byte in fits.bytes().chain(*b"\r") {
            sender.stream.write_all(&[byte])?;
        }
        greenhub::sleep(Duration::from_millis(50));
        sender.stream.write_all(b"\n")?;
        assert_eq!(reader.chat()?, format!("<sender> {fits}"));
        Ok(())
    })
}
