//! Shared helpers for the end-to-end tests: running the built binary with a watchdog, a
//! raw RFC 6455 peer (client and server) on `std::net::TcpStream`, test certificates, and
//! third-party programs (process-group guard, skip-or-fail rule).
//!
//! Tests run in parallel threads of one process: nothing here touches process-global state
//! (environment, current directory); every test gets its own ports and temporary directories.

pub mod certs;
pub mod external;
pub mod proc;
pub mod ws;

pub use proc::{
    exchange, exchange_until, peak_resident_bytes, refused_port, resident_bytes, run, server,
    server_limited, Output, Proc,
};
pub use ws::{Frame, RawServer};

use std::time::{Duration, Instant};

/// Longest any single wait in a test may take; the watchdog kills children after this.
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A short wait used to check that something does *not* happen.
pub const QUIET: Duration = Duration::from_millis(400);

/// Calls `probe` every 10 ms until it returns `Some`, for at most `limit`; returns that
/// value, or `None` if the time ran out.
pub fn poll<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Path of a data file under `tests/`, independent of the current directory.
pub fn data_file(rel: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(rel)
}

/// Writes `total` bytes of a deterministic pseudo-random stream (xorshift from `seed`) to
/// `writer` in chunks of `chunk` bytes; returns the stream's SHA-256, for comparing with what
/// came out at the other end. Panics if the writer fails.
pub fn send_pseudorandom(
    mut writer: impl std::io::Write,
    total: usize,
    chunk: usize,
    seed: u64,
) -> sha2::digest::Output<sha2::Sha256> {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    let mut state = seed;
    let mut buf = vec![0u8; chunk];
    let mut sent = 0;
    while sent < total {
        for b in buf.iter_mut() {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            *b = state as u8;
        }
        writer
            .write_all(&buf)
            .expect("sending the pseudo-random stream");
        hash.update(&buf);
        sent += buf.len();
    }
    hash.finalize()
}
