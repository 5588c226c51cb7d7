//! Which connections a server holds: the cap on all of them, the cap per address, and the
//! accept loop that keeps both.
//!
//! Past the cap, a new connection takes the place of the longest-idle connection that has no
//! request in progress (a keep-alive connection, or one still sending its headers), as nginx
//! reuses its idle connections. Where every connection is busy, the server stops accepting
//! until one closes, and new clients wait in the kernel's queue: a good request is answered as
//! soon as a slot frees, and a stalled client holds a slot for one timeout at most.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Waker;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

use super::log::RateLimitedLog;

/// Where a connection is in its exchange, which decides which timeout applies and whether it
/// may give its place to a new connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Accepted, nothing received yet.
    Fresh = 0,
    /// Between requests.
    KeepAlive = 1,
    /// Sending a request's line and headers.
    Head = 2,
    /// Sending a request's body.
    Body = 3,
    /// The request is in; the server is working on it or answering.
    Working = 4,
}

impl Phase {
    fn from_u8(value: u8) -> Self {
        match value {
            0 => Phase::Fresh,
            1 => Phase::KeepAlive,
            2 => Phase::Head,
            3 => Phase::Body,
            _ => Phase::Working,
        }
    }

    /// Whether a new connection may take this one's place.
    fn evictable(self) -> bool {
        matches!(self, Phase::Fresh | Phase::KeepAlive | Phase::Head)
    }
}

/// One admitted connection's place. Dropping it frees the place.
pub struct Slot {
    id: u64,
    /// The address the connection came from.
    pub peer: SocketAddr,
    phase: Arc<AtomicU8>,
    evicted: Arc<Notify>,
    connections: Arc<Connections>,
    /// The read waiting on the socket, woken when the phase moves: its timeout changes.
    reader: Mutex<Option<Waker>>,
}

impl Slot {
    /// Wakes `waker` when the connection next moves to another phase.
    pub fn wake_on_move(&self, waker: &Waker) {
        let mut reader = self.reader.lock().unwrap_or_else(|p| p.into_inner());
        if !reader.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *reader = Some(waker.clone());
        }
    }

    /// Where the connection is in its exchange.
    pub fn phase(&self) -> Phase {
        Phase::from_u8(self.phase.load(Ordering::Acquire))
    }

    /// Moves the connection to `phase`.
    pub fn set_phase(&self, phase: Phase) {
        let before = Phase::from_u8(self.phase.swap(phase as u8, Ordering::AcqRel));
        self.moved(before, phase);
    }

    /// Moves the connection from `from` to `to`, only if it is still in `from`.
    pub fn advance(&self, from: Phase, to: Phase) {
        let exchanged =
            self.phase
                .compare_exchange(from as u8, to as u8, Ordering::AcqRel, Ordering::Acquire);
        if exchanged.is_ok() {
            self.moved(from, to);
        }
    }

    /// Keeps the registry's list of evictable connections in step with a move.
    fn moved(&self, before: Phase, after: Phase) {
        if before == after {
            return;
        }
        if let Some(reader) = self.reader.lock().unwrap_or_else(|p| p.into_inner()).take() {
            reader.wake();
        }
        if before.evictable() == after.evictable() {
            return;
        }
        if let Some(entry) = self.connections.lock().entries.get_mut(&self.id)
            && !entry.evicting
        {
            entry.idle_since = after.evictable().then(Instant::now);
        }
        if after.evictable() {
            self.connections.changed.notify_waiters();
        }
    }

    /// Resolves when a new connection needs this one's place, with one log line: the
    /// connection should close.
    pub async fn evicted(&self) {
        self.evicted.notified().await;
        self.log_closed(&format!(
            "its place went to a new connection, all {} being taken (--max-connections)",
            self.connections.cap
        ));
    }

    /// Logs `reason` for closing this connection, as one rate-limited line.
    pub fn log_closed(&self, reason: &str) {
        self.connections
            .log
            .line(&format!("closed {}: {reason}", self.peer));
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.connections.release(self.id);
    }
}

struct Entry {
    peer: IpAddr,
    /// When it last became evictable; `None` while busy, or once asked to close.
    idle_since: Option<Instant>,
    /// Asked to give up its place, and not yet closed.
    evicting: bool,
    phase: Arc<AtomicU8>,
    evicted: Arc<Notify>,
}

#[derive(Default)]
struct Open {
    next_id: u64,
    entries: HashMap<u64, Entry>,
    per_peer: HashMap<IpAddr, usize>,
    /// Connections told to give up their place and not yet closed. Each still holds its
    /// socket, so a new connection waits for it to close rather than go past the cap.
    evicting: usize,
}

impl Open {
    /// The longest-idle connection that could give up its place.
    fn oldest_idle(&self) -> Option<u64> {
        self.entries
            .iter()
            .filter(|(_, e)| {
                e.idle_since.is_some()
                    && Phase::from_u8(e.phase.load(Ordering::Acquire)).evictable()
            })
            .min_by_key(|(_, e)| e.idle_since)
            .map(|(&id, _)| id)
    }
}

