//! `digits serve` under slow, idle and greedy clients, through the real binary on 127.0.0.1:
//! 2,000 stalled connections under a limit of 1,024 open files, each timeout, the per-address
//! cap, and the bound on images prepared at once. The device server's hostile clients are in
//! `backends.rs`, with the other tests of the remote backend.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::*;
use crate::serve::Server;

pub fn tests() -> Vec<Test> {
    vec![
        test!(
            a_good_request_is_answered_past_2000_stalled_connections,
            OPEN_FILES
        ),
        test!(each_timeout_closes_what_it_should_and_nothing_else),
        test!(one_address_cannot_take_every_place),
        test!(uploads_are_prepared_one_at_a_time_when_asked, MNIST),
    ]
}

/// A small trained model to serve (one epoch of TwoLayerNet on synthetic digits).
fn model(dir: &Path) -> PathBuf {
    train_synthetic(dir, "served", &["--epochs", "1"]).0
}

/// `digits serve` of `model` with `flags`, its open files limited to `files` (soft and hard)
/// where given.
fn serve(model: &Path, flags: &[&str], files: Option<u64>) -> Server {
    let mut command = Digits::new("serve")
        .args(["--addr", "127.0.0.1:0"])
        .model(model)
        .args(flags)
        .command();
    if let Some(files) = files {
        limit_open_files(&mut command, files);
    }
    Server::spawn(command)
}

fn address(server: &Server) -> SocketAddr {
    server
        .url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

/// A connection to `server` from `source` (another loopback address, say).
fn connect_from(source: &str, server: SocketAddr) -> TcpStream {
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&format!("{source}:0").parse::<SocketAddr>().unwrap().into())
        .unwrap();
    socket.connect(&server.into()).unwrap();
    socket.into()
}

/// Sends `GET /api/models` on `stream` and returns the answer's status line, or what went
/// wrong, within `wait`.
fn get_models(stream: &mut TcpStream, wait: Duration) -> String {
    stream.set_read_timeout(Some(wait)).unwrap();
    let sent = stream.write_all(b"GET /api/models HTTP/1.1\r\nHost: digits\r\n\r\n");
    if let Err(e) = sent {
        return format!("cannot send: {e}");
    }
    let mut answer = [0u8; 64];
    match stream.read(&mut answer) {
        Ok(n) => String::from_utf8_lossy(&answer[..n])
            .lines()
            .next()
            .unwrap_or("")
            .to_string(),
        Err(e) => format!("no answer: {e}"),
    }
}

/// How long until the server closes `stream` (reads end of file, or an answer then end of
/// file), at most `wait`; `None` if it is still open then.
fn closed_within(stream: &mut TcpStream, wait: Duration) -> Option<Duration> {
    let started = Instant::now();
    let mut buffer = [0u8; 4096];
    loop {
        let left = wait.checked_sub(started.elapsed())?;
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut buffer) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(started.elapsed());
            }
            Err(_) => return None,
        }
    }
}

