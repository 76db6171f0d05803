//! The master's timers: accepting again after a pause, slaves gone
//! silent, hand-overs and registrations past their deadline, relays
//! half-closed too long. What is due is decided by pure functions of the
//! clocks ([`client_due`], [`registration_due`]).

use std::os::fd::AsFd;
use std::time::Instant;

use nix::sys::epoll::{EpollEvent, EpollFlags};

use super::{Conn, Master, Stage, T_CLIENTS};
use crate::limits::{HALF_CLOSE_TIMEOUT, HEARTBEAT_TIMEOUT, REGISTER_TIMEOUT};

/// Where a client stands, as the timers see it.
#[derive(Clone, Copy, Debug)]
pub(super) enum Waiting {
    /// Being handed to `slave` until `deadline`; `connecting` while the
    /// master's connection to it is not established yet.
    Handover { slave: u32, deadline: Instant, connecting: bool },
    /// Relayed; since when one side has ended, if one has.
    Relaying { half_closed: Option<Instant> },
    /// Between two steps.
    Nothing,
}

impl Stage {
    /// The stage, as the timers see it.
    pub(super) fn waiting(&self) -> Waiting {
        match self {
            Stage::Offered { slave, deadline, .. } | Stage::Greeting { slave, deadline, .. } => {
                Waiting::Handover { slave: *slave, deadline: *deadline, connecting: false }
            }
            Stage::Connecting { slave, deadline, .. } => {
                Waiting::Handover { slave: *slave, deadline: *deadline, connecting: true }
            }
            Stage::Relaying(r) => Waiting::Relaying { half_closed: r.half_closed },
            Stage::Idle => Waiting::Nothing,
        }
    }
}

/// What a timer must do about a connection.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Due {
    Nothing,
    /// The hand-over took too long: another slave; this one is suspended
    /// when it could not even be connected to.
    Handover {
        suspend: bool,
    },
    /// The slave of the hand-over is gone (left, lost, silent): another
    /// slave, at once.
    Lost,
    /// A relay half-closed too long: closed.
    Relay,
    /// A registration connection that never registered: refused.
    Registration,
}

/// What is due for a client that `waiting`, its hand-over's slave still
/// registered or not (pure).
pub(super) fn client_due(waiting: Waiting, slave_registered: bool, now: Instant) -> Due {
    match waiting {
        Waiting::Handover { .. } if !slave_registered => Due::Lost,
        Waiting::Handover { deadline, connecting, .. } if now >= deadline => Due::Handover { suspend: connecting },
        Waiting::Relaying { half_closed: Some(t) } if now.duration_since(t) > HALF_CLOSE_TIMEOUT => Due::Relay,
        _ => Due::Nothing,
    }
}

/// True when a registration connection open `since` and still without a
/// slave has had its time (pure).
pub(super) fn registration_due(registered: bool, since: Instant, now: Instant) -> bool {
    !registered && now.duration_since(since) > REGISTER_TIMEOUT
}

impl Master {
    pub(super) fn tick(&mut self, now: Instant) {
        if self.accept_paused_until.is_some_and(|t| now >= t) {
            self.accept_paused_until = None;
            if let Some(l) = &self.clients {
                let _ = self.epoll.add(l.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, T_CLIENTS));
            }
        }
        for id in self.registry.silent(now, HEARTBEAT_TIMEOUT) {
            if let Some(s) = self.registry.get(id) {
                let conn = s.conn;
                log::warn!("slave {id} lost: no heartbeat for {:.1}s", HEARTBEAT_TIMEOUT.as_secs_f64());
                self.registry.remove(id);
                if let Some(Conn::Reg(mut c)) = self.take(conn) {
                    c.slave = None;
                    self.close_registration(c, "silent");
                }
            }
        }
        for i in 0..self.conns.len() {
            let due = match &self.conns[i] {
                Some(Conn::Client(c)) => {
                    let waiting = c.stage.waiting();
                    let registered = match waiting {
                        Waiting::Handover { slave, .. } => self.registry.get(slave).is_some(),
                        _ => true,
                    };
                    client_due(waiting, registered, now)
                }
                Some(Conn::Reg(c)) if registration_due(c.slave.is_some(), c.since, now) => Due::Registration,
                _ => Due::Nothing,
            };
            match due {
                Due::Nothing => {}
                Due::Handover { suspend } => self.handover_failed(i, "no answer in time", suspend),
                Due::Lost => self.handover_failed(i, "the slave is gone", false),
                Due::Relay => {
                    if let Some(Conn::Client(c)) = self.take(i) {
                        self.close_relay(c, "half-closed too long");
                    }
                }
                Due::Registration => {
                    if let Some(Conn::Reg(c)) = self.take(i) {
                        self.refuse_registration(c, "registration timed out");
                    }
                }
            }
        }
        // Slots emptied by the timers are free at once (no events pending).
        self.free.append(&mut self.released);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_gone_slave_sends_its_client_elsewhere_at_once() {
        let now = Instant::now();
        let w = Waiting::Handover { slave: 1, deadline: now + Duration::from_secs(9), connecting: false };
        assert_eq!(client_due(w, false, now), Due::Lost);
        assert_eq!(client_due(w, true, now), Due::Nothing);
    }

    /// A slave that did not answer in time is tried no more for a while
    /// only when the master could not even connect to it.
    #[test]
    fn a_late_hand_over_moves_on_and_suspends_only_an_unreachable_slave() {
        let now = Instant::now();
        for connecting in [false, true] {
            let w = Waiting::Handover { slave: 1, deadline: now, connecting };
            assert_eq!(client_due(w, true, now), Due::Handover { suspend: connecting });
            assert_eq!(client_due(w, true, now - Duration::from_millis(1)), Due::Nothing);
        }
    }

    #[test]
    fn a_relay_may_stay_half_closed_for_a_while_only() {
        let now = Instant::now();
        let w = Waiting::Relaying { half_closed: Some(now) };
        assert_eq!(client_due(w, true, now + HALF_CLOSE_TIMEOUT), Due::Nothing);
        assert_eq!(client_due(w, true, now + HALF_CLOSE_TIMEOUT + Duration::from_millis(1)), Due::Relay);
        assert_eq!(
            client_due(Waiting::Relaying { half_closed: None }, true, now + HALF_CLOSE_TIMEOUT * 2),
            Due::Nothing
        );
        assert_eq!(client_due(Waiting::Nothing, false, now), Due::Nothing);
    }

    #[test]
    fn a_registration_has_its_time_to_register() {
        let t = Instant::now();
        let late = t + REGISTER_TIMEOUT + Duration::from_millis(1);
        assert!(registration_due(false, t, late));
        assert!(!registration_due(false, t, t + REGISTER_TIMEOUT));
        assert!(!registration_due(true, t, late));
    }
}
