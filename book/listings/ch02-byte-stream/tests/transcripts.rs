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

#[test]
fn frames_carry_any_bytes_and_an_oversized_length_is_refused() -> std::io::Result<()> {
    use std::io::Write;
    let (mut client, server) = pair()?;
    let sender = std::thread::spawn(move || -> std::io::Result<()> {
        ch02_byte_stream::write_frame(&mut client, b"two lines\nin one message")?;
        ch02_byte_stream::write_frame(&mut client, b"")?;
        // A frame sent one byte at a time still arrives whole.
        let mut frame = Vec::new();
        ch02_byte_stream::write_frame(&mut frame, b"tab\there, zero\0there")?;
        for byte in frame {
            client.write_all(&[byte])?;
        }
        Ok(())
    });
    let mut log = Output::default();
    ch02_byte_stream::show_frames(server, &mut log)?;
    sender.join().unwrap()?;

    // A peer that claims a 4 GB frame gets an error, not a 4 GB buffer.
    let (mut client, server) = pair()?;
    client.write_all(&u32::MAX.to_be_bytes())?;
    ch02_byte_stream::show_frames(server, &mut log)?;
    check(env!("CARGO_MANIFEST_DIR"), "output/frames.txt", &log.text());
    Ok(())
}
