//! The servers' log of refused and closed connections, one line each, rate-limited so that an
//! attack cannot fill the disk with it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines printed per window at most; the rest are counted and the count printed later.
const LINES_PER_WINDOW: usize = 10;
const WINDOW: Duration = Duration::from_secs(1);

/// One-line messages on stderr, at most [`LINES_PER_WINDOW`] a second.
pub struct RateLimitedLog {
    name: &'static str,
    state: Mutex<Window>,
}

struct Window {
    started: Instant,
    printed: usize,
    dropped: usize,
}

impl RateLimitedLog {
    /// A log whose lines start with `name` (the server's: `digits serve`).
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            state: Mutex::new(Window {
                started: Instant::now(),
                printed: 0,
                dropped: 0,
            }),
        }
    }

    /// Prints `message`, unless this second's lines are spent.
    pub fn line(&self, message: &str) {
        let mut window = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        if now.duration_since(window.started) >= WINDOW {
            if window.dropped > 0 {
                eprintln!(
                    "{}: {} more such lines in {:.0} s were not shown",
                    self.name,
                    window.dropped,
                    now.duration_since(window.started).as_secs_f64().ceil()
                );
            }
            *window = Window {
                started: now,
                printed: 0,
                dropped: 0,
            };
        }
        if window.printed < LINES_PER_WINDOW {
            window.printed += 1;
            eprintln!("{}: {message}", self.name);
        } else {
            window.dropped += 1;
        }
    }
}
