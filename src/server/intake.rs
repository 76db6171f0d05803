//! How clients reach a pool's workers, and the hook through which a pool
//! takes them from elsewhere than its listening socket.
//!
//! A plain pool's worker accepts the next client on the shared listening
//! socket ([`Listening`]). A pool that is a slave of an `ftpmaster` also
//! takes the clients the master hands over, and reads the PROXY header of
//! those it relays: the balancer implements that as an [`Intake`], the pool
//! calls it, and the binary wires the two together, so that neither
//! imports the other.

use std::io;
use std::net::{SocketAddr, TcpListener, TcpStream};

use crate::net;

/// How a client reached the worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    /// It connected to us.
    Direct,
    /// The master passed its socket to us.
    Passed,
    /// The master relays its control connection; its address came in a
    /// PROXY header.
    Relayed,
    /// It connected to the implicit-FTPS port: TLS from the first byte.
    ImplicitTls,
    /// A load balancer in front of the pool (`--proxy-protocol-from`)
    /// relays its control connection; its address came in a PROXY header
    /// (`server::proxied`).
    Proxied,
    /// A trusted proxy's own connection: its header named no client (v1's
    /// `UNKNOWN`, v2's `LOCAL`), as HAProxy's health checks do. Served as
    /// the proxy itself, and logged only with `-v`.
    ProxyCheck,
}

/// A client to serve.
#[derive(Debug)]
pub struct Arrival {
    /// Its control connection.
    pub stream: TcpStream,
    /// Its real address (from the socket, or from the master's header).
    pub peer: SocketAddr,
    /// How it came.
    pub via: Via,
}

/// Where a pool's clients come from. The supervisor holds one for its
/// life; each worker it forks uses the copy inherited at fork.
pub trait Intake {
    /// The greeting text, when it is not the pool's own (a slave says who
    /// it is). Asked at start and after every reload.
    fn greeting(&self) -> Option<String> {
        None
    }

    /// In the supervisor, once the pool's socket is bound on `listen` and
    /// before any worker is forked.
    fn start(&mut self, _listen: SocketAddr, _listener: &TcpListener) -> Result<(), String> {
        Ok(())
    }

    /// In the supervisor, on every turn of its loop. Never blocks.
    fn tick(&mut self) {}

    /// In the supervisor: the pool stops and takes no more clients.
    fn withdraw(&mut self) {}

    /// In a worker just forked: let go of what only the supervisor uses.
    fn forget_in_worker(&mut self) {}

    /// In a worker: waits for the next client. `Ok(None)` when there is
    /// nothing to serve after all (another worker was faster, a periodic
    /// wake-up, a refused hand-over); a signal is an `Interrupted` error.
    fn accept(&self, listener: &TcpListener) -> io::Result<Option<Arrival>>;
}

/// A plain pool: clients connect to its listening socket.
#[derive(Debug, Default)]
pub(crate) struct Listening;

impl Intake for Listening {
    fn accept(&self, listener: &TcpListener) -> io::Result<Option<Arrival>> {
        let (stream, peer) = net::accept(listener)?;
        // Accepted sockets do not inherit O_NONBLOCK on Linux; make sure.
        stream.set_nonblocking(false)?;
        Ok(Some(Arrival { stream, peer, via: Via::Direct }))
    }
}
