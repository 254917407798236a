//! Cooperative stdin (from a pipe and from a regular file) and signal waiting. Each stdin case
//! runs this test binary again as a child process with its standard input redirected.

use std::io::{self, Write};
use std::process::{Command, Stdio};
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
