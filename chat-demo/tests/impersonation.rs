//! Issue 15, finding 7: nobody may pass for the server or for someone else. Reserved names are
//! reserved in every spelling that folds to them; text that reaches a terminal carries no
//! character that reorders, hides or moves what is shown; room names fold as nicks do.

mod common;

use chat_demo::server::Config;
use chat_demo::text::{room_key, sanitize};
use common::{with_server, Client};
use std::io;

#[test]
fn reserved_nicks_are_refused_in_every_folded_spelling() -> io::Result<()> {
    with_server(Config::default(), |addr| {
        let mut mallory = Client::connect(addr)?;
        for nick in [
            "admin", "ADMIN", "Adrnin", "AdmIn", "server", "5ystem", "SYSTEM", "sy5tem",
        ] {
            mallory.send(&format!("/nick {nick}"))?;
            let reply = mallory.reply()?;
            if nick.contains('5') {
                // 5 and s are not folded together: these are ordinary nicks.
                assert_eq!(reply, format!("*** you are now {nick}"));
            } else {
                assert_eq!(reply, "!!! that nick is reserved", "/nick {nick}");
            }
        }
        Ok(())
    })
}

/// Characters that reorder, hide or break a line on a terminal, with what must be left.
const INVISIBLE: [(&str, &str); 12] = [
    ("right-to-left override", "\u{202E}"),
    ("left-to-right embedding", "\u{202A}"),
    ("pop directional formatting", "\u{202C}"),
    ("first strong isolate", "\u{2068}"),
    ("pop directional isolate", "\u{2069}"),
    ("zero width space", "\u{200B}"),
    ("byte order mark", "\u{FEFF}"),
    ("line separator", "\u{2028}"),
    ("paragraph separator", "\u{2029}"),
    ("hangul choseong filler", "\u{115F}"),
    ("hangul filler", "\u{3164}"),
    ("halfwidth hangul filler", "\u{FFA0}"),
];

#[test]
fn text_loses_bidi_controls_zero_width_characters_separators_and_fillers() -> io::Result<()> {
    with_server(Config::default(), |addr| {
        let mut mallory = Client::named(addr, "mallory")?;
        let mut victim = Client::connect(addr)?;
        for (name, invisible) in INVISIBLE {
            mallory.send(&format!("a{invisible}b"))?;
            assert_eq!(victim.chat()?, "<mallory> ab", "{name} reached a terminal");
        }
        let all: String = INVISIBLE.iter().map(|(_, c)| *c).collect();
        mallory.send(&format!("/me {all}waves{all}"))?;
        assert_eq!(victim.chat()?, "* mallory waves");
        Ok(())
    })
}

#[test]
fn runs_of_spaces_cannot_push_a_fake_notice_to_column_0() -> io::Result<()> {
    with_server(Config::default(), |addr| {
        let mut mallory = Client::named(addr, "mallory")?;
        let mut victim = Client::connect(addr)?;
        mallory.send(&format!("{}*** admin joined", " ".repeat(71)))?;
        assert_eq!(victim.chat()?, "<mallory> *** admin joined");
        // Other spaces and fillers do not do it either, nor a mix of them.
        let wide = "\u{3000}\u{00A0}\u{2003}\u{3164}\u{2800} ".repeat(20);
        mallory.send(&format!("hi{wide}*** admin joined"))?;
        assert_eq!(victim.chat()?, "<mallory> hi *** admin joined");
        Ok(())
    })
}

#[test]
fn sanitize_keeps_ordinary_text_and_emoji() {
    assert_eq!(sanitize("héllo wörld, 你好 👋"), "héllo wörld, 你好 👋");
    assert_eq!(sanitize("  two  spaces  "), "two spaces");
}

#[test]
fn room_names_fold_as_nicks_do() {
    for look_alike in ["Lobby", "LOBBY", "1obby", "Iobby", "|obby", "l0bby"] {
        assert_eq!(room_key(look_alike), room_key("lobby"), "{look_alike}");
    }
    assert_ne!(room_key("lobby"), room_key("hobby"));
}

/// Rooms are keyed by `room_key`: look-alike spellings of a name reach one room.
#[test]
fn look_alike_room_names_are_one_room() -> io::Result<()> {
    with_server(Config::default(), |addr| {
        let mut alice = Client::named(addr, "alice")?;
        let mut bob = Client::named(addr, "bob")?;
        alice.send("/join Games")?;
        assert!(alice.reply()?.starts_with("*** you are now in"));
        for look_alike in ["games", "GAMES", "6ames", "Garnes"] {
            bob.send(&format!("/join {look_alike}"))?;
            let reply = bob.reply()?;
            if look_alike == "6ames" {
                assert_eq!(reply, "*** you are now in 6ames");
                continue;
            }
            assert!(reply.starts_with("*** you are"), "{reply}");
            alice.send(&format!("hello from Games via {look_alike}"))?;
            assert_eq!(
                bob.chat()?,
                format!("<alice> hello from Games via {look_alike}")
            );
        }
        Ok(())
    })
}
