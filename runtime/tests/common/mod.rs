//! Helpers shared by the integration tests: a scenario run in a child process (for what must
//! abort, could hang, or must own the whole process), a wait with a deadline, and a look at
//! which descriptors the process's epoll instances watch.

#![allow(dead_code)] // each test binary uses its own subset

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const CHILD: &str = "GREENHUB_TEST_CHILD";

/// Whether this process is the child that [`run_child`] started for `test`.
pub fn is_child(test: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(test)
}

/// What a child process did.
pub struct ChildOutcome {
    /// `None` when it was still running at the deadline (and was killed).
    pub status: Option<ExitStatus>,
    pub stdout: String,
    pub stderr: String,
}

impl ChildOutcome {
    /// The signal that ended the child, if one did.
    pub fn signal(&self) -> Option<i32> {
        use std::os::unix::process::ExitStatusExt;
        self.status.and_then(|s| s.signal())
    }
}

/// Re-runs this test binary with only `test` selected, marked as its child so that the test's
/// body runs the scenario instead; kills it if it runs longer than `deadline`. `configure` may
/// set the child's environment or standard streams (stdout and stderr are captured unless it
/// changes them).
pub fn run_child(
    test: &str,
    deadline: Duration,
    configure: impl FnOnce(&mut Command),
) -> ChildOutcome {
    let mut command = Command::new(std::env::current_exe().expect("the test binary's path"));
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    configure(&mut command);
    let mut child = command.spawn().expect("the test binary can re-run itself");
    let collect = |stream: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut stream) = stream {
                let _ = stream.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = collect(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let stderr = collect(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for the child") {
            break Some(status);
        }
        if started.elapsed() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    ChildOutcome {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// Runs `scenario` in a child process of its own (see [`run_child`], whose `configure` this
/// takes too) and fails the test unless the child gets through it and exits successfully.
pub fn scenario_in_child(
    test: &str,
    configure: impl FnOnce(&mut Command),
    scenario: impl FnOnce(),
) {
    if is_child(test) {
        scenario();
        println!("child finished");
        return;
    }
    let outcome = run_child(test, Duration::from_secs(30), configure);
    assert!(
        outcome.status.is_some_and(|s| s.success()) && outcome.stdout.contains("child finished"),
        "status {:?}\nstdout: {}\nstderr: {}",
        outcome.status,
        outcome.stdout,
        outcome.stderr
    );
}

/// Runs `f` on a plain thread; its result, or `None` if it is not done within `deadline` (the
/// thread is then left behind, so that a hang fails the test instead of hanging it).
pub fn within<T: Send + 'static>(
    deadline: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(deadline).ok()
}

/// The inode of an open descriptor of this process (sockets have one too).
#[cfg(target_os = "linux")]
pub fn inode_of(fd: std::os::fd::RawFd) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{fd}"))
        .expect("the descriptor is open")
        .ino()
}

/// How many registrations in this process's epoll instances watch the file with `inode`
/// (read from /proc/self/fdinfo, where each watched descriptor is a `tfd:` line).
#[cfg(target_os = "linux")]
pub fn epoll_registrations_of(inode: u64) -> usize {
    let mut count = 0;
    for entry in std::fs::read_dir("/proc/self/fd").expect("procfs") {
        let Ok(entry) = entry else { continue };
        let is_epoll = std::fs::read_link(entry.path())
            .is_ok_and(|target| target.to_string_lossy() == "anon_inode:[eventpoll]");
        if !is_epoll {
            continue;
        }
        let info = format!("/proc/self/fdinfo/{}", entry.file_name().to_string_lossy());
        let Ok(text) = std::fs::read_to_string(info) else {
            continue;
        };
        count += text
            .lines()
            .filter(|line| line.starts_with("tfd:"))
            .filter_map(|line| line.split_whitespace().find_map(|w| w.strip_prefix("ino:")))
            .filter(|hex| u64::from_str_radix(hex, 16) == Ok(inode))
            .count();
    }
    count
}
