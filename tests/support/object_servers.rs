//! Real object-store servers for tests, on 127.0.0.1: SeaweedFS for S3 and
//! Azurite for Azure Blob storage, installed by `.ci/object-stores.sh` and
//! started, stopped and restarted here through `scripts/object_stores.py`.
//!
//! Without `MODELHOST_OBJSTORE_PYTHON` the tests that need them skip with a
//! message; with `MODELHOST_REQUIRE_OBJECT_STORES=1` (as in CI) they fail
//! instead.
//!
//! A test binary including this module includes `support/ports.rs` as
//! `ports` too.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use modelhost::registry::Registry;

pub const S3_KEY: &str = "modelhost";
pub const S3_SECRET: &str = "modelhost-secret";
pub const AZ_ACCOUNT: &str = "devstoreaccount1";
pub const AZ_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
/// The bucket (S3) or container (Azure) every test uses.
pub const BUCKET: &str = "registry";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    S3,
    Azure,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::S3 => "s3",
            Kind::Azure => "azure",
        }
    }
}

/// The venv's python, or `None` (after saying why) when the servers are
/// not installed and not required.
pub fn python() -> Option<PathBuf> {
    match std::env::var_os("MODELHOST_OBJSTORE_PYTHON") {
        Some(p) => Some(PathBuf::from(p)),
        None if std::env::var("MODELHOST_REQUIRE_OBJECT_STORES").is_ok_and(|v| v == "1") => {
            panic!(
                "MODELHOST_REQUIRE_OBJECT_STORES=1 but MODELHOST_OBJSTORE_PYTHON is not set: source .ci/object-stores.sh"
            )
        }
        None => {
            eprintln!(
                "skipped: no object-store servers (source .ci/object-stores.sh to run this test)"
            );
            None
        }
    }
}

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/object_stores.py")
}

/// A free port `p` with `p + 10000` free too (SeaweedFS takes both), for a
/// server's public endpoint, reserved for this process (see
/// `ports::reserved_port`). Ports come from 16000..20000 (and 26000..30000),
/// apart from the ports `scripts/object_stores.py` gives SeaweedFS's inner
/// services (10000..16000 and 20000..26000).
fn free_port() -> u16 {
    crate::ports::reserved_port(16000..20000, Some(10000))
}

/// The sockets that use `port` (from `ss`, where it is installed): what
/// holds a port a server could not take.
fn sockets_on(port: u16) -> String {
    let Ok(out) = Command::new("ss").args(["-tanpe"]).output() else {
        return "(no `ss` to tell)".into();
    };
    let needle = format!(":{port} ");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&needle))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A running server with its data directory, stopped when dropped.
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    python: PathBuf,
    data: tempfile::TempDir,
    /// The server's stdout and stderr, appended across restarts, shown when
    /// it does not come up.
    log: tempfile::NamedTempFile,
    child: Option<Child>,
}

impl Server {
    /// Starts a server of `kind` and creates the bucket or container.
    pub fn start(python: &std::path::Path, kind: Kind) -> Self {
        let mut server = Self {
            kind,
            port: free_port(),
            python: python.to_owned(),
            data: tempfile::tempdir().unwrap(),
            log: tempfile::NamedTempFile::new().unwrap(),
            child: None,
        };
        server.spawn();
        let what = match kind {
            Kind::S3 => "--bucket",
            Kind::Azure => "--container",
        };
        server.tool(&[
            "create",
            kind.name(),
            "--port",
            &server.port.to_string(),
            what,
            BUCKET,
        ]);
        server
    }

