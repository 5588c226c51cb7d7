//! Turning a panic into an error: burn-dataset's download and a backend's device probe report
//! failure by panicking, and so does a device that fails in the middle of a run (a lost GPU, a
//! server gone) deep inside Burn. A user should see one line, not a backtrace.

use std::panic;
use std::sync::Mutex;

/// Runs `f`, returning the message of a panic instead of printing it.
pub(crate) fn quietly<T>(f: impl FnOnce() -> T + panic::UnwindSafe) -> Result<T, String> {
    silenced(|| caught(f))
}

/// Runs `f` with panics printing nothing, in any thread.
fn silenced<T>(f: impl FnOnce() -> T) -> T {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(panic::AssertUnwindSafe(f));
    panic::set_hook(previous);
    result.unwrap_or_else(|payload| panic::resume_unwind(payload))
}

/// Runs `f`, turning a panic into its message.
fn caught<T>(f: impl FnOnce() -> T + panic::UnwindSafe) -> Result<T, String> {
    panic::catch_unwind(f).map_err(|payload| message(payload.as_ref()))
}

/// The text of a panic's payload.
fn message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown error".into())
}

/// The first panic of a thread other than the main one: a backend's worker, whose failure the
/// main thread then meets as a bare "disconnected".
static WORKER_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// From now on, a panic on the main thread prints one line, `error: ...`, naming what failed
/// (a worker thread's panic first, where there was one), and the process exits non-zero. A
/// worker's own panic is kept for that line rather than printed.
pub fn as_one_line_errors() {
    panic::set_hook(Box::new(|info| {
        let text = message(info.payload());
        // Burn's `into_data`/`into_scalar` add advice for programmers before the real error.
        let text = match text.split_once("at runtime: ") {
            Some((_, cause)) => cause.to_string(),
            None => text,
        };
        let first_line = text.lines().next().unwrap_or_default().to_string();
        if std::thread::current().name() != Some("main") {
            let mut worker = WORKER_PANIC.lock().unwrap_or_else(|e| e.into_inner());
            worker.get_or_insert(first_line);
            return;
        }
        match WORKER_PANIC.lock().ok().and_then(|mut w| w.take()) {
            Some(worker) => eprintln!("error: the backend failed: {worker} ({first_line})"),
            None => eprintln!("error: {first_line}"),
        }
    }));
}
