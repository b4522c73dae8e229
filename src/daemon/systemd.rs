//! Talking to systemd: readiness, reload, status, watchdog, stopping.
//!
//! Owns every sd_notify message. Must never: fail the daemon because systemd
//! is absent (every call is a no-op without `$NOTIFY_SOCKET`), block on a
//! notify socket that nobody reads (a full socket drops the message), or
//! ping the watchdog unless the supervisor has judged itself healthy.

use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

use sd_notify::NotifyState;

/// One datagram to `$NOTIFY_SOCKET` (a path, or `@name` for an abstract
/// socket), never waiting: `sd_notify::notify` sends blocking, and the
/// supervisor's loop sends these, so a socket whose reader stopped reading
/// would stall reloads, shutdown and the watchdog. A full socket answers
/// `WouldBlock` and the message is dropped (systemd reads its socket).
fn send_nonblocking(states: &[NotifyState<'_>]) -> io::Result<()> {
    let Some(path) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let msg: String = states.iter().map(|s| format!("{s}\n")).collect();
    let sock = UnixDatagram::unbound()?;
    sock.set_nonblocking(true)?;
    match path.as_bytes().strip_prefix(b"@") {
        Some(name) => {
            use std::os::linux::net::SocketAddrExt;
            let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
            sock.connect_addr(&addr)?;
        }
        None => sock.connect(&path)?,
    }
    let sent = sock.send(msg.as_bytes())?;
    if sent == msg.len() {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            "notify message cut short",
        ))
    }
}

/// Sends sd_notify messages when running under systemd.
#[derive(Debug, Clone, Copy)]
pub struct Notifier {
    enabled: bool,
}

impl Notifier {
    /// Enabled when `$NOTIFY_SOCKET` is set.
    pub fn from_env() -> Self {
        Self {
            enabled: std::env::var_os("NOTIFY_SOCKET").is_some(),
        }
    }

    fn send(&self, states: &[NotifyState<'_>]) {
        if self.enabled
            && let Err(e) = send_nonblocking(states)
        {
            tracing::debug!(error = %e, "sd_notify failed");
        }
    }

    /// `READY=1` with a status line.
    pub fn ready(&self, status: &str) {
        self.send(&[NotifyState::Ready, NotifyState::Status(status)]);
    }

    /// `RELOADING=1` with `MONOTONIC_USEC`, as `Type=notify-reload` requires
    /// (harmless for `Type=notify`).
    pub fn reloading(&self) {
        match NotifyState::monotonic_usec_now() {
            Ok(now) => self.send(&[NotifyState::Reloading, now]),
            Err(_) => self.send(&[NotifyState::Reloading]),
        }
    }

    /// `STATUS=…`.
    pub fn status(&self, status: &str) {
        self.send(&[NotifyState::Status(status)]);
    }

    /// `WATCHDOG=1`.
    pub fn watchdog(&self) {
        self.send(&[NotifyState::Watchdog]);
    }

    /// `STOPPING=1` with a status line.
    pub fn stopping(&self, status: &str) {
        self.send(&[NotifyState::Stopping, NotifyState::Status(status)]);
    }

    /// How often to ping the watchdog (half of `WatchdogSec`), when enabled.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        if !self.enabled {
            return None;
        }
        sd_notify::watchdog_enabled().map(|d| d / 2)
    }
}