    fn tool(&self, args: &[&str]) {
        let out = Command::new(&self.python)
            .arg(script())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "object_stores.py {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// The last `max` bytes of the server's log.
    fn log_tail(&self, max: usize) -> String {
        let log = std::fs::read(self.log.path()).unwrap_or_default();
        String::from_utf8_lossy(&log[log.len().saturating_sub(max)..]).into_owned()
    }

    /// Starts the server and waits until it answers a signed request. A
    /// server that exits while starting is started again, three times at
    /// most: SeaweedFS's inner services take ports chosen just before it
    /// starts, which a server starting at the same moment may take first.
    fn spawn(&mut self) {
        let mut exits = Vec::new();
        for _ in 0..3 {
            match self.try_spawn() {
                Ok(()) => return,
                Err(exit) => exits.push(exit),
            }
        }
        panic!("{}", exits.join("\n\n"));
    }

    /// One start: `Err` (with the server's log) if the server exits before
    /// it answers; a panic if it neither answers nor exits within 90 s.
    fn try_spawn(&mut self) -> Result<(), String> {
        let log = || {
            std::fs::OpenOptions::new()
                .append(true)
                .open(self.log.path())
                .unwrap()
        };
        let child = Command::new(&self.python)
            .arg(script())
            .args([
                "serve",
                self.kind.name(),
                "--port",
                &self.port.to_string(),
                "--data",
            ])
            .arg(self.data.path())
            .stdin(Stdio::null())
            .stdout(log())
            .stderr(log())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let mut waiting = Command::new(&self.python)
            .arg(script())
            .args([
                "wait",
                self.kind.name(),
                "--port",
                &self.port.to_string(),
                "--timeout",
                "90",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        loop {
            if let Some(status) = waiting.try_wait().unwrap() {
                let mut why = String::new();
                if !status.success() {
                    use std::io::Read;
                    let _ = waiting.stderr.take().unwrap().read_to_string(&mut why);
                    panic!(
                        "{} on port {} did not come up: {why}\n-- its log:\n{}",
                        self.kind.name(),
                        self.port,
                        self.log_tail(4000)
                    );
                }
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                self.child = None;
                let _ = waiting.kill();
                let _ = waiting.wait();
                return Err(format!(
                    "{} on port {} exited ({status}) while starting\n-- its log:\n{}\n-- sockets on the port:\n{}",
                    self.kind.name(),
                    self.port,
                    self.log_tail(2000),
                    sockets_on(self.port)
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server (SIGTERM, so it saves its state; SIGKILL after 15 s).
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if child.try_wait().unwrap().is_some() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Starts it again on the same port with the same data.
    pub fn start_again(&mut self) {
        self.spawn();
    }

    /// The registry URL of `prefix`.
    pub fn url(&self, prefix: &str) -> String {
        match self.kind {
            Kind::S3 => format!("s3://{BUCKET}/{prefix}"),
            Kind::Azure => format!("az://{BUCKET}/{prefix}"),
        }
    }

    /// `object_store` options reaching this server.
    pub fn options(&self) -> Vec<(&'static str, String)> {
        match self.kind {
            Kind::S3 => vec![
                ("aws_endpoint", format!("http://127.0.0.1:{}", self.port)),
                ("aws_access_key_id", S3_KEY.into()),
                ("aws_secret_access_key", S3_SECRET.into()),
                ("aws_region", "us-east-1".into()),
                ("aws_allow_http", "true".into()),
            ],
            Kind::Azure => vec![
                ("azure_storage_account_name", AZ_ACCOUNT.into()),
                ("azure_storage_account_key", AZ_KEY.into()),
                (
                    "azure_storage_endpoint",
                    format!("http://127.0.0.1:{}/{AZ_ACCOUNT}", self.port),
                ),
                ("azure_allow_http", "true".into()),
            ],
        }
    }

    /// The same as environment variables, for child processes (the way a
    /// deployment configures them).
    pub fn env(&self) -> Vec<(String, String)> {
        self.options()
            .into_iter()
            .map(|(k, v)| {
                let k = match k {
                    "aws_endpoint" => "AWS_ENDPOINT",
                    other => return (other.to_ascii_uppercase(), v),
                };
                (k.to_owned(), v)
            })
            .collect()
    }

    /// A new handle on the registry at `prefix`.
    pub fn open(&self, prefix: &str) -> Registry {
        let options = self.options();
        let options: Vec<(&str, &str)> = options.iter().map(|(k, v)| (*k, v.as_str())).collect();
        Registry::open_url_with(&self.url(prefix), &options).unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
