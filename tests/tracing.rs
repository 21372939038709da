//! With the `tracing` feature, the crate's events reach a tracing
//! subscriber: an alert fired by the monitor arrives as a WARN event.
#![cfg(feature = "tracing")]

mod support;

use std::sync::{Arc, Mutex};

use modelhost::monitor::{AlertRule, LogSink, Metric, Monitor};
use modelhost::{FeatureMap, InProcessServer, ModelServer, PredictRequest};
use support::MockModel;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Metadata, Subscriber};

/// A subscriber that keeps each event's level, target and message.
#[derive(Default, Clone)]
struct Captured(Arc<Mutex<Vec<(Level, String, String)>>>);

struct Message(String);

impl Visit for Message {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.0 = format!("{value:?}");
        }
    }
}

impl Subscriber for Captured {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, _: &Attributes<'_>) -> Id {
        Id::from_u64(1)
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut message = Message(String::new());
        event.record(&mut message);
        let m = event.metadata();
        self.0
            .lock()
            .unwrap()
            .push((*m.level(), m.target().to_owned(), message.0));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn a_fired_alert_reaches_a_tracing_subscriber() {
    let captured = Captured::default();
    let d = MockModel::new(1).deploy();
    let monitor = Monitor::builder(&d)
        .evaluate_every(1)
        .alert(AlertRule::above(Metric::MeanAbsoluteError, 0.5).min_count(1))
        .sink(Arc::new(LogSink))
        .build()
        .unwrap();
    let server = InProcessServer::builder(d)
        .observer(monitor.clone())
        .build()
        .unwrap();
    tracing::subscriber::with_default(captured.clone(), || {
        server
            .predict(PredictRequest::new(&FeatureMap::new().with("x", 1.0)).with_id("a"))
            .unwrap();
        // The mock predicts its version, 1; the truth is 10: MAE 9.
        assert!(monitor.record_outcome("a", 10.0).unwrap());
    });
    let events = captured.0.lock().unwrap();
    let fired: Vec<_> = events
        .iter()
        .filter(|(_, target, _)| target == "modelhost::monitor")
        .collect();
    assert_eq!(fired.len(), 1, "{events:?}");
    assert_eq!(fired[0].0, Level::WARN);
    assert!(fired[0].2.contains("FIRING"), "{}", fired[0].2);
}
