//! Waiting for a child to end without blocking the hub: on Linux a pidfd, which becomes
//! readable when the child exits (taken right after the spawn, while the child cannot yet have
//! been reaped, so its pid cannot have been reused); elsewhere, or on kernels before 5.3, a
//! poll of the child's status with a pause that grows from 1 ms to 50 ms.

use crate::io::Async;
use std::io;
use std::os::fd::OwnedFd;
use std::process::ExitStatus;
use std::time::Duration;

/// How to learn that a child ended.
pub(super) struct ExitWatch {
    pidfd: Option<Async<OwnedFd>>,
}

impl ExitWatch {
    pub(super) fn new(child: &std::process::Child) -> ExitWatch {
        ExitWatch {
            pidfd: pidfd_open(child.id()).and_then(|fd| Async::new(fd).ok()),
        }
    }

    /// Parks until `child` has ended, and reaps it.
    pub(super) fn wait(&self, child: &mut std::process::Child) -> io::Result<ExitStatus> {
        let mut pause = Duration::from_millis(1);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            match &self.pidfd {
                Some(pidfd) => pidfd.readable()?,
                None => {
                    crate::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
        }
    }
}

#[cfg(target_os = "linux")]
fn pidfd_open(pid: u32) -> Option<OwnedFd> {
    use std::os::fd::FromRawFd;
    let pid = libc::pid_t::try_from(pid).ok()?;
    // SAFETY: pidfd_open takes two integers and no pointers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
    let fd = i32::try_from(fd).ok().filter(|&fd| fd >= 0)?;
    // SAFETY: the kernel just returned this new descriptor, owned by nobody else.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

#[cfg(not(target_os = "linux"))]
fn pidfd_open(_: u32) -> Option<OwnedFd> {
    None
}
