//! The errors of sending and receiving, each with its message; those of a send carry the value
//! back.

#[cfg(doc)]
use super::{Receiver, Sender}; // for the links in the docs
use std::fmt;

/// Every receiver is gone; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub struct SendError<T>(pub T);

/// The channel is empty and every sender is gone.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct RecvError;

/// Why [`Sender::try_send`] failed; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum TrySendError<T> {
    /// The channel is full (or, for `bounded(0)`, no receiver waits).
    Full(T),
    /// Every receiver is gone.
    Disconnected(T),
}

/// Why [`Sender::send_timeout`] failed; the value comes back.
#[derive(PartialEq, Eq, Clone, Copy)]
pub enum SendTimeoutError<T> {
    /// No room (or no taker) before the timeout.
    Timeout(T),
    /// Every receiver is gone.
    Disconnected(T),
}

impl<T> SendTimeoutError<T> {
    pub(super) fn into_inner(self) -> T {
        match self {
            SendTimeoutError::Timeout(v) | SendTimeoutError::Disconnected(v) => v,
        }
    }
}

/// Why [`Receiver::try_recv`] failed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum TryRecvError {
    /// Nothing waits in the channel.
    Empty,
    /// The channel is empty and every sender is gone.
    Disconnected,
}

/// Why [`Receiver::recv_timeout`] failed.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub enum RecvTimeoutError {
    /// Nothing arrived before the timeout.
    Timeout,
    /// The channel is empty and every sender is gone.
    Disconnected,
}

macro_rules! error_text {
    ($ty:ident $(<$t:ident>)?, $($pattern:pat => $text:expr),+) => {
        impl$(<$t>)? fmt::Display for $ty$(<$t>)? {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $($pattern => $text),+ })
            }
        }
        impl$(<$t>)? std::error::Error for $ty$(<$t>)? where Self: fmt::Debug {}
    };
}

error_text!(SendError<T>, SendError(_) => "sending on a channel whose receivers are all gone");
error_text!(RecvError, RecvError => "receiving on an empty channel whose senders are all gone");
error_text!(TrySendError<T>, TrySendError::Full(_) => "the channel is full",
    TrySendError::Disconnected(_) => "sending on a channel whose receivers are all gone");
error_text!(SendTimeoutError<T>, SendTimeoutError::Timeout(_) => "timed out waiting to send",
    SendTimeoutError::Disconnected(_) => "sending on a channel whose receivers are all gone");
error_text!(TryRecvError, TryRecvError::Empty => "the channel is empty",
    TryRecvError::Disconnected => "receiving on an empty channel whose senders are all gone");
error_text!(RecvTimeoutError, RecvTimeoutError::Timeout => "timed out waiting to receive",
    RecvTimeoutError::Disconnected => "receiving on an empty channel whose senders are all gone");

macro_rules! opaque_debug {
    ($($ty:ident),*) => {$(
        impl<T> fmt::Debug for $ty<T> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}(..)", stringify!($ty))
            }
        }
    )*};
}

opaque_debug!(SendError, TrySendError, SendTimeoutError);
