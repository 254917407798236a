//! The chat client binary, driven through pipes against a real server.

use chat_demo::server::{serve, Config};
use greenhub::sync::Event;
use std::io::{self, Read, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

fn client(addr: &str) -> io::Result<std::process::Child> {
    Command::new(env!("CARGO_BIN_EXE_chat-client"))
        .arg(addr)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
}

#[test]
fn waits_for_the_server_chats_and_exits_cleanly_on_end_of_input() -> io::Result<()> {
    // Pick a free port, start the client first, then the server on that port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = client(&addr)?;
    std::thread::sleep(Duration::from_millis(400));
    let listen_addr = addr.clone();
    let server = std::thread::spawn(move || {
        greenhub::run(move || -> io::Result<()> {
            let listener = greenhub::net::TcpListener::bind(listen_addr.as_str())?;
            let shutdown = Arc::new(Event::new());
            let stop = shutdown.clone();
            greenhub::spawn(move || {
                greenhub::sleep(Duration::from_secs(3));
                stop.set();
            });
            serve(listener, Config::default(), shutdown)
        })
    });
    let mut input = child.stdin.take().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    input.write_all(b"/nick piper\n/who\n")?;
    std::thread::sleep(Duration::from_millis(200));
    drop(input); // Ctrl-D
    let output = child.wait_with_output()?;
    let (stdout, stderr) = (
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr),
    );
    assert!(stderr.contains("waiting for server at"), "stderr: {stderr}");
    assert!(stdout.contains("*** welcome"), "stdout: {stdout}");
    assert!(stdout.contains("*** you are now piper"), "stdout: {stdout}");
    assert!(stdout.contains("*** in lobby: piper"), "stdout: {stdout}");
    assert!(
        output.status.success(),
        "status {}, stderr: {stderr}",
        output.status
    );
    server.join().unwrap()?;
    Ok(())
}

#[test]
fn says_clearly_when_the_server_goes_away() -> io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?.to_string();
    let mut child = client(&addr)?;
    let (mut conn, _) = listener.accept()?;
    conn.write_all(b"*** hello from a server about to vanish\n")?;
    std::thread::sleep(Duration::from_millis(200));
    drop(conn);
    drop(listener);
    // Read to the end while the child's stdin stays open: `Child::wait` would close it, and
    // end of input is the other way for the client to end.
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout)?;
    let mut stderr = String::new();
    child.stderr.take().unwrap().read_to_string(&mut stderr)?;
    let keep_open = child.stdin.take();
    let status = child.wait()?;
    drop(keep_open);
    assert!(stdout.contains("about to vanish"), "stdout: {stdout}");
    assert!(
        stderr.contains("the server closed the connection"),
        "stderr: {stderr}"
    );
    assert_eq!(status.code(), Some(1));
    Ok(())
}
