//! [`Child`] and its standard streams: pipes in non-blocking mode on this side, read and written
//! through [`Async`], so that a green thread feeding a child's input and another reading its
//! output never block their hub (nor each other: no pipe deadlock).

use super::exit::ExitWatch;
use crate::io::Async;
use std::fs::File;
use std::io::{self, IoSlice, IoSliceMut, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::process::{ExitStatus, Output};

/// A running (or finished) child process, made by [`Command::spawn`](super::Command::spawn).
///
/// # Examples
///
/// Feeding `cat` and reading it back at once, in two green threads:
///
/// ```
/// use greenhub::process::{Command, Stdio};
/// use std::io::{Read, Write};
///
/// greenhub::run(|| {
///     let mut child = Command::new("cat")
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()
///         .unwrap();
///     let mut stdin = child.stdin.take().unwrap();
///     let feeder = greenhub::spawn(move || stdin.write_all(&[b'x'; 1 << 20]).unwrap());
///     let mut echoed = Vec::new();
///     child.stdout.take().unwrap().read_to_end(&mut echoed).unwrap();
///     feeder.join().unwrap();
///     assert_eq!(echoed.len(), 1 << 20);
///     assert!(child.wait().unwrap().success());
/// });
/// ```
#[derive(Debug)]
pub struct Child {
    /// The child's standard input, when piped.
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, when piped.
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, when piped.
    pub stderr: Option<ChildStderr>,
    inner: std::process::Child,
    exit: ExitWatch,
    kill_on_drop: bool,
}

impl std::fmt::Debug for ExitWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ExitWatch")
    }
}

/// Makes one end of a child's pipe non-blocking and wraps it.
fn pipe_end(end: impl Into<OwnedFd>) -> io::Result<Async<File>> {
    Async::new(File::from(end.into()))
}

impl Child {
    pub(super) fn start(mut inner: std::process::Child, kill_on_drop: bool) -> io::Result<Child> {
        let exit = ExitWatch::new(&inner);
        let stdin = inner.stdin.take().map(pipe_end).transpose()?;
        let stdout = inner.stdout.take().map(pipe_end).transpose()?;
        let stderr = inner.stderr.take().map(pipe_end).transpose()?;
        Ok(Child {
            stdin: stdin.map(ChildStdin),
            stdout: stdout.map(ChildStdout),
            stderr: stderr.map(ChildStderr),
            inner,
            exit,
            kill_on_drop,
        })
    }

    /// The child's process id.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let mut child = greenhub::process::Command::new("true").spawn().unwrap();
    ///     assert!(child.id() > 0);
    ///     child.wait().unwrap();
    /// });
    /// ```
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Sends the child SIGKILL (nothing happens if it already ended).
    ///
    /// # Errors
    ///
    /// As std's `Child::kill`.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let mut child = greenhub::process::Command::new("sleep").arg("10").spawn().unwrap();
    ///     child.kill().unwrap();
    ///     assert!(!child.wait().unwrap().success());
    /// });
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        self.inner.kill()
    }

    /// How the child ended, if it has; never waits.
    ///
    /// # Errors
    ///
    /// As std's `Child::try_wait`.
    ///
    /// # Examples
    ///
    /// ```
    /// greenhub::run(|| {
    ///     let mut child = greenhub::process::Command::new("sleep").arg("10").spawn().unwrap();
    ///     assert!(child.try_wait().unwrap().is_none());
    ///     child.kill().unwrap();
    ///     child.wait().unwrap();
    /// });
    /// ```
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.inner.try_wait()
    }

    /// Closes the child's standard input (as std does, so that a child reading it sees its
    /// end), then parks until the child ends. Only the calling green thread waits; a
    /// [`timeout`](crate::timeout) scope or a cancel cuts the wait short and leaves the child
    /// running.
    ///
    /// # Errors
    ///
    /// As std's `Child::wait`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// greenhub::run(|| {
    ///     let mut child = greenhub::process::Command::new("sleep").arg("0.05").spawn().unwrap();
    ///     let ticker = greenhub::spawn(|| greenhub::sleep(Duration::from_millis(1))); // still runs
    ///     assert!(child.wait().unwrap().success());
    ///     ticker.join().unwrap();
    /// });
    /// ```
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        drop(self.stdin.take());
        self.exit.wait(&mut self.inner)
    }

    /// Waits for the child to end while reading all of its piped standard output and error
    /// (error in a green thread of its own, so that neither pipe can fill up and stall the
    /// child).
    ///
    /// # Errors
    ///
    /// Reading a pipe or waiting failed.
    ///
    /// # Examples
    ///
    /// ```
    /// use greenhub::process::{Command, Stdio};
    /// greenhub::run(|| {
    ///     let child = Command::new("echo").arg("hi").stdout(Stdio::piped()).spawn().unwrap();
    ///     assert_eq!(child.wait_with_output().unwrap().stdout, b"hi\n");
    /// });
    /// ```
    pub fn wait_with_output(mut self) -> io::Result<Output> {
        drop(self.stdin.take());
        let stderr_reader = self.stderr.take().map(|mut stderr| {
            crate::spawn(move || {
                let mut bytes = Vec::new();
                stderr.read_to_end(&mut bytes).map(|_| bytes)
            })
        });
        let mut stdout = Vec::new();
        if let Some(mut pipe) = self.stdout.take() {
            pipe.read_to_end(&mut stdout)?;
        }
        let stderr = match stderr_reader {
            Some(reader) => reader
                .join()
                .map_err(|e| io::Error::other(e.to_string()))??,
            None => Vec::new(),
        };
        let status = self.wait()?;
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    }
}

impl Drop for Child {
    /// With `kill_on_drop`, a child still running is killed, and reaped on a thread of its own
    /// so that it does not stay a zombie.
    fn drop(&mut self) {
        if !self.kill_on_drop || !matches!(self.inner.try_wait(), Ok(None)) {
            return;
        }
        if self.inner.kill().is_ok() {
            let pid = self.inner.id();
            let reaped = std::thread::Builder::new()
                .name("greenhub-reaper".into())
                .spawn(move || reap(pid));
            if reaped.is_err() {
                let _ = self.inner.try_wait(); // reaped now if it already died, else a zombie
            }
        }
    }
}

/// Waits for the killed child `pid` on a plain thread (std's `Child` cannot move there: it is
/// borrowed by the `Drop` that calls this).
fn reap(pid: u32) {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return;
    };
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out pointer for the call; `pid` is our own child, which
        // nothing else waits for once its `Child` is dropped.
        let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
        if reaped != -1 || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
            return;
        }
    }
}

macro_rules! pipe {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name(Async<File>);

        impl AsRawFd for $name {
            fn as_raw_fd(&self) -> RawFd {
                self.0.as_raw_fd()
            }
        }
    };
}

pipe! {
    /// The child's standard input: `Write` parks while the pipe is full. Dropping it closes
    /// the pipe, and the child sees the end of its input.
    ChildStdin
}
pipe! {
    /// The child's standard output: `Read` parks until the child writes.
    ChildStdout
}
pipe! {
    /// The child's standard error: `Read` parks until the child writes.
    ChildStderr
}

impl Write for ChildStdin {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        (&self.0).write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&self.0).write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(()) // a pipe has no buffer on this side
    }
}

impl Read for ChildStdout {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.0).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&self.0).read_vectored(bufs)
    }
}

impl Read for ChildStderr {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.0).read(buf)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        (&self.0).read_vectored(bufs)
    }
}
