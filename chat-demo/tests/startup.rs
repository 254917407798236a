//! Issue 15, "in the runtime": at start-up `chat-server` raises its soft descriptor limit to the
//! hard one, and warns when `--max-clients` is more than its descriptors or the kernel's memory
//! maps (two per green thread's stack) can serve.

use std::io::{self, BufRead, BufReader};
use std::process::{Command, Stdio};

fn nofile_limits(pid: u32) -> io::Result<(String, String)> {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits"))?;
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .ok_or_else(|| io::Error::other("no open-files line"))?;
    let mut fields = line.split_whitespace().skip(3);
    let soft = fields.next().unwrap_or_default().to_string();
    let hard = fields.next().unwrap_or_default().to_string();
    Ok((soft, hard))
}

#[test]
fn the_server_raises_its_descriptor_limit_and_warns_about_an_impossible_max_clients(
) -> io::Result<()> {
    if !std::path::Path::new("/proc/self/limits").exists() {
        eprintln!("skipped: no /proc here");
        return Ok(());
    }
    let mut server = Command::new(env!("CARGO_BIN_EXE_chat-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--hubs",
            "1",
            "--max-clients",
            "100000000",
            "--web",
            "off",
        ])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    let mut banner = String::new();
    BufReader::new(server.stdout.take().expect("piped")).read_line(&mut banner)?;
    let limits = nofile_limits(server.id());
    server.kill()?;
    server.wait()?;
    let stderr: Vec<String> = BufReader::new(server.stderr.take().expect("piped"))
        .lines()
        .map_while(Result::ok)
        .collect();
    assert!(banner.starts_with("chat server listening"), "{banner:?}");
    let (soft, hard) = limits?;
    assert_eq!(soft, hard, "the soft descriptor limit was not raised");
    let warned = |what: &str| {
        stderr
            .iter()
            .any(|l| l.contains("--max-clients") && l.contains(what))
    };
    assert!(
        warned("descriptors"),
        "no warning about descriptors: {stderr:#?}"
    );
    assert!(
        warned("vm.max_map_count"),
        "no warning about memory maps: {stderr:#?}"
    );
    Ok(())
}
