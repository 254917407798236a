//! The chat showcase: a multi-client chat server whose per-client code is plain sequential code
//! on greenhub green threads (see [`server`]), with the protocol pieces it stands on: line
//! framing with a length limit ([`framing`]), commands ([`command`]) and what may reach another
//! client's terminal ([`text`]). The `chat-server` binary is a thin `main` around
//! [`server::serve`].

pub mod certs;
pub mod child;
pub mod command;
pub mod deadline;
pub mod framing;
pub mod limits;
pub mod load;
pub mod server;
pub mod text;
