//! [`Command`]: std's process builder, whose children park instead of block.

use super::child::Child;
use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::{ExitStatus, Output, Stdio};

/// A process builder with std's method names; [`spawn`](Command::spawn) returns a [`Child`]
/// whose pipes and [`wait`](Child::wait) park the calling green thread, not its hub.
///
/// # Examples
///
/// ```
/// use greenhub::process::Command;
/// greenhub::run(|| {
///     let out = Command::new("sh").arg("-c").arg("echo hello").output().unwrap();
///     assert!(out.status.success());
///     assert_eq!(out.stdout, b"hello\n");
/// });
/// ```
#[derive(Debug)]
pub struct Command {
    inner: std::process::Command,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
    kill_on_drop: bool,
}

impl Command {
    /// A builder for running `program`, found in `PATH` as std does.
    ///
    /// # Examples
    ///
    /// ```
    /// let _ = greenhub::process::Command::new("true");
    /// ```
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// Adds an argument.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::process::Command::new("ls").arg("-l");
    /// ```
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        self.inner.arg(arg);
        self
    }

    /// Adds arguments.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::process::Command::new("ls").args(["-l", "-a"]);
    /// ```
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.inner.args(args);
        self
    }

    /// Sets an environment variable for the child.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::process::Command::new("env").env("GREETING", "hi");
    /// ```
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env(key, value);
        self
    }

    /// Sets several environment variables for the child.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::process::Command::new("env").envs([("A", "1"), ("B", "2")]);
    /// ```
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.inner.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::process::Command::new("env").env_remove("HOME");
    /// ```
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.inner.env_remove(key);
        self
    }

    /// Starts the child with an empty environment.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::process::Command::new("env").env_clear();
    /// ```
    pub fn env_clear(&mut self) -> &mut Command {
        self.inner.env_clear();
        self
    }

    /// Sets the child's working directory.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::process::Command::new("ls").current_dir("/");
    /// ```
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        self.inner.current_dir(dir);
        self
    }

    /// Sets the child's standard input (std's default for `spawn`: inherited).
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::process::{Command, Stdio};
    /// Command::new("cat").stdin(Stdio::piped());
    /// ```
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// Sets the child's standard output.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::process::{Command, Stdio};
    /// Command::new("ls").stdout(Stdio::piped());
    /// ```
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// Sets the child's standard error.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::process::{Command, Stdio};
    /// Command::new("ls").stderr(Stdio::null());
    /// ```
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.inner.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether dropping the [`Child`] kills the process (and reaps it in the background) if it
    /// is still running. Off by default, as with std, where a dropped child runs on.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let child = greenhub::process::Command::new("sleep")
    ///         .arg("10")
    ///         .kill_on_drop(true)
    ///         .spawn()
    ///         .unwrap();
    ///     drop(child); // killed, not left running
    /// });
    /// ```
    pub fn kill_on_drop(&mut self, kill: bool) -> &mut Command {
        self.kill_on_drop = kill;
        self
    }

    /// Starts the child. Its piped standard streams are in non-blocking mode on this side.
    ///
    /// # Errors
    ///
    /// As std's `spawn` (the program was not found, say).
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let mut child = greenhub::process::Command::new("true").spawn().unwrap();
    ///     assert!(child.wait().unwrap().success());
    /// });
    /// ```
    pub fn spawn(&mut self) -> io::Result<Child> {
        Child::start(self.inner.spawn()?, self.kill_on_drop)
    }

    /// Runs the child to the end and collects its output. Standard output and error are piped
    /// and standard input is null unless set otherwise (as std's `output`; on this builder they
    /// stay so afterwards).
    ///
    /// # Errors
    ///
    /// As [`spawn`](Command::spawn), or reading the pipes or waiting failed.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let out = greenhub::process::Command::new("sh")
    ///         .args(["-c", "echo oops >&2; exit 3"])
    ///         .output()
    ///         .unwrap();
    ///     assert_eq!(out.status.code(), Some(3));
    ///     assert_eq!(out.stderr, b"oops\n");
    /// });
    /// ```
    pub fn output(&mut self) -> io::Result<Output> {
        if !self.stdin_set {
            self.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.stderr(Stdio::piped());
        }
        self.spawn()?.wait_with_output()
    }

    /// Runs the child to the end (standard streams inherited unless set) and returns how it
    /// ended.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Command::spawn) and [`Child::wait`].
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let status = greenhub::process::Command::new("false").status().unwrap();
    ///     assert!(!status.success());
    /// });
    /// ```
    pub fn status(&mut self) -> io::Result<ExitStatus> {
        self.spawn()?.wait()
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a std builder (its standard streams count as not set, for [`Command::output`]).
    fn from(inner: std::process::Command) -> Command {
        Command {
            inner,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
            kill_on_drop: false,
        }
    }
}
