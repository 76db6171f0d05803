//! The FTP wire protocol, pure and shared by server and client: bytes in,
//! [`Command`] and [`Reply`] values out, and back; [`proxy`], the PROXY
//! protocol header a relaying `ftpmaster` sends before the client's bytes;
//! [`http`], the request head of `/metrics` and `/health`; [`time`],
//! calendar dates.

pub mod address;
pub mod ascii;
pub mod checksum;
pub mod command;
pub mod framer;
pub mod http;
pub mod proxy;
pub mod reply;
pub mod time;

#[cfg(test)]
mod proptests;

pub use command::{parse, Command, EpsvArg, MffFacts, ParseError, Password, SiteCommand, TransferType};
pub use framer::{Frame, LineFramer};
pub use reply::{Reply, ReplyCode, ReplyError, ReplyParser};
