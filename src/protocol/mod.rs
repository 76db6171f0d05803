//! The FTP wire protocol, pure and shared by server and client: bytes in,
//! [`Command`] and [`Reply`] values out, and back.

pub mod command;
pub mod reply;

#[cfg(test)]
mod proptests;

pub use command::{parse, Command, EpsvArg, ParseError, Password, TransferType};
pub use reply::{Reply, ReplyCode, ReplyError, ReplyParser};
