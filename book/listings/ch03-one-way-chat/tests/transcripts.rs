//! Drives the chapter's server with the client on 127.0.0.1:0 and checks what the server prints.

use book_transcript::{check, Output};

#[test]
fn the_server_prints_what_the_client_types() -> std::io::Result<()> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let screen = Output::default();
    let mut server_screen = screen.clone();
    let server =
        std::thread::spawn(move || ch03_one_way_chat::serve_one(&listener, &mut server_screen));
    let keyboard: &[u8] = b"hi there\nis anyone listening?\n";
    ch03_one_way_chat::type_lines(addr, keyboard)?;
    server.join().unwrap()?;
    check(
        env!("CARGO_MANIFEST_DIR"),
        "output/server.txt",
        &screen.text(),
    );
    Ok(())
}
