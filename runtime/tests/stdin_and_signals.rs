//! Cooperative stdin (from a pipe and from a regular file) and signal waiting. Each stdin case
//! runs this test binary again as a child process with its standard input redirected.

use std::cell::RefCell;
use std::io::{self, Write};
use std::process::{Command, Stdio};
use std::rc::Rc;
use std::time::Duration;

const CHILD: &str = "GREENHUB_STDIN_CHILD";

/// In the child: echo stdin's lines upper-cased while a ticker green thread proves the hub kept
/// running during the reads.
fn child_main() {
    let rt = greenhub::Runtime::builder().hubs(1).build().unwrap();
    rt.run(|| {
        let ticks = std::rc::Rc::new(std::cell::Cell::new(0u32));
        let counter = ticks.clone();
        let ticker = greenhub::spawn(move || loop {
            greenhub::sleep(Duration::from_millis(5));
            counter.set(counter.get() + 1);
        });
        for line in greenhub::io::stdin().lines() {
            println!("{}", line.unwrap().to_uppercase());
        }
        println!("ticks>0: {}", ticks.get() > 0);
        ticker.cancel();
    });
}

fn run_child(stdin: Stdio) -> io::Result<std::process::Child> {
    Command::new(std::env::current_exe()?)
        .args([
            "--exact",
            "stdin_lines_from_a_pipe",
            "--nocapture",
            "--quiet",
        ])
        .env(CHILD, "1")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()
}

fn echoed_lines(output: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(output)
        .lines()
        .filter(|l| l.starts_with("LINE") || l.starts_with("ticks"))
        .map(String::from)
        .collect()
}

#[test]
fn stdin_lines_from_a_pipe() -> io::Result<()> {
    if std::env::var(CHILD).is_ok() {
        child_main();
        return Ok(());
    }
    let mut child = run_child(Stdio::piped())?;
    let mut input = child.stdin.take().unwrap();
    input.write_all(b"line one\n")?;
    std::thread::sleep(Duration::from_millis(100)); // the child waits on an empty pipe meanwhile
    input.write_all(b"line two\r\nline three")?;
    drop(input);
    let output = child.wait_with_output()?;
    assert!(output.status.success());
    assert_eq!(
        echoed_lines(&output.stdout),
        ["LINE ONE", "LINE TWO", "LINE THREE", "ticks>0: true"]
    );
    Ok(())
}

#[test]
fn stdin_lines_from_a_regular_file() -> io::Result<()> {
    let path = std::env::temp_dir().join(format!("greenhub-stdin-{}.txt", std::process::id()));
    std::fs::write(&path, "line a\nline b\n")?;
    let child = run_child(Stdio::from(std::fs::File::open(&path)?))?;
    let output = child.wait_with_output()?;
    std::fs::remove_file(&path)?;
    assert!(output.status.success());
    assert_eq!(echoed_lines(&output.stdout)[..2], ["LINE A", "LINE B"]);
    Ok(())
}

const TURNS_CHILD: &str = "GREENHUB_STDIN_TURNS_CHILD";

/// How often the calling OS thread (here: the hub running the calling green thread) went to
/// sleep in the kernel; `None` where that is not measured.
fn voluntary_context_switches() -> Option<libc::c_long> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: an all-zero rusage is valid, and getrusage writes one into it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: as above; RUSAGE_THREAD asks about the calling thread only.
        if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut usage) } == 0 {
            return Some(usage.ru_nvcsw);
        }
    }
    None
}

