//! Print webshop rows and what the registry's production model predicts for
//! them, as JSON.
//!
//! Run with `cargo run --example webshop_predict -- DIR [N]` after
//! `cargo run --example webshop_train -- DIR`. The output,
//! `{"model", "version", "rows": [...], "labels": [...]}`, is what a remote
//! client of `modelhost serve` must get back for the same rows (the HTTP
//! client checks in `tests/python/` compare against it).

mod common;

use modelhost::registry::Registry;
use modelhost::reload::{AliasWatcher, WatchOptions};
use modelhost::{ModelServer, PredictRequest};

fn main() -> modelhost::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = args.next().unwrap_or_else(|| "registry".to_owned());
    let n: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(20);

    // Serve production in-process, exactly as `modelhost serve` would.
    let (server, watcher) = AliasWatcher::serve(
        Registry::open(dir)?,
        "recommender@production".parse()?,
        WatchOptions::new(),
    )?;
    let (rows, _) = common::webshop_data(n, 4242, 0.3);
    let response = server.predict(PredictRequest::rows(&rows[..]))?;
    let labels: Vec<&str> = (0..response.len())
        .map(|i| response.label(i).unwrap_or_default())
        .collect();
    let out = serde_json::json!({
        "model": &*response.model,
        "version": response.version,
        "rows": rows,
        "labels": labels,
    });
    println!("{out}");
    watcher.shutdown();
    Ok(())
}
