//! `greenhub::io::Async`: any descriptor parks the green thread that waits on it, never its hub.

use greenhub::io::Async;
use std::fs::File;
use std::io::{ErrorKind, Read, Write};
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

/// A pipe: (read end, write end).
fn pipe() -> (File, File) {
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two descriptors for pipe(2) to fill.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: pipe(2) just returned these two new descriptors, owned by nobody else.
    unsafe {
        use std::os::fd::FromRawFd;
        (
            File::from(OwnedFd::from_raw_fd(fds[0])),
            File::from(OwnedFd::from_raw_fd(fds[1])),
        )
    }
}

#[test]
fn a_pipe_read_parks_only_its_green_thread() {
    greenhub::run(|| {
        let (read_end, write_end) = pipe();
        let (reader, writer) = (
            Async::new(read_end).unwrap(),
            Async::new(write_end).unwrap(),
        );
        let ticks = greenhub::spawn(|| {
            let mut ticks = 0;
            for _ in 0..20 {
                greenhub::sleep(Duration::from_millis(1));
                ticks += 1;
            }
            ticks
        });
        let reading = greenhub::spawn(move || {
            let mut got = Vec::new();
            (&reader).read_to_end(&mut got).unwrap();
            got
        });
        greenhub::sleep(Duration::from_millis(30)); // the reader is parked meanwhile
        (&writer).write_all(b"through the pipe").unwrap();
        drop(writer);
        assert_eq!(
            ticks.join().unwrap(),
            20,
            "the hub kept running other green threads"
        );
        assert_eq!(reading.join().unwrap(), b"through the pipe");
    });
}

#[test]
fn a_full_pipe_parks_the_writer_until_the_reader_drains_it() {
    greenhub::run(|| {
        let (read_end, write_end) = pipe();
        let (reader, writer) = (
            Async::new(read_end).unwrap(),
            Async::new(write_end).unwrap(),
        );
        let data: Vec<u8> = (0..4 << 20).map(|i| (i % 251) as u8).collect();
        let expected = data.clone();
        let writing = greenhub::spawn(move || (&writer).write_all(&data).unwrap());
        let mut got = Vec::new();
        (&reader).read_to_end(&mut got).unwrap();
        writing.join().unwrap();
        assert!(got == expected, "every byte, in order");
    });
}

#[test]
fn readable_waits_for_data_and_honours_the_read_timeout_and_timeout_scopes() {
    greenhub::run(|| {
        let (read_end, write_end) = pipe();
        let reader = Async::new(read_end).unwrap();
        // A fresh descriptor is not taken for readable: poll(2) is asked.
        reader
            .set_read_timeout(Some(Duration::from_millis(20)))
            .unwrap();
        let started = Instant::now();
        assert_eq!(reader.readable().unwrap_err().kind(), ErrorKind::TimedOut);
        assert!(started.elapsed() >= Duration::from_millis(20));
        reader.set_read_timeout(None).unwrap();
        let scoped = greenhub::timeout(Duration::from_millis(20), || reader.readable());
        assert!(scoped.is_err(), "the scope expired while readable() waited");
        let writer = Async::new(write_end).unwrap();
        let late = greenhub::spawn(move || {
            greenhub::sleep(Duration::from_millis(10));
            (&writer).write_all(b"x").unwrap();
            writer
        });
        reader.readable().unwrap();
        let mut byte = [0u8; 1];
        assert_eq!(reader.read_with(|mut r| r.read(&mut byte)).unwrap(), 1);
        drop(late.join().unwrap());
    });
}

#[test]
fn a_plain_thread_blocks_in_poll_on_the_same_type() {
    let (read_end, write_end) = pipe();
    let reader = Async::new(read_end).unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(10));
        (&write_end).write_all(b"plain").unwrap();
    });
    let mut got = [0u8; 5];
    (&reader).read_exact(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(&got, b"plain");
}

#[test]
fn a_cancelled_reader_leaves_the_descriptor_usable() {
    greenhub::run(|| {
        let (read_end, write_end) = pipe();
        let reader = std::sync::Arc::new(Async::new(read_end).unwrap());
        let parked = {
            let reader = reader.clone();
            greenhub::spawn(move || {
                let mut buf = [0u8; 4];
                (&*reader).read(&mut buf)
            })
        };
        greenhub::sleep(Duration::from_millis(5));
        parked.cancel();
        assert!(parked.join().is_err(), "cancelled while parked");
        (&write_end).write_all(b"next").unwrap();
        let mut buf = [0u8; 4];
        (&*reader).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"next");
    });
}