/// The scenario: a server limited to 1,024 open files (soft and hard), 1,000
/// connections stalled halfway through their headers and 1,000 stalled in their body, from
/// 127.0.0.1, with the timeouts lowered to 2 s. A good request from 127.0.0.2 is answered
/// within the timeout plus 2 s, and every stalled connection is closed: those the server holds
/// at once within the timeout, those that waited in the queue for a place one timeout later.
fn a_good_request_is_answered_past_2000_stalled_connections() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model(tmp.path());
    let timeout = Duration::from_secs(2);
    let server = serve(
        &model,
        &[
            "--header-timeout",
            "2",
            "--body-timeout",
            "2",
            "--idle-timeout",
            "2",
            // The per-address cap would refuse most of them at once; here the overall cap and
            // the timeouts are under test.
            "--per-peer-connections",
            "5000",
        ],
        Some(1024),
    );
    assert!(
        server.stdout_lines[0].starts_with("Limits: 960 connections"),
        "{:?}",
        server.stdout_lines
    );
    let at = address(&server);
    let started = Instant::now();
    let mut stalled: Vec<TcpStream> = (0..2000)
        .map(|i| {
            let mut stream = TcpStream::connect(at).unwrap();
            let stall: &[u8] = if i < 1000 {
                b"GET /api/models HTTP/1.1\r\nHost: dig"
            } else {
                b"POST /api/predict HTTP/1.1\r\nHost: digits\r\nContent-Type: image/png\r\n\
                  Content-Length: 100000\r\n\r\n\x89PNG"
            };
            stream.write_all(stall).unwrap();
            stream
        })
        .collect();
    let set_up = started.elapsed();

    let asked = Instant::now();
    let answer = get_models(&mut connect_from("127.0.0.2", at), Duration::from_secs(10));
    let waited = asked.elapsed();
    note!(
        "2,000 stalled connections set up in {set_up:.1?}; a good request from 127.0.0.2 \
         answered in {waited:.2?}: {answer}"
    );
    assert_eq!(answer, "HTTP/1.1 200 OK");
    assert!(waited <= timeout + Duration::from_secs(2), "{waited:?}");

    let mut still_open = 0;
    let mut last = Duration::ZERO;
    for stream in &mut stalled {
        let wait = (2 * timeout + Duration::from_secs(2)).saturating_sub(started.elapsed());
        match closed_within(stream, wait) {
            Some(_) => last = started.elapsed(),
            None => still_open += 1,
        }
    }
    note!("every stalled connection closed {last:.2?} after the first connected");
    assert_eq!(still_open, 0, "stalled connections left open");
    let stderr = server.stop_and_read_stderr();
    let lines: Vec<&str> = stderr.lines().collect();
    // A connection stalled in its headers is closed at the header timeout, or sooner when a
    // new connection needs its place.
    assert!(
        lines
            .iter()
            .any(|l| l.contains("no complete request headers within 2 s")
                || l.contains("its place went to a new connection, all 960 being taken")),
        "{stderr}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("the request's body paused for 2 s")),
        "{stderr}"
    );
    // One line per connection at most ten a second, not 2,000 lines.
    assert!(lines.len() < 200, "{} log lines", lines.len());
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Each timeout as documented (2 s each here): a client trickling its headers a byte at a time
/// is closed at the header timeout all the same; a keep-alive connection left idle is closed at
/// the idle timeout; a body that stops for the body timeout gets a 408; and a slow upload that
/// never pauses that long is read to its end, however long it takes.
fn each_timeout_closes_what_it_should_and_nothing_else() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model(tmp.path());
    let server = serve(
        &model,
        &[
            "--header-timeout",
            "2",
            "--body-timeout",
            "2",
            "--idle-timeout",
            "1",
        ],
        None,
    );
    let at = address(&server);
    let near = |got: Duration, want: f64| {
        let got = got.as_secs_f64();
        assert!(
            (want - 0.2..want + 1.0).contains(&got),
            "{got} s, not {want}"
        );
    };

    // Headers trickled a byte every 0.25 s: closed 2 s after the connection started.
    let mut trickle = TcpStream::connect(at).unwrap();
    let started = Instant::now();
    trickle
        .set_read_timeout(Some(Duration::from_millis(250)))
        .unwrap();
    let mut closed = None;
    for byte in b"GET /api/models HTTP/1.1\r\nHost: digits\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaa" {
        if trickle.write_all(&[*byte]).is_err() {
            closed = Some(started.elapsed());
            break;
        }
        let mut buffer = [0u8; 64];
        let read = trickle.read(&mut buffer);
        let timed_out = read.as_ref().is_err_and(|e| {
            matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            )
        });
        if !timed_out {
            closed = Some(started.elapsed());
            break;
        }
    }
    let closed = closed.expect("the trickling client was never closed");
    note!("headers trickled a byte every 0.25 s: closed after {closed:.2?}");
    near(closed, 2.0);

    // A keep-alive connection, answered, then idle.
    let mut idle = TcpStream::connect(at).unwrap();
    assert_eq!(
        get_models(&mut idle, Duration::from_secs(5)),
        "HTTP/1.1 200 OK"
    );
    let idled = closed_within(&mut idle, Duration::from_secs(5)).expect("closed when idle");
    note!("an idle keep-alive connection: closed after {idled:.2?}");
    near(idled, 1.0);

    // A body that stops: 408, then closed.
    let mut stops = TcpStream::connect(at).unwrap();
    stops
        .write_all(
            b"POST /api/predict HTTP/1.1\r\nHost: digits\r\nContent-Type: image/png\r\n\
              Content-Length: 1000\r\n\r\n\x89PNG",
        )
        .unwrap();
    let started = Instant::now();
    stops
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut answer = String::new();
    let _ = stops.read_to_string(&mut answer);
    note!(
        "a body stopped after 4 bytes: {:?} after {:.2?}",
        answer.lines().next(),
        started.elapsed()
    );
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("--body-timeout"), "{answer}");
    near(started.elapsed(), 2.0);

    // A slow upload: 12 pieces 0.5 s apart, 6 s in all, three times the body timeout.
    let mut slow = TcpStream::connect(at).unwrap();
    let body = b"not an image, only slow";
    write!(
        slow,
        "POST /api/predict HTTP/1.1\r\nHost: digits\r\nContent-Type: image/png\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    let started = Instant::now();
    for piece in body.chunks(2) {
        std::thread::sleep(Duration::from_millis(500));
        slow.write_all(piece).unwrap();
    }
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = [0u8; 256];
    let n = slow.read(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer[..n]);
    note!(
        "a 6 s upload never pausing 2 s: {:?} after {:.2?}",
        answer.lines().next(),
        started.elapsed()
    );
    // Read to its end: the answer is about the bytes (not an image), not a timeout.
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("image"), "{answer}");
}

