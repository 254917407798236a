//! Runs each way of talking both ways on 127.0.0.1:0 and checks the output the chapter shows.

use book_transcript::{check, Output};
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

fn pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let client = TcpStream::connect(listener.local_addr()?)?;
    Ok((client, listener.accept()?.0))
}

#[test]
fn two_threads_talk_and_listen_at_once() -> std::io::Result<()> {
    let (mine, mut theirs) = pair()?;
    let friend = std::thread::spawn(move || -> std::io::Result<()> {
        writeln!(theirs, "hello from the other side")?;
        let mut heard = String::new();
        std::io::Read::read_to_string(&mut theirs, &mut heard)?;
        writeln!(theirs, "you said: {}", heard.trim())?;
        Ok(())
    });
    let screen = Output::default();
    let keyboard: &[u8] = b"hi!\n";
    ch05_both_ways::chat_with_threads(mine, keyboard, screen.clone())?;
    friend.join().unwrap()?;
    check(DIR, "output/threads.txt", &screen.text());
    Ok(())
}

#[test]
fn a_busy_loop_costs_a_core() -> std::io::Result<()> {
    let (mine, _theirs) = pair()?;
    let mut log = Output::default();
    ch05_both_ways::busy_loop(mine, &mut log)?;
    check(DIR, "output/busy.txt", &log.text());
    Ok(())
}

#[test]
fn napping_adds_latency() -> std::io::Result<()> {
    let mut total = Duration::ZERO;
    const LINES: u32 = 10;
    for i in 0..LINES {
        let (mine, mut theirs) = pair()?;
        let sent_at = Instant::now() + Duration::from_millis(3 + 2 * i as u64);
        let sender = std::thread::spawn(move || {
            std::thread::sleep(sent_at - Instant::now());
            theirs.write_all(b"ping\n")
        });
        total += ch05_both_ways::napping_loop(mine, sent_at)?;
        sender.join().unwrap()?;
    }
    let average = total / LINES;
    assert!(average >= Duration::from_millis(2), "{average:?}");
    check(
        DIR,
        "output/napping.txt",
        &format!(
            "average wait with 20 ms naps is several milliseconds: {}\n",
            average >= Duration::from_millis(2)
        ),
    );
    Ok(())
}

#[test]
fn poll_waits_on_both_sources_in_one_thread() -> std::io::Result<()> {
    let (mine, mut theirs) = pair()?;
    let (keyboard, mut typist) = std::os::unix::net::UnixStream::pair()?;
    let others = std::thread::spawn(move || -> std::io::Result<()> {
        writeln!(typist, "typed first")?;
        std::thread::sleep(Duration::from_millis(50));
        writeln!(theirs, "then a message arrives")?;
        std::thread::sleep(Duration::from_millis(50));
        drop(typist);
        std::thread::sleep(Duration::from_millis(50));
        drop(theirs);
        Ok(())
    });
    let mut log = Output::default();
    ch05_both_ways::poll_both(mine, keyboard, &mut log)?;
    others.join().unwrap()?;
    check(DIR, "output/poll.txt", &log.text());
    Ok(())
}

fn timed_out(result: &std::io::Result<()>) -> bool {
    matches!(result, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut))
}

#[test]
fn two_clients_that_take_turns_both_wait_for_the_other() -> std::io::Result<()> {
    let (ann, ben) = pair()?;
    for side in [&ann, &ben] {
        side.set_read_timeout(Some(Duration::from_secs(1)))?; // the real client would wait forever
    }
    // Each side keeps its socket open until both have given up, as two patient users would.
    let ben_copy = ben.try_clone()?;
    let ben_side = std::thread::spawn(move || {
        let keyboard: &[u8] = b"hi ann\n";
        let result = ch05_both_ways::talk_in_turns(ben_copy, keyboard, &mut std::io::sink());
        timed_out(&result)
    });
    let keyboard: &[u8] = b"hi ben\n";
    let ann_copy = ann.try_clone()?;
    let result = ch05_both_ways::talk_in_turns(ann_copy, keyboard, &mut std::io::sink());
    let ann_stuck = timed_out(&result);
    let ben_stuck = ben_side.join().unwrap();
    drop((ann, ben));
    check(
        DIR,
        "output/turns.txt",
        &format!(
            "ann typed \"hi ben\" and is still waiting to hear first after 1 s: {ann_stuck}\n\
             ben typed \"hi ann\" and is still waiting to hear first after 1 s: {ben_stuck}\n"
        ),
    );
    Ok(())
}

#[test]
fn a_half_close_tells_the_server_the_request_is_complete() -> std::io::Result<()> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        for _ in 0..2 {
            let (stream, _) = listener.accept()?;
            stream.set_read_timeout(Some(Duration::from_secs(10)))?;
            let _ = ch05_both_ways::count_until_the_end(stream);
        }
        Ok(())
    });
    let request = "first line\nsecond line\nthird\n";
    let mut log = Output::default();

    let without = TcpStream::connect(addr)?;
    without.set_read_timeout(Some(Duration::from_secs(1)))?;
    let answer = ch05_both_ways::ask(&without, request, false);
    let stuck = matches!(&answer, Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut));
    writeln!(log, "without shutdown: still no answer after 1 s: {stuck}")?;
    drop(without); // the server's read ends now, too late for us

    let with = TcpStream::connect(addr)?;
    with.set_read_timeout(Some(Duration::from_secs(10)))?;
    let answer = ch05_both_ways::ask(&with, request, true)?;
    write!(log, "with shutdown(Write): the server answered: {answer}")?;
    server.join().unwrap()?;
    check(DIR, "output/half_close.txt", &log.text());
    Ok(())
}
