//! What can go wrong: the kinds of broken promise the suite reports ([`Broken`]), and the
//! helpers every recorder uses, so that one panicking worker cannot hide the records of others.

use std::any::Any;
use std::sync::{Mutex as StdMutex, MutexGuard as StdMutexGuard, PoisonError};

/// The kinds of broken promise the suite reports, grouped in the summary.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) enum Broken {
    DeliveredAfterCutShort,
    DeliveredFromUnchosenArm,
    DeliveredAndReturned,
    SentButNeverReceived,
    Lost,
    Duplicated,
    WrongChannel,
    OutOfOrder,
    CapacityExceeded,
    JoinResultDiscarded,
    MutualExclusion,
    LostUpdate,
    SemaphoreOverfull,
    PermitsLeaked,
    PoolOverfull,
    PoolSlotsLeaked,
    PoolStillRunning,
    CondvarTickets,
    CondvarLostNotify,
    EventNotSet,
    WaitGroupEarly,
    ScopeIgnored,
    CancelIgnored,
    Hang,
    IdleCpu,
    Panicked,
    UnexpectedCancel,
}

impl Broken {
    pub(crate) fn what(self) -> &'static str {
        use Broken::*;
        match self {
            DeliveredAfterCutShort => {
                "message received although its send was cut short (cancel or timeout scope)"
            }
            DeliveredFromUnchosenArm => "a Select send arm that did not fire delivered its value",
            DeliveredAndReturned => "message both received and handed back to its sender",
            SentButNeverReceived => "send reported Ok, but nobody ever received the message",
            Lost => "message neither received nor dropped: lost or leaked",
            Duplicated => "message dropped more than once",
            WrongChannel => "message arrived on a channel it was not sent on",
            OutOfOrder => "one producer's messages reached one receiver out of order",
            CapacityExceeded => "a bounded channel held more than its capacity",
            JoinResultDiscarded => "an expiring timeout threw away a finished join's result",
            MutualExclusion => "two holders inside one Mutex at once",
            LostUpdate => "the Mutex-protected counter lost updates",
            SemaphoreOverfull => "more Semaphore holders than permits",
            PermitsLeaked => "Semaphore permits not conserved",
            PoolOverfull => "more Pool tasks running than the pool's size",
            PoolSlotsLeaked => "Pool slots leaked",
            PoolStillRunning => "Pool::running() not 0 after everything ended",
            CondvarTickets => "Condvar bookkeeping does not add up",
            CondvarLostNotify => {
                "a Condvar notify was lost: a ticket stayed untaken while consumers waited"
            }
            EventNotSet => "an Event wait returned while the event was clear",
            WaitGroupEarly => "WaitGroup::wait returned before every member was done",
            ScopeIgnored => "a timeout scope's deadline passed inside a park without ending it",
            CancelIgnored => "a park returned normally after JoinHandle::cancel",
            Hang => "green threads or OS threads never finished",
            IdleCpu => "the idle runtime kept burning CPU",
            Panicked => "a panic",
            UnexpectedCancel => "a green thread nobody cancelled ended as cancelled",
        }
    }
}

pub(crate) fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_string()
    }
}

pub(crate) fn lock<T>(mutex: &StdMutex<T>) -> StdMutexGuard<'_, T> {
    // A worker that panics while recording must not hide every later record.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