/// The connections a server holds, and its caps.
pub struct Connections {
    open: Mutex<Open>,
    cap: usize,
    per_peer: usize,
    /// Signalled when a place frees or a connection becomes evictable.
    changed: Notify,
    log: RateLimitedLog,
}

/// What [`Connections::admit`] decided.
enum Admission {
    Admitted(Slot),
    /// Every place is taken by a busy connection: wait, then ask again.
    Full,
    /// Refused for this reason; the connection is closed.
    Refused(String),
}

impl Connections {
    /// At most `cap` connections, `per_peer` from one address; `name` starts each log line.
    pub fn new(cap: usize, per_peer: usize, name: &'static str) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(Open::default()),
            cap,
            per_peer,
            changed: Notify::new(),
            log: RateLimitedLog::new(name),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Open> {
        self.open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// How many connections are open.
    pub fn count(&self) -> usize {
        self.lock().entries.len()
    }

    fn admit(self: &Arc<Self>, peer: SocketAddr) -> Admission {
        let mut open = self.lock();
        let from_peer = open.per_peer.get(&peer.ip()).copied().unwrap_or(0);
        if from_peer >= self.per_peer {
            return Admission::Refused(format!(
                "{from_peer} connections from {} are open already, the most one address may hold \
                 (--per-peer-connections)",
                peer.ip()
            ));
        }
        if open.entries.len() >= self.cap {
            // Ask the longest-idle connection to close, and come back once it has.
            if open.evicting == 0
                && let Some(id) = open.oldest_idle()
            {
                let entry = open.entries.get_mut(&id).expect("listed");
                entry.idle_since = None;
                entry.evicting = true;
                // `notify_one` keeps the signal if the connection is not waiting for it yet.
                entry.evicted.notify_one();
                open.evicting += 1;
            }
            return Admission::Full;
        }
        open.next_id += 1;
        let id = open.next_id;
        let phase = Arc::new(AtomicU8::new(Phase::Fresh as u8));
        let evicted = Arc::new(Notify::new());
        open.entries.insert(
            id,
            Entry {
                peer: peer.ip(),
                idle_since: Some(Instant::now()),
                evicting: false,
                phase: phase.clone(),
                evicted: evicted.clone(),
            },
        );
        *open.per_peer.entry(peer.ip()).or_default() += 1;
        Admission::Admitted(Slot {
            id,
            peer,
            phase,
            evicted,
            connections: self.clone(),
            reader: Mutex::new(None),
        })
    }

    fn remove(open: &mut Open, id: u64) -> Option<Entry> {
        let entry = open.entries.remove(&id)?;
        if let Some(count) = open.per_peer.get_mut(&entry.peer) {
            *count -= 1;
            if *count == 0 {
                open.per_peer.remove(&entry.peer);
            }
        }
        Some(entry)
    }

    fn release(&self, id: u64) {
        let mut open = self.lock();
        if Self::remove(&mut open, id).is_some_and(|entry| entry.evicting) {
            open.evicting -= 1;
        }
        drop(open);
        self.changed.notify_waiters();
    }

    /// Resolves once a new connection could be admitted: a place is free, or an open
    /// connection could give up its place.
    async fn room(&self) {
        loop {
            let changed = self.changed.notified();
            {
                let open = self.lock();
                if open.entries.len() < self.cap
                    || (open.evicting == 0 && open.oldest_idle().is_some())
                {
                    return;
                }
            }
            // Checked again now and then, in case a phase changed without a signal.
            let _ = tokio::time::timeout(Duration::from_millis(250), changed).await;
        }
    }

    /// Accepts connections on `listener` until `stop` resolves, handing each admitted one to
    /// `serve` on its own task. A refused one is closed with one log line.
    pub async fn accept<F, Fut>(
        self: &Arc<Self>,
        listener: &TcpListener,
        stop: impl Future<Output = ()>,
        serve: F,
    ) where
        F: Fn(TcpStream, Slot) -> Fut,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                () = self.room() => {}
            }
            let (stream, peer) = tokio::select! {
                () = &mut stop => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(error) => {
                        // Out of files, or the client gave up in the queue: wait a moment
                        // rather than spin.
                        self.log.line(&format!("cannot accept a connection: {error}"));
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let slot = loop {
                match self.admit(peer) {
                    Admission::Admitted(slot) => break Some(slot),
                    Admission::Refused(reason) => {
                        self.log.line(&format!("refused {peer}: {reason}"));
                        break None;
                    }
                    Admission::Full => tokio::select! {
                        () = &mut stop => return,
                        () = self.room() => {}
                    },
                }
            };
            if let Some(slot) = slot {
                tokio::spawn(serve(stream, slot));
            }
        }
    }

    /// Waits until every connection has closed, or `grace` has passed.
    pub async fn drained(&self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        loop {
            let changed = self.changed.notified();
            if self.count() == 0 {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return;
            }
        }
    }
}

/// Binds `address` with a listen queue deep enough that clients past the cap wait in it rather
/// than have their connection attempts dropped. Non-blocking, for tokio's `from_std`.
pub fn listen(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    #[cfg(unix)]
    socket.set_reuse_address(true)?;
    socket.bind(&address.into())?;
    socket.listen(4096)?;
    socket.set_nonblocking(true)?;
    Ok(socket.into())
}
