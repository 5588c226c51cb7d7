//! Turning a dependency's panic into an error: burn-dataset's download and a backend's device
//! probe report failure by panicking, and a user should see one line, not a backtrace.

use std::panic;

/// Runs `f`, returning the message of a panic instead of printing it.
pub(crate) fn quietly<T>(f: impl FnOnce() -> T + panic::UnwindSafe) -> Result<T, String> {
    let previous = panic::take_hook();
    panic::set_hook(Box::new(|_| {}));
    let result = panic::catch_unwind(f);
    panic::set_hook(previous);
    result.map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "unknown error".into())
    })
}
