//! A side door into one WebSocket connection for the interactive console and the session
//! summary: send a ping on demand (its pong is reported with the round-trip time), choose the
//! status of the Close we send, and read what the connection saw of pings and Closes.
//!
//! The copy engine keeps moving messages; [`crate::ws::stream::WsMessages`] looks at the
//! requests queued here whenever it is polled (a request wakes it).

use bytes::Bytes;
use futures::task::AtomicWaker;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::task::Context;
use std::time::{Duration, Instant};

/// Most pings asked for and not yet answered that are remembered; older ones are forgotten
/// (their pongs then count as unsolicited).
const MAX_OUTSTANDING: usize = 16;

/// What a connection reports to whoever watches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlEvent {
    /// The pong for a ping asked through [`WsControl::ping`], with its round-trip time.
    Pong {
        /// The pong's payload (the ping's).
        payload: Bytes,
        /// Time from sending the ping to receiving the pong.
        rtt: Duration,
    },
}

/// Round-trip times of the pings of one connection (asked for and keep-alive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PingStats {
    /// Pongs matched to our pings.
    pub count: u32,
    /// Shortest round trip.
    pub min: Duration,
    /// Longest round trip.
    pub max: Duration,
    /// Sum of all round trips (for the average).
    pub total: Duration,
}

impl PingStats {
    fn record(&mut self, rtt: Duration) {
        if self.count == 0 || rtt < self.min {
            self.min = rtt;
        }
        self.max = self.max.max(rtt);
        self.total += rtt;
        self.count += 1;
    }

    /// The mean round trip, when there was one.
    pub fn avg(&self) -> Option<Duration> {
        (self.count > 0).then(|| self.total / self.count)
    }
}

type Observer = Box<dyn Fn(ControlEvent) + Send + Sync>;

#[derive(Default)]
struct State {
    /// Pings asked for and not yet sent.
    to_send: VecDeque<Bytes>,
    /// Pings sent and not yet answered, oldest first.
    outstanding: VecDeque<(Bytes, Instant, bool)>,
    pings: PingStats,
    close_to_send: Option<(u16, String)>,
    close_sent: Option<Option<(u16, String)>>,
}

/// The control handle of one WebSocket connection; shared by the connection and its watchers.
#[derive(Default)]
pub struct WsControl {
    state: Mutex<State>,
    /// A ping is waiting to be sent: lets the connection skip the lock on every poll.
    ping_waiting: AtomicBool,
    waker: AtomicWaker,
    observer: Mutex<Option<Observer>>,
}

impl std::fmt::Debug for WsControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WsControl").finish_non_exhaustive()
    }
}

impl WsControl {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Asks the connection to send a ping with `payload` (at most 125 bytes, else an error).
    /// The pong is reported to the observer with its round-trip time.
    pub fn ping(&self, payload: Bytes) -> Result<(), String> {
        if payload.len() > 125 {
            return Err("a ping carries at most 125 bytes".into());
        }
        {
            let mut s = self.state();
            if s.to_send.len() >= MAX_OUTSTANDING {
                return Err("too many pings waiting to be sent".into());
            }
            s.to_send.push_back(payload);
            self.ping_waiting.store(true, Ordering::Release);
        }
        self.waker.wake();
        Ok(())
    }

    /// Sets the status code and reason of the Close the connection sends when its sending side
    /// is closed (overriding `--close-status-code`).
    pub fn set_close(&self, code: u16, reason: String) -> Result<(), String> {
        check_close(code, &reason)?;
        self.state().close_to_send = Some((code, reason));
        Ok(())
    }

