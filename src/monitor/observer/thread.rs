//! The monitor's own thread: it scores the windows handed to it and
//! publishes totals every `publish_every`.

use super::*;

/// Starts the monitor's thread: it scores the windows it is handed and
/// folds the shards every `publish` (never, when zero). `None` (score
/// inline, publish on reads) if it cannot start.
pub(super) fn spawn_thread(
    monitor: Weak<Monitor>,
    publish: Duration,
) -> Option<(SyncSender<Job>, std::thread::ThreadId)> {
    let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(4);
    // A zero interval means no publishing: wake up only for windows.
    let tick = if publish.is_zero() {
        Duration::from_secs(3_600)
    } else {
        publish
    };
    let handle = std::thread::Builder::new()
        .name("modelhost-monitor".into())
        .spawn(move || {
            // Ends when the monitor, and with it the sender, is dropped.
            loop {
                let job = match rx.recv_timeout(tick) {
                    Ok(job) => Some(job),
                    Err(RecvTimeoutError::Timeout) => None,
                    Err(RecvTimeoutError::Disconnected) => break,
                };
                let Some(m) = monitor.upgrade() else { break };
                match job {
                    Some((completed, reference)) => {
                        let alerts = m.finish(completed, reference);
                        m.dispatch(&alerts);
                        m.scoring.finished();
                    }
                    None if !publish.is_zero() => {
                        m.fold(None, false);
                        m.publish_quality();
                    }
                    None => {}
                }
            }
        })
        .ok()?;
    Some((tx, handle.thread().id()))
}