/// In the child: three green threads read stdin while the first one holds it, waiting on an
/// empty pipe. One waiting for its turn is cut short by a `timeout`, one is cancelled, and one
/// waits for its turn; the parent writes two lines only once they all got that far.
fn turns_child_main() {
    fn read_line() -> io::Result<String> {
        let mut line = String::new();
        greenhub::io::stdin().read_line(&mut line).map(|_| line)
    }
    let rt = greenhub::Runtime::builder().hubs(1).build().unwrap();
    rt.run(|| {
        let first = greenhub::spawn(read_line); // takes stdin, parks on the empty pipe
        greenhub::sleep(Duration::from_millis(20));
        let cut_short = greenhub::timeout(Duration::from_millis(20), read_line);
        println!("cut short: {}", cut_short.is_err());
        let cancelled = greenhub::spawn(read_line);
        let second = greenhub::spawn(read_line);
        // Both wait for their turn now. That wait parks: the hub sleeps in its poller until the
        // main green thread's own timer (a few voluntary context switches), instead of waking
        // every millisecond to look again (hundreds in 300 ms).
        greenhub::sleep(Duration::from_millis(20));
        let before = voluntary_context_switches();
        greenhub::sleep(Duration::from_millis(300));
        let switches = voluntary_context_switches()
            .zip(before)
            .map(|(now, b)| now - b);
        println!("(the hub's voluntary context switches in 300 ms: {switches:?})");
        println!(
            "hub idle while they wait: {}",
            switches.is_none_or(|n| n < 50)
        );
        cancelled.cancel();
        println!(
            "cancelled: {}",
            cancelled.join().unwrap_err().is_cancelled()
        );
        println!("ready");
        println!("first: {:?}", first.join().unwrap().unwrap());
        println!("second: {:?}", second.join().unwrap().unwrap());
    });
}

/// Runs `test` again as a child with `env` set and its stdin a pipe; once the child prints
/// `ready`, writes `input` and closes the pipe. Returns what the child printed, line by line,
/// after checking it exited successfully. A child that hangs (a wait for stdin that a timeout
/// or cancel cannot end) is killed after 30 s, which fails the test.
fn talk_to_child(test: &str, env: &str, input: &[u8]) -> io::Result<Vec<String>> {
    use std::io::BufRead;
    let mut child = Command::new(std::env::current_exe()?)
        .args(["--exact", test, "--nocapture", "--quiet"])
        .env(env, "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let (finished, watched) = std::sync::mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if watched.recv_timeout(Duration::from_secs(30))
            == Err(std::sync::mpsc::RecvTimeoutError::Timeout)
        {
            // SAFETY: kill takes any pid and signal number; this is the child started above,
            // not yet reaped (the test waits for it before it tells this thread it finished).
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
    });
    let mut pipe = child.stdin.take().unwrap();
    let mut output = io::BufReader::new(child.stdout.take().unwrap());
    let mut seen = Vec::new();
    let mut line = String::new();
    while output.read_line(&mut line)? > 0 {
        let ready = line.trim_end() == "ready";
        seen.push(line.trim_end().to_string());
        line.clear();
        if ready {
            pipe.write_all(input)?;
            break;
        }
    }
    drop(pipe);
    while output.read_line(&mut line)? > 0 {
        seen.push(line.trim_end().to_string());
        line.clear();
    }
    let status = child.wait()?;
    let _ = finished.send(());
    watchdog.join().unwrap();
    assert!(status.success(), "child: {status}, said {seen:?}");
    Ok(seen)
}

/// Green threads take turns at stdin: while one reads (holding stdin across its wait for
/// input), another waits for its turn parked, not polling, and a wait for that turn ends like
/// any park when it times out or is cancelled, taking nothing: both lines reach the two
/// readers that stayed.
#[test]
fn green_threads_take_turns_reading_stdin() -> io::Result<()> {
    if std::env::var(TURNS_CHILD).is_ok() {
        turns_child_main();
        return Ok(());
    }
    let seen = talk_to_child(
        "green_threads_take_turns_reading_stdin",
        TURNS_CHILD,
        b"one\ntwo\n",
    )?;
    let said: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|l| {
            [
                "cut short",
                "hub idle",
                "cancelled",
                "ready",
                "first",
                "second",
            ]
            .iter()
            .any(|said| l.starts_with(said))
        })
        .collect();
    assert_eq!(
        said,
        [
            "cut short: true",
            "hub idle while they wait: true",
            "cancelled: true",
            "ready",
            "first: \"one\\n\"",
            "second: \"two\\n\""
        ],
        "child said {seen:?}"
    );
    Ok(())
}

