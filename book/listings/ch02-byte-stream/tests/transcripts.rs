//! Runs the chapter's programs on 127.0.0.1:0 and checks the output the chapter shows.

use book_transcript::{check, Output};
use std::net::{TcpListener, TcpStream};

fn pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    Ok((client, listener.accept()?.0))
}

#[test]
fn three_sends_two_lines_and_reads_that_match_neither() -> std::io::Result<()> {
    let (client, server) = pair()?;
    let sender = std::thread::spawn(move || ch02_byte_stream::send_in_pieces(client));
    let mut log = Output::default();
    ch02_byte_stream::show_raw_reads(server, &mut log)?;
    sender.join().unwrap()?;
    check(
        env!("CARGO_MANIFEST_DIR"),
        "output/raw_reads.txt",
        &log.text(),
    );

    let (client, server) = pair()?;
    let sender = std::thread::spawn(move || ch02_byte_stream::send_in_pieces(client));
    let mut log = Output::default();
    ch02_byte_stream::show_lines(server, &mut log)?;
    sender.join().unwrap()?;
    check(env!("CARGO_MANIFEST_DIR"), "output/lines.txt", &log.text());
    Ok(())
}

#[test]
fn write_takes_what_fits() -> std::io::Result<()> {
    let (client, _server) = pair()?; // the server never reads
    let mut log = Output::default();
    ch02_byte_stream::show_partial_write(&client, &mut log)?;
    check(
        env!("CARGO_MANIFEST_DIR"),
        "output/partial_write.txt",
        &log.text(),
    );
    Ok(())
}
