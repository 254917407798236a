//! `greenhub::process`: children whose pipes and exit park the caller, not the hub.

use greenhub::process::{Command, Stdio};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn output_collects_stdout_stderr_and_the_exit_code() {
    greenhub::run(|| {
        let out = Command::new("sh")
            .args(["-c", "echo out; echo err >&2; exit 7"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(7));
        assert_eq!(out.stdout, b"out\n");
        assert_eq!(out.stderr, b"err\n");
    });
}

#[test]
fn waiting_for_a_child_parks_only_the_waiter() {
    greenhub::run(|| {
        let ticks = greenhub::spawn(|| {
            let mut ticks = 0;
            for _ in 0..30 {
                greenhub::sleep(Duration::from_millis(2));
                ticks += 1;
            }
            ticks
        });
        let started = Instant::now();
        let status = Command::new("sleep").arg("0.1").status().unwrap();
        assert!(status.success());
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert_eq!(
            ticks.join().unwrap(),
            30,
            "the hub ran others while the child ran"
        );
    });
}

#[test]
fn a_big_transfer_through_cat_both_ways_at_once_does_not_deadlock() {
    greenhub::run(|| {
        let mut child = Command::new("cat")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let data: Vec<u8> = (0..8 << 20).map(|i| (i % 253) as u8).collect();
        let expected = data.clone();
        let mut stdin = child.stdin.take().unwrap();
        // Far more than a pipe holds: the feeder parks until the reader drains.
        let feeder = greenhub::spawn(move || stdin.write_all(&data).unwrap());
        let mut echoed = Vec::new();
        child
            .stdout
            .take()
            .unwrap()
            .read_to_end(&mut echoed)
            .unwrap();
        feeder.join().unwrap();
        assert!(echoed == expected, "every byte, in order");
        assert!(child.wait().unwrap().success());
    });
}

#[test]
fn a_wait_cut_short_by_a_timeout_leaves_the_child_to_kill_and_reap() {
    greenhub::run(|| {
        let mut child = Command::new("sleep").arg("10").spawn().unwrap();
        let waited = greenhub::timeout(Duration::from_millis(30), || child.wait());
        assert!(waited.is_err(), "the scope expired first");
        assert!(child.try_wait().unwrap().is_none(), "still running");
        child.kill().unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
    });
}

fn is_alive(pid: u32) -> bool {
    // SAFETY: kill with signal 0 only checks that the process exists.
    unsafe { libc::kill(pid as libc::pid_t, 0) == 0 }
}

#[test]
fn kill_on_drop_kills_and_reaps_a_running_child() {
    greenhub::run(|| {
        let child = Command::new("sleep")
            .arg("10")
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id();
        assert!(is_alive(pid));
        drop(child);
        let give_up = Instant::now() + Duration::from_secs(10);
        // Gone entirely once reaped (a zombie would still answer signal 0).
        while is_alive(pid) {
            assert!(
                Instant::now() < give_up,
                "the child was neither killed nor reaped"
            );
            greenhub::sleep(Duration::from_millis(5));
        }
    });
}

#[test]
fn a_missing_program_is_a_clear_error() {
    greenhub::run(|| {
        let err = Command::new("/nonexistent/greenhub-test-program")
            .spawn()
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    });
}
