//! The stream transport against a real NATS server with JetStream
//! (`nats-server` on 127.0.0.1, a temporary store): every event gets exactly
//! one output or one dead letter, through broker restarts, consumer kills,
//! swaps, failing models and a slow model.
//!
//! Without `nats-server` on the PATH (or in /usr/sbin) the tests say so and
//! pass, unless `MODELHOST_REQUIRE_NATS` is set, as CI does: then they fail.
//! `MODELHOST_STREAM_EVENTS` sets the event count of the large test
//! (default 20,000; CI runs 100,000).

#[path = "../examples/common/mod.rs"]
mod common;
#[path = "support/ports.rs"]
mod ports;
mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::{self, Context};
use futures_util::StreamExt;
use modelhost::registry::Registry;
use modelhost::transport::stream::nats::{NatsConfig, NatsStream};
use modelhost::transport::stream::{StreamCounts, StreamOptions, StreamOutput};
use modelhost::{FeatureMap, InProcessServer, ModelServer, PredictRequest, Serving};
use tokio::sync::oneshot;

const INPUT: &str = "shop.events";
const OUTPUT: &str = "shop.predictions";
const DEAD: &str = "shop.dead";

/// A nats-server with JetStream, restartable on the same port and store.
struct Nats {
    binary: PathBuf,
    port: u16,
    store: tempfile::TempDir,
    /// The server's output, appended across restarts, shown if it exits
    /// while starting.
    log: tempfile::NamedTempFile,
    child: Option<Child>,
}

impl Nats {
    /// Starts a server, or `None` (with a note) when there is no binary and
    /// CI does not require one.
    fn start() -> Option<Self> {
        let binary = [
            "nats-server",
            "/usr/sbin/nats-server",
            "/usr/bin/nats-server",
        ]
        .iter()
        .map(PathBuf::from)
        .find(|p| {
            Command::new(p)
                .arg("--version")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success())
        });
        let Some(binary) = binary else {
            assert!(
                std::env::var_os("MODELHOST_REQUIRE_NATS").is_none(),
                "MODELHOST_REQUIRE_NATS is set but nats-server is not installed"
            );
            eprintln!("nats-server not found: skipping (install Debian's nats-server to run)");
            return None;
        };
        // Below the ephemeral range, and reserved for this process, so the
        // port is still free when the broker restarts.
        let port = ports::reserved_port(30000..32000, None);
        let mut nats = Self {
            binary,
            port,
            store: tempfile::tempdir().unwrap(),
            log: tempfile::NamedTempFile::new().unwrap(),
            child: None,
        };
        nats.spawn();
        Some(nats)
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        let log = || {
            std::fs::OpenOptions::new()
                .append(true)
                .open(self.log.path())
                .unwrap()
        };
        let child = Command::new(&self.binary)
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-sd")
            .arg(self.store.path())
            .stdout(log())
            .stderr(log())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                let log = std::fs::read(self.log.path()).unwrap_or_default();
                let tail = &log[log.len().saturating_sub(2000)..];
                panic!(
                    "nats-server on port {} exited ({status}):\n{}",
                    self.port,
                    String::from_utf8_lossy(tail)
                );
            }
            assert!(Instant::now() < deadline, "nats-server did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGKILL: no clean shutdown of the store.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Kills a child process however the test ends.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn jetstream(url: &str) -> Context {
    let client = async_nats::ConnectOptions::new()
        .reconnect_delay_callback(|_| Duration::from_millis(100))
        .connect(url)
        .await
        .unwrap();
    jetstream::new(client)
}

/// Publishes `events` (payloads) with de-duplication ids `in-I`, waiting for
/// every acknowledgement, in pipelined chunks.
async fn publish(js: &Context, first: usize, events: &[Vec<u8>]) {
    for (c, chunk) in events.chunks(500).enumerate() {
        let mut acks = Vec::with_capacity(chunk.len());
        for (i, payload) in chunk.iter().enumerate() {
            let id = format!("in-{}", first + c * 500 + i);
            let msg = jetstream::message::PublishMessage::build()
                .payload(payload.clone().into())
                .message_id(id);
            acks.push(js.send_publish(INPUT, msg).await.unwrap());
        }
        for ack in acks {
            ack.await.unwrap();
        }
    }
}

