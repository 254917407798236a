//! Peers from other languages, run only where their toolchain is installed: Go and gevent echo
//! servers from `benches/peers/`. Each is started pinned to one CPU like the Rust contenders.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// An echo server from another language.
pub struct External {
    pub name: &'static str,
    program: &'static str,
    args: Vec<String>,
    env: Vec<(&'static str, &'static str)>,
}

fn peers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("peers")
}

fn runs(program: &str, args: &[&str]) -> bool {
    Command::new(program)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The external echo servers that can run here, and a line for each that cannot.
pub fn echo_servers() -> (Vec<External>, Vec<String>) {
    let (mut found, mut skipped) = (Vec::new(), Vec::new());
    if runs("go", &["version"]) {
        found.push(External {
            name: "go",
            program: "go",
            args: vec![
                "run".into(),
                peers_dir().join("go/echo.go").display().to_string(),
            ],
            env: vec![("GOMAXPROCS", "1")],
        });
    } else {
        skipped.push(
            "skipped go: `go` is not installed, so the Go echo server was not measured".into(),
        );
    }
    if runs("python3", &["-c", "import gevent"]) {
        found.push(External {
            name: "gevent",
            program: "python3",
            args: vec![peers_dir().join("gevent/echo.py").display().to_string()],
            env: vec![],
        });
    } else {
        skipped.push(
            "skipped gevent: python3 with gevent is not installed, so the gevent echo server was not measured"
                .into(),
        );
    }
    (found, skipped)
}

impl External {
    /// The command that starts this server on `addr`, pinned to `cpu` when given.
    pub fn command(&self, addr: &str, cpu: Option<usize>) -> Command {
        let mut command = Command::new(self.program);
        command
            .args(&self.args)
            .arg(addr)
            .envs(self.env.iter().copied());
        if let Some(cpu) = cpu {
            // SAFETY: the closure runs in the child between fork and exec and only makes the
            // sched_setaffinity system call, which is async-signal-safe.
            unsafe {
                command.pre_exec(move || {
                    crate::process::pin_to_cpu(cpu);
                    Ok(())
                });
            }
        }
        command
    }
}