/// With `--per-peer-connections 20`, the 21st connection from one address is refused at once
/// with one log line, while another address is still answered.
fn one_address_cannot_take_every_place() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model(tmp.path());
    let server = serve(&model, &["--per-peer-connections", "20"], None);
    let at = address(&server);
    let mut held: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(at).unwrap()).collect();
    // The server has seen all twenty once one of them is answered.
    assert_eq!(
        get_models(&mut held[19], Duration::from_secs(5)),
        "HTTP/1.1 200 OK"
    );
    let mut one_more = TcpStream::connect(at).unwrap();
    let refused = closed_within(&mut one_more, Duration::from_secs(2));
    note!("the 21st connection from 127.0.0.1: closed after {refused:.2?}");
    assert!(refused.is_some(), "the 21st connection was let in");
    assert_eq!(
        get_models(&mut connect_from("127.0.0.2", at), Duration::from_secs(5)),
        "HTTP/1.1 200 OK"
    );
    drop(held);
    let stderr = server.stop_and_read_stderr();
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("digits serve: refused 127.0.0.1:")
                && l.ends_with(
                    "20 connections from 127.0.0.1 are open already, the most one address may \
                 hold (--per-peer-connections)"
                )),
        "{stderr}"
    );
}

/// Four 12-megapixel photos sent at once: with `--max-preparing 1` they are prepared in turn,
/// and the server's peak memory grows by less than three quarters of what it grows by with
/// `--max-preparing 4`, where all four are prepared together.
fn uploads_are_prepared_one_at_a_time_when_asked() {
    let tmp = tempfile::tempdir().unwrap();
    let model = model(tmp.path());
    let photo = crate::serve::twelve_megapixel_photo();
    let growth = |max_preparing: &str| {
        let server = serve(&model, &["--max-preparing", max_preparing], None);
        let at = address(&server);
        let before = server.peak_rss_kib();
        std::thread::scope(|scope| {
            let sent: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| post_jpeg(at, &photo)))
                .collect();
            for answer in sent {
                assert_eq!(answer.join().unwrap(), "HTTP/1.1 200 OK");
            }
        });
        (server.peak_rss_kib() - before) / 1024
    };
    let (one, four) = (growth("1"), growth("4"));
    note!(
        "peak RSS growth over four 12-megapixel photos sent at once: {one} MiB with \
         --max-preparing 1, {four} MiB with --max-preparing 4"
    );
    assert!(one * 4 < four * 3, "{one} MiB against {four} MiB");
}

/// POSTs `jpeg` to `/api/predict` and returns the answer's status line.
fn post_jpeg(at: SocketAddr, jpeg: &[u8]) -> String {
    let mut stream = TcpStream::connect(at).unwrap();
    write!(
        stream,
        "POST /api/predict HTTP/1.1\r\nHost: digits\r\nContent-Type: image/jpeg\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        jpeg.len()
    )
    .unwrap();
    stream.write_all(jpeg).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    answer.lines().next().unwrap_or("").to_string()
}
