//! What a server lets one connection, one address and everyone together hold, and for how long.

use std::time::Duration;

/// The limits a server keeps. nginx's defaults are the anchor: a minute to send headers or the
/// next piece of a body, keep-alive connections closed when idle, and fewer connections than
/// the process may open files.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// How long a client has to send a request's line and headers: from the connection's start
    /// for its first request, from the first byte for the next ones.
    pub header_timeout: Duration,
    /// The longest pause in a request's body, or in the client's reading of the answer. A pause,
    /// not a total: a phone sending a 5 MB photo over a slow link is not cut off while it sends.
    pub body_timeout: Duration,
    /// How long a connection with no request in progress stays open.
    pub idle_timeout: Duration,
    /// The most connections open at once; `None`: as many as the file limit leaves room for.
    pub max_connections: Option<usize>,
    /// The most connections open at once from one IP address.
    pub per_peer: usize,
}

impl Limits {
    /// `digits serve`'s defaults: a page and a JSON API answered in milliseconds.
    pub fn page() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(20),
            max_connections: None,
            per_peer: 256,
        }
    }

    /// `digits device-server`'s defaults: few clients, each a training run that holds its
    /// connection for hours and may pause while it evaluates or writes a checkpoint.
    pub fn device() -> Self {
        Self {
            header_timeout: Duration::from_secs(30),
            body_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(600),
            max_connections: None,
            per_peer: 32,
        }
    }
}

/// One line for the server's start: its limits, with the cap in force.
pub fn describe(limits: &Limits, cap: usize) -> String {
    format!(
        "Limits: {cap} connections, {} per address; {} s for headers, {} s of pause in a body, \
         {} s idle (see --help)",
        limits.per_peer,
        limits.header_timeout.as_secs_f64(),
        limits.body_timeout.as_secs_f64(),
        limits.idle_timeout.as_secs_f64()
    )
}

/// Files kept back from the connection cap for everything else the server opens: its models,
/// its log, the runtime's own descriptors.
const RESERVED_FILES: u64 = 64;

/// The connection cap: `asked` where given, else what the file limit leaves room for.
///
/// First raises the soft limit on open files to the hard one, as servers commonly do, so that
/// a shell's usual 1,024 does not cap a server the system allows more. Where `asked` does not
/// fit under the limit, it is an error that says so.
pub fn connection_cap(asked: Option<usize>) -> Result<usize, String> {
    let files = raise_file_limit();
    let room = files.saturating_sub(RESERVED_FILES).max(1);
    let room = usize::try_from(room).unwrap_or(usize::MAX);
    match asked {
        Some(0) => Err("--max-connections must be at least 1".into()),
        Some(n) if n > room => Err(format!(
            "--max-connections {n} does not fit under this process's limit of {files} open files \
             ({RESERVED_FILES} kept for the server itself); raise it with `ulimit -n` or ask for \
             at most {room}"
        )),
        Some(n) => Ok(n),
        // Past a few thousand, memory and threads run out before files do.
        None => Ok(room.min(16_384)),
    }
}

/// Raises the soft limit on open files to the hard one, returning the soft limit now in force
/// (unlimited reads as `u64::MAX`).
fn raise_file_limit() -> u64 {
    #[cfg(unix)]
    {
        match rlimit::Resource::NOFILE.get() {
            Ok((soft, hard)) if soft < hard => match rlimit::Resource::NOFILE.set(hard, hard) {
                Ok(()) => hard,
                Err(_) => soft,
            },
            Ok((soft, _)) => soft,
            Err(_) => 1024,
        }
    }
    #[cfg(not(unix))]
    {
        // Windows has no per-process file limit that sockets count against.
        u64::MAX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_stays_under_the_file_limit() {
        let soft = rlimit::Resource::NOFILE.get().unwrap().0;
        let cap = connection_cap(None).unwrap();
        let now = rlimit::Resource::NOFILE.get().unwrap().0;
        assert!(now >= soft, "the soft limit only rises");
        assert!((cap as u64) < now);
        let error = connection_cap(Some(usize::MAX)).unwrap_err();
        assert!(error.starts_with("--max-connections"), "{error}");
        assert_eq!(connection_cap(Some(5)), Ok(5));
    }
}
