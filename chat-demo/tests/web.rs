//! Issue 17: the chat's web port. The page and the upgrade under their limits, browsers and
//! nc users in one room, the keep-alive, the size limits, the closing handshake at shutdown,
//! and all of it over TLS. (The same in a real Chromium: `tests/browser.rs`.)

mod common;
#[path = "common/web.rs"]
mod web_common;

use chat_demo::server::{Config, WebLimits};
use common::Client;
use greenhub::net::TcpStream;
use std::io::{self, Read, Write};
use std::time::{Duration, Instant};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Message;
use web_common::{with_web_server, WebClient};

/// Sends `request` as it is and returns the whole response.
fn http(addr: std::net::SocketAddr, request: &[u8]) -> io::Result<String> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.write_all(request)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

#[test]
fn the_page_is_served_at_slash_and_nothing_else_is() -> io::Result<()> {
    with_web_server(Config::default(), None, |ports, _| {
        let page = http(ports.web, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")?;
        assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
        assert!(page.contains("Content-Type: text/html; charset=utf-8\r\n"));
        assert!(page.contains("Content-Security-Policy: default-src 'none'"));
        // The style and the script are in the page, not fetched from anywhere.
        assert!(page.contains("<title>greenhub chat</title>"));
        assert!(page.contains("new WebSocket(") && page.contains("#log {"));
        assert!(!page.contains("// page.js") && !page.contains("/* page.css */"));
        assert!(
            !page.contains("innerHTML"),
            "the page never parses text as HTML"
        );
        assert!(!page.contains("src=\"http"), "nothing from a CDN");

        let missing = http(ports.web, b"GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n")?;
        assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
        let posted = http(
            ports.web,
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
        )?;
        assert!(posted.starts_with("HTTP/1.1 405 "), "{posted}");
        let plain = http(ports.web, b"GET /ws HTTP/1.1\r\nHost: x\r\n\r\n")?;
        assert!(plain.starts_with("HTTP/1.1 426 "), "{plain}");
        let garbage = http(ports.web, b"\x16\x03\x01 hello\r\n\r\n")?;
        assert!(garbage.starts_with("HTTP/1.1 400 "), "{garbage}");
        Ok(())
    })
}

#[test]
fn request_heads_are_limited_in_size_count_and_time() -> io::Result<()> {
    let config = Config {
        web: WebLimits {
            request_timeout: Duration::from_millis(300),
            ..WebLimits::default()
        },
        ..Config::default()
    };
    with_web_server(config, None, |ports, _| {
        let mut many = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..40 {
            many.extend(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend(b"\r\n");
        let response = http(ports.web, &many)?;
        assert!(response.starts_with("HTTP/1.1 431 "), "{response}");
        assert!(response.contains("more than 32 headers"), "{response}");

        let mut long = b"GET / HTTP/1.1\r\nX-Long: ".to_vec();
        long.extend(vec![b'a'; 9000]);
        long.extend(b"\r\n\r\n");
        let response = http(ports.web, &long)?;
        assert!(response.starts_with("HTTP/1.1 431 "), "{response}");

        // Half a request, then nothing: answered 408 at the deadline, not held.
        let started = Instant::now();
        let response = http(ports.web, b"GET / HTTP/1.1\r\nHost:")?;
        assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
        assert!(started.elapsed() < Duration::from_secs(4));
        Ok(())
    })
}

#[test]
fn a_websocket_from_another_origin_is_refused() -> io::Result<()> {
    with_web_server(Config::default(), None, |ports, _| {
        let request = |origin: &str| {
            format!(
                "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Origin: {origin}\r\n\r\n",
                ports.web
            )
        };
        let evil = http(ports.web, request("http://evil.example").as_bytes())?;
        assert!(evil.starts_with("HTTP/1.1 403 "), "{evil}");
        // The handshake of RFC 6455's example key, from the page's own origin.
        let mut stream = TcpStream::connect(ports.web)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        stream.write_all(request(&format!("http://{}", ports.web)).as_bytes())?;
        let mut head = [0u8; 512];
        let n = stream.read(&mut head)?;
        let head = String::from_utf8_lossy(&head[..n]);
        assert!(
            head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"),
            "{head}"
        );
        assert!(head.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        Ok(())
    })
}

#[test]
fn browsers_and_line_clients_share_rooms_nicks_and_commands() -> io::Result<()> {
    with_web_server(Config::default(), None, |ports, _| {
        let mut ada = WebClient::connect(ports.web)?.named_with("ada")?;
        let mut bob = WebClient::connect(ports.web)?.named_with("bob")?;
        let mut nc = Client::named(ports.line, "carol")?;

        ada.send("hello from a browser")?;
        assert_eq!(nc.chat()?, "<ada> hello from a browser");
        assert_eq!(bob.chat()?, "<ada> hello from a browser");
        nc.send("hello from nc")?;
        assert_eq!(ada.chat()?, "<carol> hello from nc");
        assert_eq!(bob.chat()?, "<carol> hello from nc");

        // Commands work as typed, and their multi-line answers arrive whole.
        bob.send("/who")?;
        let who = bob.expect(|l| l.starts_with("*** in lobby"))?;
        assert_eq!(who, "*** in lobby: ada, bob, carol");
        ada.send("/msg carol just you <b>and</b> me")?;
        assert_eq!(
            nc.expect(|l| l.starts_with("[pm"))?,
            "[pm from ada] just you <b>and</b> me"
        );
        nc.send("/join kitchen")?;
        ada.send("/join kitchen")?;
        assert_eq!(ada.reply()?, "*** you are now in kitchen");
        nc.send("in the kitchen")?;
        assert_eq!(ada.chat()?, "<carol> in the kitchen");
        // Nicks are one namespace.
        bob.send("/nick carol")?;
        assert!(bob.reply()?.starts_with("!!!"));
        // Several lines in one message are several lines.
        ada.send("one\ntwo")?;
        assert_eq!(nc.chat()?, "<ada> one");
        assert_eq!(nc.chat()?, "<ada> two");
        Ok(())
    })
}

#[test]
fn an_overlong_line_is_discarded_and_an_oversized_message_closes_with_1009() -> io::Result<()> {
    let config = Config {
        max_line: 100,
        web: WebLimits {
            max_message: 1000,
            ..WebLimits::default()
        },
        ..Config::default()
    };
    with_web_server(config, None, |ports, _| {
        let mut ada = WebClient::connect(ports.web)?;
        ada.send(&"x".repeat(500))?;
        assert_eq!(ada.reply()?, "!!! line too long (max 100 bytes); discarded");
        ada.send("/nick still_here")?;
        assert_eq!(ada.reply()?, "*** you are now still_here");
        ada.send(&"x".repeat(5000))?;
        loop {
            match ada.message()? {
                Message::Close(Some(frame)) => {
                    assert_eq!(frame.code, CloseCode::Size);
                    break;
                }
                Message::Close(None) => panic!("a closing frame without a status"),
                _ => {}
            }
        }
        Ok(())
    })
}

#[test]
fn a_browser_that_answers_nothing_is_dropped_after_ping_and_pong_timeout() -> io::Result<()> {
    let config = Config {
        web: WebLimits {
            ping_interval: Duration::from_millis(200),
            pong_timeout: Duration::from_millis(300),
            ..WebLimits::default()
        },
        ..Config::default()
    };
    with_web_server(config, None, |ports, _| {
        // A client that answers pings stays, silent as it is.
        let mut alive = WebClient::connect(ports.web)?.named_with("alive")?;
        // One that never reads (so never answers) is dropped.
        let mut mute = WebClient::connect(ports.web)?.named_with("mute")?;
        let mut pings = 0;
        let started = Instant::now();
        while started.elapsed() < Duration::from_millis(1500) {
            if let Message::Ping(payload) = alive.message()? {
                pings += 1;
                assert_eq!(&payload[..], b"greenhub");
            }
        }
        assert!(pings >= 3, "pinged {pings} times in 1.5 s at 200 ms");
        let mut nc = Client::connect(ports.line)?;
        nc.send("/who")?;
        assert_eq!(
            nc.expect(|l| l.starts_with("*** in"))?,
            "*** in lobby: alive, guest-3"
        );
        // What the dropped one finds when it finally reads: pings, then the end of the stream.
        let ended = loop {
            match mute.message() {
                Ok(Message::Close(_)) => break true,
                Ok(_) => {}
                Err(e) => break e.kind() != io::ErrorKind::WouldBlock,
            }
        };
        assert!(ended);
        Ok(())
    })
}

#[test]
fn the_shutdown_notice_and_a_closing_frame_reach_browsers() -> io::Result<()> {
    with_web_server(Config::default(), None, |ports, shutdown| {
        let mut ada = WebClient::connect(ports.web)?;
        shutdown.set();
        assert_eq!(ada.line()?, "*** server shutting down; goodbye");
        match ada.message()? {
            Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("expected a closing frame, got {other:?}"),
        }
        Ok(())
    })
}

#[test]
fn frames_stay_whole_when_pongs_are_due_while_a_frame_is_half_sent() -> io::Result<()> {
    // Small buffers on both sides, so the writer parks halfway through its batches while
    // this client does not read; a pong written by any other green thread would then land
    // inside a frame. The grace is long: nobody here is too slow, just not reading yet.
    let config = Config {
        max_rate: 0,
        send_buffer: Some(4096),
        slow_grace: Duration::from_secs(10),
        ..Config::default().without_address_limits()
    };
    with_web_server(config, None, |ports, _| {
        let mut reader = WebClient::connect(ports.web)?.named_with("reader")?;
        socket2::SockRef::from(reader.socket.get_ref()).set_recv_buffer_size(4096)?;
        let mut flooder = Client::named(ports.line, "flooder")?;
        const LINES: usize = 1000;
        let filler = "z".repeat(200);
        let sent = filler.clone();
        let sender = greenhub::spawn(move || -> io::Result<()> {
            for i in 0..LINES {
                flooder.send(&format!("line {i} {sent}"))?;
            }
            Ok(())
        });
        let mut next = 0;
        let mut pongs = 0;
        while next < LINES {
            if next % 50 == 0 {
                // Pings while the server's writer is stuck mid-batch, then read on.
                greenhub::sleep(Duration::from_millis(20));
                for round in 0..5u8 {
                    reader
                        .socket
                        .send(Message::Ping(vec![round; 4].into()))
                        .ok();
                }
            }
            match reader.message()? {
                Message::Text(text) => {
                    for line in text.as_str().split('\n').filter(|l| l.starts_with('<')) {
                        assert_eq!(line, format!("<flooder> line {next} {filler}"));
                        next += 1;
                    }
                }
                Message::Pong(_) => pongs += 1,
                _ => {}
            }
        }
        sender.join().expect("no panic")?;
        assert!(pongs > 0, "the pings were answered");
        Ok(())
    })
}

/// A TLS client that trusts `made`'s certificate, connected to `addr` as "localhost".
fn tls_to(
    made: &chat_demo::certs::SelfSigned,
    addr: std::net::SocketAddr,
) -> io::Result<greenhub::tls::TlsStream> {
    let path = std::env::temp_dir().join(format!("chat-web-test-{}.pem", std::process::id()));
    std::fs::write(&path, &made.cert_pem)?;
    let connector = chat_demo::certs::connector_trusting(&path)?;
    let tcp = TcpStream::connect(addr)?;
    tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
    connector.connect("localhost", tcp)
}

#[test]
fn the_page_the_websocket_and_the_line_protocol_all_work_over_tls() -> io::Result<()> {
    let made = chat_demo::certs::self_signed(&["localhost", "127.0.0.1"])?;
    let acceptor = made.acceptor.clone();
    with_web_server(Config::default(), Some(acceptor), move |ports, _| {
        // The page, over https.
        let mut page = tls_to(&made, ports.web)?;
        page.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")?;
        page.flush()?;
        let mut response = Vec::new();
        page.read_to_end(&mut response)?;
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
        assert!(response.contains("location.protocol === \"https:\""));

        // A browser over wss and a line client over TLS, in one room.
        let wss = tls_to(&made, ports.web)?;
        let url = format!("wss://localhost:{}/ws", ports.web.port());
        let mut ada = WebClient::handshake(&url, wss)?.named_with("ada")?;
        let mut line = io::BufReader::new(tls_to(&made, ports.line)?);
        let mut next_line = move || -> io::Result<String> {
            let mut text = String::new();
            io::BufRead::read_line(&mut line, &mut text)?;
            Ok(text)
        };
        assert!(next_line()?.starts_with("*** welcome"));
        // The line client's writes go through its own handle on the same stream.
        ada.send("hello over wss")?;
        let heard = loop {
            let text = next_line()?;
            if text.starts_with('<') {
                break text;
            }
        };
        assert_eq!(heard, "<ada> hello over wss\n");

        // A plain client on the TLS port gets no chat: its bytes are not a handshake.
        let mut plain = TcpStream::connect(ports.line)?;
        plain.set_read_timeout(Some(Duration::from_secs(5)))?;
        plain.write_all(b"/nick mallory\n")?;
        let mut got = Vec::new();
        let _ = plain.read_to_end(&mut got);
        assert!(!String::from_utf8_lossy(&got).contains("welcome"));
        Ok(())
    })
}

#[test]
fn chat_client_speaks_tls_with_the_ca_it_is_given() -> io::Result<()> {
    use std::process::{Command, Stdio};
    let made = chat_demo::certs::self_signed(&["localhost", "127.0.0.1"])?;
    let ca = std::env::temp_dir().join(format!("chat-client-ca-{}.pem", std::process::id()));
    std::fs::write(&ca, &made.cert_pem)?;
    let acceptor = made.acceptor.clone();
    with_web_server(Config::default(), Some(acceptor), move |ports, _| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_chat-client"))
            .args(["--tls", "--ca"])
            .arg(&ca)
            .arg(ports.line.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()?;
        let mut input = child.stdin.take().expect("piped");
        input.write_all(b"/nick piper\n/who\n")?;
        // The child runs on its own: wait for it on the blocking pool, not on this hub.
        greenhub::sleep(Duration::from_millis(1500));
        drop(input); // Ctrl-D
        let output = greenhub::unblock(move || child.wait_with_output())?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("over TLS"), "stderr: {stderr}");
        assert!(stdout.contains("*** you are now piper"), "stdout: {stdout}");
        assert!(stdout.contains("*** in lobby: piper"), "stdout: {stdout}");
        assert!(output.status.success(), "{}: {stderr}", output.status);
        Ok(())
    })
}

#[test]
fn chat_load_with_websocket_clients_delivers_everything_once_and_in_order() -> io::Result<()> {
    let config = Config {
        max_rate: 0,
        ..Config::default().without_address_limits()
    };
    with_web_server(config, None, |ports, _| {
        let load = chat_demo::load::LoadConfig {
            server: ports.line.to_string(),
            web: ports.web.to_string(),
            clients: 12,
            web_clients: 12,
            rooms: 2,
            messages: 20,
            rate: 200.0,
            timeout: Duration::from_secs(20),
            burst: false,
        };
        let report = chat_demo::load::run(&load, |_| {})?;
        // 2 rooms of 6 line and 6 WebSocket clients: each message reaches the 11 others.
        assert_eq!(report.expected, 2 * 12 * 11 * 20);
        assert!(report.is_clean(), "{report:?}");
        assert_eq!(report.latencies_us.len() as u64, report.expected);
        Ok(())
    })
}

#[test]
fn chat_load_web_runs_against_a_server_of_its_own() -> io::Result<()> {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_chat-load"))
        .args(["--hubs", "2", "--clients", "10", "--web", "10"])
        .args(["--messages", "3", "--burst", "--timeout", "20"])
        .output()?;
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "chat-load failed:\n{text}");
    assert!(
        text.contains("10 clients and 10 WebSocket clients"),
        "{text}"
    );
    // 20 members in one room: 20 x 19 x 3 deliveries.
    let row = text.lines().find(|l| l.starts_with("| 2 | 1140 of 1140 |"));
    assert!(row.is_some_and(|l| l.ends_with("| true |")), "{text}");
    Ok(())
}

#[test]
fn a_browser_that_only_listens_to_a_busy_room_is_pinged_and_stays() -> io::Result<()> {
    // The room is never quiet for a whole ping interval; the listener sends nothing but the
    // pongs its WebSocket library answers pings with.
    let config = Config {
        max_rate: 0,
        web: WebLimits {
            ping_interval: Duration::from_millis(200),
            pong_timeout: Duration::from_millis(300),
            ..WebLimits::default()
        },
        ..Config::default().without_address_limits()
    };
    with_web_server(config, None, |ports, _| {
        let mut listener = WebClient::connect(ports.web)?.named_with("listener")?;
        let mut talker = Client::named(ports.line, "talker")?;
        const LINES: usize = 150; // 1.5 s at one line every 10 ms
        let talking = greenhub::spawn(move || -> io::Result<Client> {
            for i in 0..LINES {
                talker.send(&format!("line {i}"))?;
                greenhub::sleep(Duration::from_millis(10));
            }
            Ok(talker)
        });
        for i in 0..LINES {
            assert_eq!(listener.chat()?, format!("<talker> line {i}"));
        }
        let mut talker = talking.join().expect("no panic")?;
        talker.send("/who")?;
        let who = talker.expect(|l| l.starts_with("*** in"))?;
        assert_eq!(who, "*** in lobby: listener, talker");
        Ok(())
    })
}

#[test]
fn sigterm_to_the_binary_says_goodbye_to_browsers_with_a_closing_frame() -> io::Result<()> {
    use std::io::BufRead;
    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--web",
            "127.0.0.1:0",
            "--hubs",
            "1",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut out = io::BufReader::new(server.stdout.take().expect("piped"));
    let mut web = None;
    for _ in 0..3 {
        let mut line = String::new();
        out.read_line(&mut line)?;
        if let Some(url) = line.trim().strip_prefix("chat in a browser at http://") {
            web = Some(url.trim_end_matches('/').to_string());
        }
    }
    let web: std::net::SocketAddr = web
        .expect("the server prints its web address")
        .parse()
        .map_err(io::Error::other)?;
    let pid = server.id().to_string();
    // Should the test fail before the signal, the server must not outlive it.
    // (Disarmed once the server is waited for, when its pid may already belong to another.)
    struct Reaper(Option<u32>);
    impl Drop for Reaper {
        fn drop(&mut self) {
            if let Some(pid) = self.0 {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid.to_string()])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
    }
    let mut reaper = Reaper(Some(server.id()));
    let outcome = greenhub::run(move || -> io::Result<()> {
        let mut browser = WebClient::connect(web)?;
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()?;
        assert_eq!(browser.line()?, "*** server shutting down; goodbye");
        match browser.message()? {
            Message::Close(Some(frame)) => assert_eq!(frame.code, CloseCode::Away),
            other => panic!("expected a closing frame, got {other:?}"),
        }
        Ok(())
    });
    let status = server.wait()?;
    reaper.0 = None;
    outcome?;
    assert!(status.success(), "exit status {status}");
    Ok(())
}

#[test]
fn the_binary_serves_tls_with_the_certificate_and_key_files_it_is_given() -> io::Result<()> {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("chat-tls-files-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let made = rcgen::generate_simple_self_signed(vec!["localhost".to_string()])
        .map_err(io::Error::other)?;
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    std::fs::write(&cert, made.cert.pem())?;
    std::fs::write(&key, made.key_pair.serialize_pem())?;

    // A key file that holds no key is refused at start-up, with the file's name.
    let refused = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args(["--listen", "127.0.0.1:0", "--web", "off", "--tls-cert"])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&cert)
        .output()?;
    assert!(!refused.status.success());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(why.contains("cert.pem: no private key in it"), "{why}");

    let mut server = std::process::Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--web",
            "off",
            "--hubs",
            "1",
            "--tls-cert",
        ])
        .arg(&cert)
        .arg("--tls-key")
        .arg(&key)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    let mut out = io::BufReader::new(server.stdout.take().expect("piped"));
    let mut banner = String::new();
    out.read_line(&mut banner)?;
    let addr: std::net::SocketAddr = banner
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .parse()
        .map_err(io::Error::other)?;
    let ca = cert.clone();
    let welcome = greenhub::run(move || -> io::Result<String> {
        let connector = chat_demo::certs::connector_trusting(&ca)?;
        let tcp = TcpStream::connect(addr)?;
        tcp.set_read_timeout(Some(Duration::from_secs(5)))?;
        let tls = connector.connect("localhost", tcp)?;
        let mut welcome = String::new();
        io::BufReader::new(&tls).read_line(&mut welcome)?;
        Ok(welcome)
    });
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(welcome?.starts_with("*** welcome"));
    Ok(())
}
