//! Ports for servers the tests start, stop and start again on the same port.

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::sync::Mutex;

/// A free port from `range` (and, with `Some(offset)`, `port + offset` free
/// too), which this process never hands out again.
///
/// Ranges lie below Linux's ephemeral range (32768 and up), so that while a
/// server is down for a restart no client socket takes its port as a local
/// one, and no readiness probe connects to itself. A port stays this
/// process's until it ends, so no server another test starts meanwhile
/// takes a stopped server's port. The candidates are seeded from the clock
/// and the pid, so concurrent processes walk different sequences.
pub fn reserved_port(range: std::ops::Range<u16>, offset: Option<u16>) -> u16 {
    static HANDED_OUT: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|e| e.into_inner());
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ (u64::from(std::process::id()) << 32);
    let span = u64::from(range.end - range.start);
    for i in 0..2 * span {
        let p = range.start
            + ((seed.wrapping_add(i).wrapping_mul(6364136223846793005) >> 33) % span) as u16;
        let free = |q: u16| TcpListener::bind(("127.0.0.1", q)).is_ok();
        if !handed_out.contains(&p) && free(p) && offset.is_none_or(|o| free(p + o)) {
            handed_out.insert(p);
            return p;
        }
    }
    panic!("no free port in {range:?}");
}