/// Ensures the input stream exists before events are published.
async fn input_stream(js: &Context) {
    js.get_or_create_stream(jetstream::stream::Config {
        name: "MODELHOST_EVENTS".into(),
        subjects: vec![INPUT.into()],
        ..Default::default()
    })
    .await
    .unwrap();
}

/// Messages in the output stream (outputs and dead letters), or 0 while it
/// does not exist or the broker is away.
async fn outputs_stored(js: &Context) -> u64 {
    match js.get_stream("MODELHOST_PREDICTIONS").await {
        Ok(mut s) => s.info().await.map_or(0, |i| i.state.messages),
        Err(_) => 0,
    }
}

/// Waits until the output stream holds `n` messages.
async fn wait_for_outputs(js: &Context, n: u64, limit: Duration) {
    let deadline = Instant::now() + limit;
    loop {
        let stored = outputs_stored(js).await;
        if stored >= n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{stored} of {n} outputs after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// What the output stream holds, by input sequence.
#[derive(Debug, Default)]
struct Collected {
    outputs: BTreeMap<u64, StreamOutput>,
    dead: BTreeMap<u64, (String, u64, Vec<u8>)>,
    /// Input sequences seen more than once.
    repeated: Vec<u64>,
}

async fn collect(js: &Context) -> Collected {
    let mut stream = js.get_stream("MODELHOST_PREDICTIONS").await.unwrap();
    let total = stream.info().await.unwrap().state.messages;
    let consumer: PullConsumer = stream
        .create_consumer(pull::Config {
            ack_policy: AckPolicy::None,
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut messages = consumer
        .stream()
        .max_messages_per_batch(1000)
        .messages()
        .await
        .unwrap();
    let mut got = Collected::default();
    let mut seen = BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    for _ in 0..total {
        let m = tokio::time::timeout_at(deadline.into(), messages.next())
            .await
            .expect("reading the outputs took over 60 s")
            .unwrap()
            .unwrap();
        let sequence = if m.subject.as_str() == OUTPUT {
            let out: StreamOutput = serde_json::from_slice(&m.payload).unwrap();
            let s = out.input.sequence;
            got.outputs.insert(s, out);
            s
        } else {
            assert_eq!(m.subject.as_str(), DEAD);
            let h = m.headers.as_ref().unwrap();
            let get = |k: &str| h.get(k).unwrap().as_str().to_owned();
            let s: u64 = get("Modelhost-Input-Sequence").parse().unwrap();
            let deliveries: u64 = get("Modelhost-Deliveries").parse().unwrap();
            got.dead.insert(
                s,
                (get("Modelhost-Error-Kind"), deliveries, m.payload.to_vec()),
            );
            s
        };
        if !seen.insert(sequence) {
            got.repeated.push(sequence);
        }
    }
    got
}

/// `n` webshop events; every 101st is malformed JSON and every 101st from
/// 50 on violates the schema (a negative basket).
fn shop_events(n: usize, seed: u64) -> (Vec<Vec<u8>>, BTreeMap<usize, &'static str>) {
    let (rows, _) = common::webshop_data(n, seed, 0.0);
    let mut poison = BTreeMap::new();
    let events = rows
        .iter()
        .enumerate()
        .map(|(i, row)| {
            if i % 101 == 0 {
                poison.insert(i, "malformed");
                format!("{{not json {i}").into_bytes()
            } else if i % 101 == 50 {
                poison.insert(i, "schema");
                let mut bad = row.clone();
                bad.insert("basket_value", -5.0);
                serde_json::to_vec(&bad).unwrap()
            } else {
                serde_json::to_vec(row).unwrap()
            }
        })
        .collect();
    (events, poison)
}

/// Checks that events 1..=n (stream sequences) each have exactly one output
/// or one dead letter, that poison went to the dead letters with its reason
/// and original payload, and that nothing was repeated.
fn assert_exactly_once(got: &Collected, events: &[Vec<u8>], poison: &BTreeMap<usize, &str>) {
    assert!(got.repeated.is_empty(), "repeated: {:?}", got.repeated);
    let n = events.len() as u64;
    for seq in 1..=n {
        let index = (seq - 1) as usize;
        match poison.get(&index) {
            Some(kind) => {
                let (k, _, payload) = got
                    .dead
                    .get(&seq)
                    .unwrap_or_else(|| panic!("event {seq} has no dead letter"));
                assert_eq!(k, kind, "event {seq}");
                assert_eq!(payload, &events[index], "event {seq}: the original payload");
            }
            None => {
                let out = got
                    .outputs
                    .get(&seq)
                    .unwrap_or_else(|| panic!("event {seq} has no output"));
                assert_eq!(out.predictions.len(), 1);
                assert_eq!(out.id, format!("MODELHOST_EVENTS:{seq}"));
            }
        }
    }
    assert_eq!((got.outputs.len() + got.dead.len()) as u64, n);
}

fn shop_registry(dir: &Path) -> Registry {
    let reg = Registry::open(dir).unwrap();
    reg.register(common::tree_artifact("shop", 300, 5, 3).unwrap())
        .unwrap();
    reg.register(common::tree_artifact("shop", 400, 9, 6).unwrap())
        .unwrap();
    reg.set_alias("shop", "production", 1).unwrap();
    reg
}

/// Runs the in-process loop until told to stop.
fn spawn_loop(
    stream: NatsStream,
    server: Arc<dyn ModelServer>,
    options: StreamOptions,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<StreamCounts>) {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(stream.run(server, options, async {
        let _ = stopped.await;
    }));
    (stop, task)
}

fn config(nats: &Nats) -> NatsConfig {
    NatsConfig::new(nats.url(), INPUT, OUTPUT).dead_letter_subject(DEAD)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_event_gets_exactly_one_output_or_dead_letter() {
    let Some(nats) = Nats::start() else { return };
    let n: usize = std::env::var("MODELHOST_STREAM_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().unwrap();
    let reg = shop_registry(dir.path());
    let server: Arc<dyn ModelServer> = Arc::new(
        Serving::from_registry(&reg, "shop@production")
            .unwrap()
            .start()
            .unwrap(),
    );
    let js = jetstream(&nats.url()).await;
    input_stream(&js).await;
    let (events, poison) = shop_events(n, 1);
    publish(&js, 0, &events).await;

    let stream = NatsStream::connect(config(&nats)).await.unwrap();
    let (stop, task) = spawn_loop(stream, server.clone(), StreamOptions::new());
    wait_for_outputs(&js, n as u64, Duration::from_secs(600)).await;
    stop.send(()).unwrap();
    let counts = task.await.unwrap();

    let got = collect(&js).await;
    assert_exactly_once(&got, &events, &poison);
    assert_eq!(counts.published as usize, n - poison.len());
    assert_eq!(counts.dead_lettered as usize, poison.len());
    assert_eq!(counts.broker_errors, 0);
    // Each output is what the model predicts for its event.
    for (seq, out) in got.outputs.iter().step_by(97) {
        let row: FeatureMap = serde_json::from_slice(&events[(*seq - 1) as usize]).unwrap();
        let want = server.predict(PredictRequest::new(&row)).unwrap();
        assert_eq!(out.version, 1);
        assert_eq!(out.predictions[0], want.get(0).unwrap());
    }
    // Nothing is left unacknowledged.
    let mut consumer: PullConsumer = js
        .get_stream("MODELHOST_EVENTS")
        .await
        .unwrap()
        .get_consumer("modelhost")
        .await
        .unwrap();
    let info = consumer.info().await.unwrap();
    assert_eq!((info.num_ack_pending, info.num_pending), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_mid_stream_loses_and_repeats_nothing() {
    let Some(mut nats) = Nats::start() else {
        return;
    };
    let n = 6_000;
    let dir = tempfile::tempdir().unwrap();
    let reg = shop_registry(dir.path());
    let server: Arc<dyn ModelServer> = Arc::new(
        Serving::from_registry(&reg, "shop@production")
            .unwrap()
            .start()
            .unwrap(),
    );
    let (events, poison) = shop_events(n, 2);
    let js = jetstream(&nats.url()).await;
    input_stream(&js).await;
    publish(&js, 0, &events[..n / 2]).await;

    let stream = NatsStream::connect(config(&nats)).await.unwrap();
    let (stop, task) = spawn_loop(stream, server, StreamOptions::new());
    wait_for_outputs(&js, n as u64 / 8, Duration::from_secs(120)).await;
    nats.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    nats.spawn();
    // The second half arrives after the restart.
    let js = jetstream(&nats.url()).await;
    publish(&js, n / 2, &events[n / 2..]).await;
    wait_for_outputs(&js, n as u64, Duration::from_secs(300)).await;
    stop.send(()).unwrap();
    let counts = task.await.unwrap();
    eprintln!("after a broker restart: {counts:?}");
    let got = collect(&js).await;
    assert_exactly_once(&got, &events, &poison);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_consumer_resumes_where_it_stopped() {
    let Some(nats) = Nats::start() else { return };
    let n = 8_000;
    let dir = tempfile::tempdir().unwrap();
    let _reg = shop_registry(dir.path());
    let (events, poison) = shop_events(n, 3);
    let js = jetstream(&nats.url()).await;
    input_stream(&js).await;
    publish(&js, 0, &events).await;

    let start = || {
        let mut child = Command::new(env!("CARGO_BIN_EXE_modelhost"))
            .args(["stream", "--registry", dir.path().to_str().unwrap()])
            .args(["--model", "shop@production", "--nats", &nats.url()])
            .args(["--input", INPUT, "--output", OUTPUT, "--dead-letter", DEAD])
            .args(["--max-in-flight", "32"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        (Guard(child), stdout)
    };
    // Killed (SIGKILL) three times mid-stream, then left to finish.
    for round in 1..=3u64 {
        let (guard, _out) = start();
        wait_for_outputs(&js, n as u64 * round / 5, Duration::from_secs(300)).await;
        drop(guard);
    }
    let (mut guard, out) = start();
    wait_for_outputs(&js, n as u64, Duration::from_secs(300)).await;
    // A clean stop: SIGTERM, exit 0, a summary line.
    let pid = guard.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = guard.0.wait().unwrap();
    assert!(status.success(), "{status}");
    let text = std::io::read_to_string(out).unwrap();
    assert!(text.contains("stopped:"), "{text}");
    let got = collect(&js).await;
    assert_exactly_once(&got, &events, &poison);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_mid_stream_fails_nothing_and_each_output_names_its_version() {
    let Some(nats) = Nats::start() else { return };
    let n = 6_000;
    let dir = tempfile::tempdir().unwrap();
    let reg = shop_registry(dir.path());
    let served = Serving::from_registry(&reg, "shop@production")
        .unwrap()
        .watch_every(Duration::from_millis(20))
        .start()
        .unwrap();
    let server: Arc<dyn ModelServer> = Arc::new(served);
    let (events, poison) = shop_events(n, 4);
    let js = jetstream(&nats.url()).await;
    input_stream(&js).await;
    publish(&js, 0, &events[..n / 2]).await;
    let stream = NatsStream::connect(config(&nats)).await.unwrap();
    let (stop, task) = spawn_loop(stream, server, StreamOptions::new());
    wait_for_outputs(&js, n as u64 / 4, Duration::from_secs(120)).await;
    reg.set_alias("shop", "production", 2).unwrap();
    publish(&js, n / 2, &events[n / 2..]).await;
    wait_for_outputs(&js, n as u64, Duration::from_secs(300)).await;
    stop.send(()).unwrap();
    let counts = task.await.unwrap();
    let got = collect(&js).await;
    assert_exactly_once(&got, &events, &poison);
    assert_eq!(counts.retried, 0);
    // Both versions served, and each output is what its version predicts.
    let by_version = |v: u64| {
        let reference = format!("shop/{v}").parse().unwrap();
        let loaded = reg
            .load(&reference, modelhost::artifact::ReadOptions::new())
            .unwrap();
        InProcessServer::new(loaded.deployment().unwrap()).unwrap()
    };
    let models = [by_version(1), by_version(2)];
    let mut seen = BTreeSet::new();
    for (seq, out) in &got.outputs {
        seen.insert(out.version);
        let row: FeatureMap = serde_json::from_slice(&events[(*seq - 1) as usize]).unwrap();
        let want = models[out.version as usize - 1]
            .predict(PredictRequest::new(&row))
            .unwrap();
        assert_eq!(out.predictions[0], want.get(0).unwrap(), "event {seq}");
    }
    assert_eq!(seen, BTreeSet::from([1, 2]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_events_are_retried_a_bounded_number_of_times_then_dead_lettered() {
    use support::{FAIL, MockModel, POISON};
    let Some(nats) = Nats::start() else { return };
    let server: Arc<dyn ModelServer> =
        Arc::new(InProcessServer::new(MockModel::new(1).deploy()).unwrap());
    let xs = [1.0, FAIL, 2.0, POISON, 3.0, 2000.0, 4.0];
    let events: Vec<Vec<u8>> = xs
        .iter()
        .map(|x| format!(r#"{{"id": "e{x}", "features": {{"x": {x}}}}}"#).into_bytes())
        .collect();
    let js = jetstream(&nats.url()).await;
    input_stream(&js).await;
    publish(&js, 0, &events).await;
    let stream = NatsStream::connect(config(&nats)).await.unwrap();
    let options = StreamOptions::new()
        .max_deliver(3)
        .retry_delay(Duration::from_millis(50));
    let (stop, task) = spawn_loop(stream, server, options);
    wait_for_outputs(&js, xs.len() as u64, Duration::from_secs(60)).await;
    stop.send(()).unwrap();
    let counts = task.await.unwrap();
    let got = collect(&js).await;
    assert!(got.repeated.is_empty());
    // The failing and the panicking event: three deliveries, then a dead
    // letter of kind `model`; the schema violation: one, kind `schema`.
    assert_eq!(got.dead[&2].0, "model");
    assert_eq!(got.dead[&2].1, 3);
    assert_eq!(got.dead[&4].0, "model");
    assert_eq!(got.dead[&4].1, 3);
    assert_eq!(got.dead[&6].0, "schema");
    assert_eq!(got.dead[&6].1, 1);
    assert_eq!(got.dead[&6].2, events[5]);
    assert_eq!(counts.retried, 4);
    let ids: Vec<&str> = got.outputs.values().map(|o| o.id.as_str()).collect();
    assert_eq!(ids, ["e1", "e2", "e3", "e4"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_model_holds_the_broker_back_and_shutdown_acknowledges_only_finished_events() {
    use support::MockModel;
    let Some(nats) = Nats::start() else { return };
    let slow = MockModel::new(1).latency(Duration::from_millis(5), Duration::ZERO);
    let server: Arc<dyn ModelServer> = Arc::new(InProcessServer::new(slow.deploy()).unwrap());
    let n = 400;
    let events: Vec<Vec<u8>> = (0..n)
        // 0..=9: clear of the mock's failing (13) and panicking (666) values.
        .map(|i| format!(r#"{{"x": {}}}"#, i % 10).into_bytes())
        .collect();
    let js = jetstream(&nats.url()).await;
    input_stream(&js).await;
    publish(&js, 0, &events).await;
    let config = config(&nats).max_ack_pending(8).pull_batch(4);
    let stream = NatsStream::connect(config.clone()).await.unwrap();
    let (stop, task) = spawn_loop(stream, server.clone(), StreamOptions::new());
    let mut consumer: PullConsumer = js
        .get_stream("MODELHOST_EVENTS")
        .await
        .unwrap()
        .get_consumer("modelhost")
        .await
        .unwrap();
    let mut most = 0;
    for _ in 0..40 {
        let info = consumer.info().await.unwrap();
        most = most.max(info.num_ack_pending);
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(most <= 8, "{most} events unacknowledged, the limit is 8");
    assert!(most > 0, "the consumer never had events in flight");
    stop.send(()).unwrap();
    let counts = task.await.unwrap();
    assert!(counts.published < n as u64, "stopped before the end");
    // Every acknowledged event has its output: the acknowledgement floor
    // never passes an event without one.
    let floor = consumer.info().await.unwrap().ack_floor.stream_sequence;
    let got = collect(&js).await;
    for seq in 1..=floor {
        assert!(
            got.outputs.contains_key(&seq),
            "event {seq} acked without output"
        );
    }
    assert_eq!(got.outputs.len() as u64, counts.published);
    // A new consumer finishes the rest, each event once.
    let stream = NatsStream::connect(config).await.unwrap();
    let (stop, task) = spawn_loop(stream, server, StreamOptions::new());
    wait_for_outputs(&js, n as u64, Duration::from_secs(120)).await;
    stop.send(()).unwrap();
    task.await.unwrap();
    let got = collect(&js).await;
    assert!(got.repeated.is_empty(), "{:?}", got.repeated);
    assert_eq!(got.outputs.len(), n);
}