    /// Calls `observer` for every event from now on (replacing an earlier one).
    pub fn observe(&self, observer: impl Fn(ControlEvent) + Send + Sync + 'static) {
        *self
            .observer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Box::new(observer));
    }

    /// Round-trip times of the pongs received so far.
    pub fn ping_stats(&self) -> PingStats {
        self.state().pings
    }

    /// The Close we sent: `None` before it, `Some(None)` for a Close without status.
    pub fn close_sent(&self) -> Option<Option<(u16, String)>> {
        self.state().close_sent.clone()
    }

    // For the connection itself.

    /// Registers the connection's task to be woken by a new request; returns the next ping to
    /// send, if one is waiting.
    pub(crate) fn next_ping(&self, cx: &mut Context<'_>) -> Option<Bytes> {
        self.waker.register(cx.waker());
        // Checked after registering, so a ping asked for in between wakes us again.
        if !self.ping_waiting.load(Ordering::Acquire) {
            return None;
        }
        let mut s = self.state();
        let p = s.to_send.pop_front()?;
        if s.to_send.is_empty() {
            self.ping_waiting.store(false, Ordering::Release);
        }
        if s.outstanding.len() >= MAX_OUTSTANDING {
            s.outstanding.pop_front();
        }
        s.outstanding.push_back((p.clone(), Instant::now(), true));
        Some(p)
    }

    /// Records a keep-alive ping sent now.
    pub(crate) fn keepalive_sent(&self, payload: Bytes) {
        let mut s = self.state();
        if s.outstanding.len() >= MAX_OUTSTANDING {
            s.outstanding.pop_front();
        }
        s.outstanding.push_back((payload, Instant::now(), false));
    }

    /// Records a pong; reports it when it answers a ping asked through [`WsControl::ping`]
    /// (a pong that answers none of ours is ignored).
    pub(crate) fn pong_received(&self, payload: &Bytes) {
        let (rtt, asked) = {
            let mut s = self.state();
            let Some(i) = s.outstanding.iter().position(|(p, _, _)| p == payload) else {
                return;
            };
            let Some((_, at, asked)) = s.outstanding.remove(i) else {
                return;
            };
            let rtt = at.elapsed();
            s.pings.record(rtt);
            (rtt, asked)
        };
        if asked {
            if let Some(observer) = self
                .observer
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .as_ref()
            {
                observer(ControlEvent::Pong {
                    payload: payload.clone(),
                    rtt,
                });
            }
        }
    }

    /// The Close status asked for through [`WsControl::set_close`].
    pub(crate) fn close_to_send(&self) -> Option<(u16, String)> {
        self.state().close_to_send.clone()
    }

    /// Records the Close we sent.
    pub(crate) fn record_close_sent(&self, frame: Option<(u16, String)>) {
        self.state().close_sent = Some(frame);
    }
}

/// Whether a Close with this status and reason may be sent (RFC 6455, section 7.4).
pub fn check_close(code: u16, reason: &str) -> Result<(), String> {
    if !super::frame::close_code_is_valid(code) {
        return Err(format!(
            "close code {code} cannot be sent (use {})",
            super::frame::VALID_CLOSE_CODES
        ));
    }
    if reason.len() > 123 {
        return Err("close reason is longer than the 123 bytes a Close frame can carry".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ping_stats_keep_min_avg_max() {
        let mut s = PingStats::default();
        assert_eq!(s.avg(), None);
        for ms in [30, 10, 20] {
            s.record(Duration::from_millis(ms));
        }
        assert_eq!(s.count, 3);
        assert_eq!(s.min, Duration::from_millis(10));
        assert_eq!(s.max, Duration::from_millis(30));
        assert_eq!(s.avg(), Some(Duration::from_millis(20)));
    }

    #[test]
    fn close_codes_that_cannot_be_sent_are_refused() {
        assert!(check_close(1000, "bye").is_ok());
        assert!(check_close(4999, "").is_ok());
        for bad in [0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000] {
            assert!(check_close(bad, "").is_err(), "{bad}");
        }
        assert!(check_close(1000, &"x".repeat(124)).is_err());
    }

    #[test]
    fn only_pongs_of_asked_pings_reach_the_observer() {
        let c = std::sync::Arc::new(WsControl::default());
        let seen = std::sync::Arc::new(Mutex::new(Vec::new()));
        let s = seen.clone();
        c.observe(move |e| s.lock().unwrap().push(e));
        c.ping(Bytes::from_static(b"a")).unwrap();
        let waker = futures::task::noop_waker();
        let mut cx = Context::from_waker(&waker);
        assert_eq!(c.next_ping(&mut cx), Some(Bytes::from_static(b"a")));
        assert_eq!(c.next_ping(&mut cx), None);
        c.keepalive_sent(Bytes::from_static(b"k"));
        c.pong_received(&Bytes::from_static(b"k"));
        c.pong_received(&Bytes::from_static(b"zz"));
        c.pong_received(&Bytes::from_static(b"a"));
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1);
        assert!(matches!(&seen[0], ControlEvent::Pong { payload, .. } if payload == "a"));
        assert_eq!(c.ping_stats().count, 2);
    }
}
