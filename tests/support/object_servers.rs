//! Real object-store servers for tests, on 127.0.0.1: SeaweedFS for S3 and
//! Azurite for Azure Blob storage, installed by `.ci/object-stores.sh` and
//! started, stopped and restarted here through `scripts/object_stores.py`.
//!
//! Without `MODELHOST_OBJSTORE_PYTHON` the tests that need them skip with a
//! message; with `MODELHOST_REQUIRE_OBJECT_STORES=1` (as in CI) they fail
//! instead.

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

/// A free port `p` with `p + 10000` free too (SeaweedFS takes both), below
/// the ephemeral range so that no client socket takes it meanwhile.
fn free_port() -> u16 {
    use std::net::TcpListener;
    let seed = std::process::id() as u64 ^ Instant::now().elapsed().as_nanos() as u64;
    for i in 0..1000u64 {
        let p = 12000
            + ((seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(i * 7919))
                % 9000) as u16;
        if TcpListener::bind(("127.0.0.1", p)).is_ok()
            && TcpListener::bind(("127.0.0.1", p + 10000)).is_ok()
        {
            return p;
        }
    }
    panic!("no free port pair");
}

/// A running server with its data directory, stopped when dropped.
pub struct Server {
    pub kind: Kind,
    pub port: u16,
    python: PathBuf,
    data: tempfile::TempDir,
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

    fn spawn(&mut self) {
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
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        self.tool(&[
            "wait",
            self.kind.name(),
            "--port",
            &self.port.to_string(),
            "--timeout",
            "90",
        ]);
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
