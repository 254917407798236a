//! Each program of the chapter, run as the reader would run it; its output compared with the
//! transcript the chapter shows.

mod run_program;
use run_program::{check_shape, run};

const DIR: &str = env!("CARGO_MANIFEST_DIR");

#[test]
fn udp_keeps_datagram_boundaries_and_loses_what_it_loses() {
    let (status, out) = run(env!("CARGO_BIN_EXE_udp"), &[], &[]);
    assert!(status.success(), "{out}");
    assert!(out.contains("attempt 2: answer \"ping\""), "{out}");
    assert!(out.contains("ConnectionRefused"), "{out}");
    check_shape(DIR, "output/udp.txt", &out);
}

#[test]
fn nagle_delays_the_second_small_write() {
    let (status, out) = run(env!("CARGO_BIN_EXE_nagle"), &[], &[]);
    assert!(status.success(), "{out}");
    // Not a speed claim: the kernel holds the body until the header's ACK, and Linux delays
    // that ACK by at least 40 ms (TCP_DELACK_MIN), so 20 such requests take far over 100 ms.
    let first: f64 = out
        .lines()
        .next()
        .and_then(|l| l.split(": ").nth(1))
        .and_then(|t| t.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no time on the first line: {out}"));
    assert!(first >= 100.0, "Nagle's delay did not show: {out}");
    check_shape(DIR, "output/nagle.txt", &out);
}

#[test]
fn a_read_timeout_does_not_bound_a_whole_line() {
    let (status, out) = run(env!("CARGO_BIN_EXE_timeouts"), &[], &[]);
    assert!(status.success(), "{out}");
    assert!(out.contains("read_line returned 26 bytes"), "{out}");
    assert!(out.contains("deadline has elapsed"), "{out}");
    check_shape(DIR, "output/timeouts.txt", &out);
}