const HANDED_CHILD: &str = "GREENHUB_STDIN_HANDED_CHILD";

/// In the child: `holder` reads stdin (holding it, parked on the empty pipe) while `waiter`
/// waits for its turn. Once input comes, the holder reads its line and cancels the waiter at
/// once: the lock is just handed to the waiter, which has not run yet.
fn handed_child_main() {
    let rt = greenhub::Runtime::builder().hubs(1).build().unwrap();
    rt.run(|| {
        let waiter: Rc<RefCell<Option<greenhub::JoinHandle<String>>>> = Rc::default();
        let to_cancel = waiter.clone();
        let holder = greenhub::spawn(move || {
            let mut line = String::new();
            greenhub::io::stdin().read_line(&mut line).unwrap();
            to_cancel.borrow().as_ref().unwrap().cancel();
            line
        });
        greenhub::sleep(Duration::from_millis(20));
        *waiter.borrow_mut() = Some(greenhub::spawn(|| {
            let mut line = String::new();
            greenhub::io::stdin().read_line(&mut line).unwrap();
            line
        }));
        greenhub::sleep(Duration::from_millis(20));
        println!("ready");
        println!("holder: {:?}", holder.join().unwrap());
        let cancelled = waiter.borrow_mut().take().unwrap().join();
        println!("waiter: {:?}", cancelled.map_err(|e| e.is_cancelled()));
        let mut rest = String::new();
        greenhub::io::stdin().read_line(&mut rest).unwrap();
        println!("next reader: {rest:?}");
    });
}

/// A reader cancelled while it waits for its turn at stdin leaves without reading, even when
/// the lock was handed to it before it got to run: the line stays for the next reader.
#[test]
fn a_reader_cancelled_as_it_is_handed_stdin_leaves_the_line_for_the_next() -> io::Result<()> {
    if std::env::var(HANDED_CHILD).is_ok() {
        handed_child_main();
        return Ok(());
    }
    let seen = talk_to_child(
        "a_reader_cancelled_as_it_is_handed_stdin_leaves_the_line_for_the_next",
        HANDED_CHILD,
        b"a\nb\n",
    )?;
    let said: Vec<&str> = seen
        .iter()
        .map(String::as_str)
        .filter(|l| {
            ["holder", "waiter", "next"]
                .iter()
                .any(|s| l.starts_with(s))
        })
        .collect();
    assert_eq!(
        said,
        [
            "holder: \"a\\n\"",
            "waiter: Err(true)",
            "next reader: \"b\\n\""
        ],
        "child said {seen:?}"
    );
    Ok(())
}

#[test]
fn a_green_thread_waits_for_a_signal_without_blocking_its_hub() -> io::Result<()> {
    use greenhub::signal::{Signals, SIGUSR2};
    let rt = greenhub::Runtime::builder().hubs(1).build()?;
    rt.run(|| -> io::Result<()> {
        let mut signals = Signals::new(&[SIGUSR2])?;
        let waiter = greenhub::spawn(move || signals.wait());
        let busy = greenhub::spawn(|| {
            greenhub::sleep(Duration::from_millis(20));
            "the hub kept running"
        });
        assert_eq!(busy.join().unwrap(), "the hub kept running");
        assert!(!waiter.is_finished());
        // Stand-in for an outside `kill -USR2`.
        std::thread::spawn(|| signal_hook::low_level::raise(SIGUSR2))
            .join()
            .unwrap()?;
        assert_eq!(waiter.join().unwrap()?, SIGUSR2);
        Ok(())
    })
}
