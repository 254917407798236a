//! Each program of the chapter, run as the reader would run it; its output compared with the
//! transcript the chapter shows (numbers aside: timings, ports, line numbers).

#[path = "../../ch08c-more-network/tests/run_program.rs"]
mod run_program;
use run_program::{check_shape, run, run_with_input};
use std::io::{BufRead, BufReader, Write};
use std::time::Duration;

const DIR: &str = env!("CARGO_MANIFEST_DIR");
const DETECTOR: (&str, &str) = ("GREENHUB_BLOCKING_DETECTOR_MS", "100");

/// The number after `marker` on the line that holds it.
fn number_after(text: &str, line_holding: &str, marker: &str) -> u64 {
    text.lines()
        .find(|l| l.contains(line_holding))
        .and_then(|l| l.split(marker).nth(1))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {marker:?} in {line_holding:?}: {text}"))
}

#[test]
fn basics_spawn_join_cancel_timeout_channels_select() {
    let (status, out) = run(env!("CARGO_BIN_EXE_basics"), &[], &[]);
    assert!(status.success(), "{out}");
    assert!(
        out.contains("join after cancel: Err(JoinError::Cancelled)"),
        "{out}"
    );
    check_shape(DIR, "output/basics.txt", &out);
}

#[test]
fn std_stdin_blocks_the_hub_and_the_detector_says_so() {
    let input = ["one\n", "two\n"];
    let pause = Duration::from_millis(300);
    let (status, out) = run_with_input(
        env!("CARGO_BIN_EXE_stdin"),
        &["std"],
        &input,
        pause,
        &[DETECTOR],
    );
    assert!(status.success(), "{out}");
    assert_eq!(number_after(&out, "\"two\"", "ticked "), 0, "{out}");
    assert!(
        out.contains("blocking detector: green thread 'main'"),
        "{out}"
    );
    check_shape(DIR, "output/stdin_std.txt", &out);

    let (status, out) = run_with_input(
        env!("CARGO_BIN_EXE_stdin"),
        &["greenhub"],
        &input,
        pause,
        &[DETECTOR],
    );
    assert!(status.success(), "{out}");
    assert!(number_after(&out, "\"two\"", "ticked ") > 0, "{out}");
    assert!(!out.contains("blocking detector"), "{out}");
    check_shape(DIR, "output/stdin_greenhub.txt", &out);
}

#[test]
fn unblock_keeps_the_hub_free() {
    let program = env!("CARGO_BIN_EXE_slow_call");
    let (status, out) = run(program, &["direct"], &[DETECTOR]);
    assert!(status.success(), "{out}");
    assert_eq!(number_after(&out, "direct:", "ticked "), 0, "{out}");
    assert!(out.contains("blocking detector"), "{out}");
    check_shape(DIR, "output/slow_call_direct.txt", &out);

    let (status, out) = run(program, &["unblock"], &[DETECTOR]);
    assert!(status.success(), "{out}");
    assert!(number_after(&out, "unblock:", "ticked ") > 0, "{out}");
    assert!(!out.contains("blocking detector"), "{out}");
    check_shape(DIR, "output/slow_call_unblock.txt", &out);
}

#[test]
fn a_refcell_borrow_held_across_a_park_panics_the_next_borrower() {
    let program = env!("CARGO_BIN_EXE_refcell");
    let (status, out) = run(program, &["held"], &[]);
    assert!(status.success(), "{out}");
    assert!(
        out.contains("ben: green thread panicked: RefCell already borrowed"),
        "{out}"
    );
    check_shape(DIR, "output/refcell_held.txt", &out);

    let (status, out) = run(program, &["scoped"], &[]);
    assert!(status.success(), "{out}");
    assert!(out.contains("ben: done"), "{out}");
    check_shape(DIR, "output/refcell_scoped.txt", &out);
}

#[test]
fn shout_serves_until_a_signal() -> std::io::Result<()> {
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("exec \"$0\" \"$@\" 2>&1")
        .arg(env!("CARGO_BIN_EXE_shout"))
        .arg("127.0.0.1:0")
        .env("RUST_BACKTRACE", "0")
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let pid = child.id().to_string();
    // Bounded in time: a hung server is killed, and the reads below then end.
    let watchdog_pid = pid.clone();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let finished = done.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(30));
        if !finished.load(std::sync::atomic::Ordering::SeqCst) {
            let _ = std::process::Command::new("kill")
                .args(["-KILL", &watchdog_pid])
                .status();
        }
    });
    let mut server_out = BufReader::new(child.stdout.take().expect("piped"));
    let mut printed = String::new();
    server_out.read_line(&mut printed)?;
    let addr = printed
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("no address: {printed}"))
        .to_string();

    let mut clients = String::new();
    let mut talk = |who: &str, stream: &std::net::TcpStream, line: &str| -> std::io::Result<()> {
        (&*stream).write_all(format!("{line}\n").as_bytes())?;
        let mut reply = String::new();
        BufReader::new(stream).read_line(&mut reply)?;
        clients.push_str(&format!(
            "{who} sends {line:?}, reads back {:?}\n",
            reply.trim_end()
        ));
        Ok(())
    };
    let ann = std::net::TcpStream::connect(&addr)?;
    let ben = std::net::TcpStream::connect(&addr)?;
    talk("ann", &ann, "hello, world")?;
    talk("ben", &ben, "quiet please")?;
    drop(ann);
    server_out.read_line(&mut printed)?; // "... left"
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()?;
    std::io::Read::read_to_string(&mut server_out, &mut printed)?;
    let status = child.wait()?;
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(status.success(), "{printed}");
    assert!(printed.contains("connections cut off"), "{printed}");
    check_shape(DIR, "output/shout_server.txt", &printed);
    check_shape(DIR, "output/shout_clients.txt", &clients);
    drop(ben);
    Ok(())
}
