//! What reaches stderr when things go wrong: a stack overflow names the green thread and aborts;
//! a panic nobody joins is printed with the green thread's name. Each case runs in a child
//! process (this test binary re-run with one test selected and a marker variable set).

use std::process::{Command, Output};

const CHILD: &str = "GREENHUB_CRASH_CHILD";

fn run_child(test: &str) -> Output {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, test)
        .output()
        .expect("the test binary can re-run itself")
}

fn is_child(test: &str) -> bool {
    std::env::var(CHILD).as_deref() == Ok(test)
}

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    let frame = std::hint::black_box([depth; 64]);
    if depth == u64::MAX {
        return frame[0];
    }
    recurse(depth + 1) + frame[1]
}

#[test]
fn stack_overflow_names_the_green_thread_and_aborts() {
    if is_child("stack_overflow_names_the_green_thread_and_aborts") {
        greenhub::run(|| {
            let handle = greenhub::Builder::new()
                .name("bottomless".into())
                .stack_size(64 * 1024)
                .spawn(|| recurse(0))
                .unwrap();
            let _ = handle.join();
        });
        unreachable!("the overflow must abort the process");
    }
    let output = run_child("stack_overflow_names_the_green_thread_and_aborts");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            output.status.signal(),
            Some(libc_sigabrt()),
            "stderr: {stderr}"
        );
    }
    assert!(
        stderr.contains("green thread 'bottomless'"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("overflowed its stack"), "stderr: {stderr}");
}

fn libc_sigabrt() -> i32 {
    6
}

#[test]
fn an_unjoined_panic_is_printed_with_the_green_thread_name() {
    if is_child("an_unjoined_panic_is_printed_with_the_green_thread_name") {
        greenhub::run(|| {
            drop(
                greenhub::Builder::new()
                    .name("lonely".into())
                    .spawn(|| panic!("nobody saw me")),
            );
            greenhub::sleep(std::time::Duration::from_millis(10));
            let joined = greenhub::Builder::new()
                .name("watched".into())
                .spawn(|| panic!("seen"));
            let _ = joined.unwrap().join();
        });
        return;
    }
    let output = run_child("an_unjoined_panic_is_printed_with_the_green_thread_name");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    assert!(
        stderr.contains("green thread 'lonely'")
            && stderr.contains("nobody joined it: nobody saw me"),
        "stderr: {stderr}"
    );
    assert!(
        !stderr.contains("green thread 'watched'"),
        "a joined panic is the joiner's: {stderr}"
    );
}

#[test]
fn the_blocking_detector_names_a_green_thread_that_never_parks() {
    if is_child("the_blocking_detector_names_a_green_thread_that_never_parks") {
        // Turned on through the environment (see below), as a user would.
        greenhub::run(|| {
            let hog = greenhub::Builder::new()
                .name("hog".into())
                .spawn(|| std::thread::sleep(std::time::Duration::from_millis(300)))
                .unwrap();
            hog.join().unwrap();
        });
        return;
    }
    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "the_blocking_detector_names_a_green_thread_that_never_parks",
            "--nocapture",
        ])
        .env(
            CHILD,
            "the_blocking_detector_names_a_green_thread_that_never_parks",
        )
        .env("GREENHUB_BLOCKING_DETECTOR_MS", "50")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "stderr: {stderr}");
    assert!(
        stderr.contains("blocking detector: green thread 'hog'"),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("on hub 0"), "stderr: {stderr}");
    assert_eq!(
        stderr.matches("green thread 'hog'").count(),
        1,
        "one stall, one report: {stderr}"
    );
}
