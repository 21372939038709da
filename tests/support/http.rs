//! A real HTTP server on a loopback socket and a real client, for the
//! transport's tests.

use std::time::Duration;

use modelhost::transport::http::{ServeOptions, serve_with};
use serde_json::Value;

/// A running server on 127.0.0.1 with its own runtime; stopped on drop.
pub struct Running {
    pub base: String,
    pub runtime: tokio::runtime::Runtime,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    pub agent: ureq::Agent,
}

impl Running {
    pub fn start(router: axum::Router) -> Self {
        Self::start_with(router, ServeOptions::new())
    }

    /// As [`start`](Self::start), with these connection options.
    pub fn start_with(router: axum::Router, options: ServeOptions) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (base, task) = runtime.block_on(async {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let base = format!("http://{}", listener.local_addr().unwrap());
            let task = tokio::spawn(serve_with(
                listener,
                router,
                async {
                    let _ = stopped.await;
                },
                options,
            ));
            (base, task)
        });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(20)))
            .build()
            .into();
        Self {
            base,
            runtime,
            stop: Some(stop),
            task: Some(task),
            agent,
        }
    }

    /// The server's `host:port`.
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Asks the server to stop, without waiting.
    pub fn signal_stop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str) -> Reply {
        Reply::from(self.agent.get(&self.url(path)).call().unwrap())
    }

    pub fn post(&self, path: &str, body: impl AsRef<[u8]>) -> Reply {
        self.post_with(path, &[("content-type", "application/json")], body)
    }

    pub fn post_with(&self, path: &str, headers: &[(&str, &str)], body: impl AsRef<[u8]>) -> Reply {
        let mut req = self.agent.post(&self.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::from(req.send(body.as_ref()).unwrap())
    }

    /// Stops accepting, lets in-flight requests finish, and waits (bounded).
    pub fn stop(&mut self) -> std::io::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        match self.task.take() {
            Some(t) => self.runtime.block_on(async {
                tokio::time::timeout(Duration::from_secs(10), t)
                    .await
                    .expect("server stops within 10 s")
                    .expect("server task")
            }),
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// A response: status, headers, body.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl From<ureq::http::Response<ureq::Body>> for Reply {
    fn from(mut r: ureq::http::Response<ureq::Body>) -> Self {
        let status = r.status().as_u16();
        let headers = r
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = r
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .unwrap();
        Self {
            status,
            headers,
            body,
        }
    }
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or_default().to_owned()
    }
}

/// One OIP input per feature of `schema` for `rows` (JSON data), each of
/// shape `[N]`.
pub fn oip_inputs(schema: &modelhost::FeatureSchema, rows: &[modelhost::FeatureMap]) -> Value {
    let inputs: Vec<Value> = schema
        .features()
        .iter()
        .map(|f| {
            let data: Vec<Value> = rows
                .iter()
                .map(|r| serde_json::to_value(r.get(f.name()).unwrap()).unwrap())
                .collect();
            let dt = match f.kind() {
                modelhost::FeatureKind::Float { .. } => "FP64",
                modelhost::FeatureKind::Integer { .. } => "INT64",
                modelhost::FeatureKind::Boolean => "BOOL",
                _ => "BYTES",
            };
            serde_json::json!({ "name": f.name(), "shape": [rows.len()], "datatype": dt, "data": data })
        })
        .collect();
    Value::Array(inputs)
}
