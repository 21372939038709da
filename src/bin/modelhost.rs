//! `modelhost`: inspect and verify model artifacts, operate a registry, and
//! render monitoring reports.
//!
//! Every failure prints one line, `error: ...`, and exits with status 1;
//! usage mistakes exit with status 2.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, UNIX_EPOCH};

use clap::{Parser, Subcommand};

use modelhost::artifact::{Artifact, ArtifactHeader, ReadOptions};
use modelhost::registry::{Better, ModelRef, Registry, Retire};

/// Prints a line, ignoring a closed stdout: a long-running command (serve,
/// stream) must not die because whoever started it stopped reading.
#[cfg(any(feature = "http", feature = "nats"))]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// How `serve` and `stream` follow their alias and batch: the flags they
/// share.
#[cfg(any(feature = "http", feature = "nats"))]
#[derive(clap::Args)]
struct FollowArgs {
    /// Milliseconds between checks of the alias.
    #[arg(long, default_value_t = 5000)]
    watch_interval_ms: u64,
    /// Put an adaptive batcher in front of the model: requests or events
    /// that arrive together share a model call (worth it for models with a
    /// large cost per call; see the README).
    #[arg(long)]
    batch: bool,
    /// With --batch: most rows per model call.
    #[arg(long, default_value_t = 64, requires = "batch")]
    batch_max_rows: usize,
    /// With --batch: the batching window, in microseconds.
    #[arg(long, default_value_t = 2000, requires = "batch")]
    batch_max_wait_us: u64,
}

#[cfg(any(feature = "http", feature = "nats"))]
impl FollowArgs {
    /// The alias watcher's options, reporting through [`report_watch`].
    fn watch_options(&self) -> modelhost::reload::WatchOptions {
        modelhost::reload::WatchOptions::new()
            .interval(std::time::Duration::from_millis(
                self.watch_interval_ms.max(1),
            ))
            .on_event(report_watch)
    }

    /// With --batch, the batcher's configuration from the shared flags.
    fn batch_config(&self) -> Option<modelhost::batching::BatchConfigBuilder> {
        self.batch.then(|| {
            modelhost::BatchConfig::builder()
                .max_batch_rows(self.batch_max_rows)
                .max_wait(std::time::Duration::from_micros(self.batch_max_wait_us))
        })
    }
}

/// What `serve` and `stream` print of their alias watcher: swaps and the
/// registry's return on stdout, failed checks on stderr (one line each; the
/// watcher backs off while the registry fails, so they stay few).
#[cfg(any(feature = "http", feature = "nats"))]
fn report_watch(event: &modelhost::reload::WatchEvent) {
    use modelhost::reload::WatchEvent;
    use std::io::Write as _;
    match event {
        WatchEvent::Swapped(r) => say!("swapped version {} -> {}", r.from, r.to),
        WatchEvent::Failed { version, error } => {
            let version =
                version.map_or_else(|| "the alias".to_owned(), |v| format!("version {v}"));
            let _ = writeln!(
                std::io::stderr().lock(),
                "warning: {version} not served: {}",
                error.to_string().replace('\n', " ")
            );
        }
        WatchEvent::Recovered { failed_checks } => {
            say!("the registry answers again after {failed_checks} failed checks");
        }
        _ => {}
    }
}

/// An I/O failure while doing `action`, as the crate's error.
#[cfg(any(feature = "http", feature = "nats"))]
fn io(action: impl Into<String>) -> impl FnOnce(std::io::Error) -> modelhost::Error {
    let action = action.into();
    move |e| modelhost::transport::TransportError::io(action, e).into()
}

// The larger subcommands have files of their own. A binary's root resolves
// `mod x;` beside itself (src/bin/x.rs), so the path keeps them in the
// binary's own folder.
#[path = "modelhost/drift.rs"]
mod drift;
#[path = "modelhost/import.rs"]
mod import;
#[cfg(feature = "http")]
#[path = "modelhost/serve.rs"]
mod serve;
#[cfg(feature = "nats")]
#[path = "modelhost/stream.rs"]
mod stream;

#[derive(Parser)]
#[command(
    name = "modelhost",
    version,
    about = "Inspect and verify model artifacts, and operate a model registry"
)]
struct Cli {
    /// The registry, anywhere on the command line: a directory, or
    /// `s3://BUCKET/PREFIX`, `az://CONTAINER/PREFIX`, `gs://BUCKET/PREFIX`,
    /// `file:///PATH` (also `MODELHOST_REGISTRY`; `--dir` is the same
    /// option). Object stores take credentials and endpoints from each
    /// cloud's usual environment variables.
    #[arg(
        long,
        short = 'd',
        visible_alias = "dir",
        global = true,
        env = "MODELHOST_REGISTRY",
        value_name = "REGISTRY"
    )]
    registry: Option<PathBuf>,
    /// Keep artifacts downloaded from the registry in this directory,
    /// named by their SHA-256 and checked on every read (worth it for
    /// object stores).
    #[arg(long, global = true, env = "MODELHOST_CACHE_DIR", value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// With --cache-dir: the most the cache may hold, in MiB (least
    /// recently used artifacts go first).
    #[arg(
        long,
        global = true,
        env = "MODELHOST_CACHE_MAX_MB",
        default_value_t = 4096
    )]
    cache_max_mb: u64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show an artifact's header, schema, metrics and checksum status.
    Inspect {
        /// An artifact file, or with --registry a reference: `NAME@ALIAS`,
        /// `NAME/VERSION` or `NAME` (its latest version).
        artifact: String,
    },
    /// Run every check on an artifact, warm-up included.
    Verify {
        /// An artifact file, or with --registry a reference: `NAME@ALIAS`,
        /// `NAME/VERSION` or `NAME` (its latest version).
        artifact: String,
    },
    /// Render a monitoring report (HTML) from a monitor snapshot (JSON).
    Report {
        /// The snapshot, as written by `Monitor::write_snapshot`.
        #[arg(long)]
        snapshot: PathBuf,
        /// Where to write the HTML report.
        #[arg(long, default_value = "report.html")]
        out: PathBuf,
    },
    /// Compare a current data set with a reference (CSV files) feature by
    /// feature with Evidently's default drift tests; print the verdicts and
    /// optionally write an HTML report.
    Drift(drift::DriftArgs),
    /// Operate a registry (given by --registry: a directory or a URL).
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Serve a registry model over HTTP (Open Inference Protocol v2, MLflow
    /// scoring, metrics), following an alias as it moves.
    #[cfg(feature = "http")]
    Serve(serve::ServeArgs),
    /// Predict for a NATS JetStream event stream: events in, predictions
    /// and dead letters out, acknowledged once published.
    #[cfg(feature = "nats")]
    Stream(stream::StreamArgs),
    /// Register a model trained in Python (XGBoost JSON, LightGBM text,
    /// scikit-learn trees) as a new version of NAME.
    Import(import::ImportArgs),
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// List models with their version counts and aliases.
    List,
    /// List the versions of a model with metrics, aliases and tags.
    Versions {
        /// The model name.
        name: String,
        /// Include archived versions.
        #[arg(long)]
        all: bool,
    },
    /// Register an artifact file as the next version of its model.
    Register {
        /// The artifact file.
        file: PathBuf,
    },
    /// Print the version a reference (`name`, `name/3`, `name@alias`) resolves to.
    Resolve {
        /// The reference.
        reference: String,
    },
    /// Point an alias at a version (after loading it with every check), or
    /// remove it.
    Alias {
        /// The model name.
        name: String,
        /// The alias.
        alias: String,
        /// The version (omit with --remove).
        version: Option<u64>,
        /// Remove the alias.
        #[arg(long, conflicts_with = "version")]
        remove: bool,
    },
    /// Point an alias at the version with the best value of a metric (after
    /// loading it with every check).
    Promote {
        /// The model name.
        name: String,
        /// The metric to compare.
        #[arg(long)]
        metric: String,
        /// The alias to move (required: promoting is never implicit).
        #[arg(long)]
        alias: String,
        /// Smaller values are better.
        #[arg(long)]
        lower_is_better: bool,
    },
    /// Keep the N newest versions, every aliased one and every one an alias
    /// left within --alias-days; archive the rest.
    Gc {
        /// The model name.
        name: String,
        /// How many of the newest versions to keep.
        #[arg(long)]
        keep: usize,
        /// Delete instead of archiving.
        #[arg(long)]
        delete: bool,
        /// Keep versions an alias pointed at within this many days (the
        /// rollback target of a running server).
        #[arg(long, default_value_t = 7)]
        alias_days: u64,
        /// Print what would be retired, and change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Bring an archived version back.
    Restore {
        /// The model name.
        name: String,
        /// The archived version.
        version: u64,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}

/// The artifact a command names, with a label for messages: a file that
/// exists, or with a registry, a reference resolved in it (read from the
/// registry's directory as it is, or downloaded and checked against its
/// registered checksum from an object store).
fn artifact_source(at: &RegistryAt, artifact: &str) -> modelhost::Result<(String, Vec<u8>)> {
    let max = modelhost::artifact::DEFAULT_MAX_FILE_BYTES;
    let path = PathBuf::from(artifact);
    if path.exists() {
        return Ok((path.display().to_string(), read_capped(&path, max)?));
    }
    if at.registry.is_none() {
        return Err(modelhost::artifact::ArtifactError::Io {
            path: artifact.to_owned(),
            source: std::sync::Arc::new(std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "no such file (give --registry to read a reference like NAME@ALIAS)",
            )),
        }
        .into());
    }
    let reg = open_registry(at)?;
    let reference: ModelRef = artifact.parse()?;
    let version = reg.resolve(&reference)?;
    if let Some(file) = reg.artifact_path(reference.name(), version) {
        return Ok((file.display().to_string(), read_capped(&file, max)?));
    }
    let label = format!(
        "{}/{}/versions/{version}.mhart",
        reg.store().location().trim_end_matches('/'),
        reference.name()
    );
    Ok((label, reg.artifact_bytes(reference.name(), version)?))
}

/// The registry --registry names (with the artifact cache --cache-dir
/// names), or an error saying how to give one.
fn open_registry(at: &RegistryAt) -> modelhost::Result<Registry> {
    let Some(location) = &at.registry else {
        return Err(modelhost::registry::RegistryError::InvalidReference {
            reference: "no registry: give --registry DIR|URL or set MODELHOST_REGISTRY".into(),
        }
        .into());
    };
    let registry = Registry::open(location)?;
    Ok(match &at.cache_dir {
        Some(dir) => registry.with_cache(dir, at.cache_max_mb.saturating_mul(1 << 20))?,
        None => registry,
    })
}

/// Where the registry is: the global options.
struct RegistryAt {
    registry: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    cache_max_mb: u64,
}

fn run(cli: Cli) -> modelhost::Result<()> {
    let at = RegistryAt {
        registry: cli.registry,
        cache_dir: cli.cache_dir,
        cache_max_mb: cli.cache_max_mb,
    };
    match cli.command {
        Command::Inspect { artifact } => {
            let (label, bytes) = artifact_source(&at, &artifact)?;
            inspect(&label, &bytes)
        }
        Command::Verify { artifact } => {
            let (_, bytes) = artifact_source(&at, &artifact)?;
            let options = ReadOptions::new();
            let loaded = Artifact::from_bytes(&bytes, options)?.into_loaded(options)?;
            let h = &loaded.header;
            println!(
                "ok: {} version {} ({}), checksum valid, model valid, {} warm-up rows reproduced",
                h.name,
                h.version,
                h.model_kind,
                h.warmup.rows.len()
            );
            Ok(())
        }
        Command::Report { snapshot, out } => {
            let s = modelhost::monitor::MonitorSnapshot::read(&snapshot)?;
            std::fs::write(&out, s.render_html()).map_err(|e| {
                modelhost::monitor::MonitorError::Io {
                    path: out.clone(),
                    source: std::sync::Arc::new(e),
                }
            })?;
            println!(
                "wrote {} ({} v{}: {} requests, {} windows, {} alerts firing)",
                out.display(),
                s.model,
                s.version,
                s.requests,
                s.windows.len(),
                s.active_alerts.len()
            );
            Ok(())
        }
        Command::Drift(args) => drift::run(&args),
        Command::Registry { command } => registry(open_registry(&at)?, command),
        #[cfg(feature = "http")]
        Command::Serve(args) => serve::run(args, open_registry(&at)?),
        #[cfg(feature = "nats")]
        Command::Stream(args) => stream::run(args, open_registry(&at)?),
        Command::Import(args) => import::run(args, open_registry(&at)?),
    }
}

/// Loads `name/version` with every check (checksum, decoding, schema,
/// warm-up), so an alias is never pointed at a version that cannot serve.
fn check_loadable(reg: &Registry, name: &str, version: u64) -> modelhost::Result<()> {
    let loaded = reg.load(
        &ModelRef::Version(name.to_owned(), version),
        ReadOptions::new(),
    )?;
    let deployment = loaded.deployment()?;
    Ok(deployment.warm_up()?)
}

/// First second of the year 10000, which RFC 3339 cannot write.
const YEAR_10000: u64 = 253_402_300_800;

/// A header's creation time in RFC 3339, or a marked raw value when it
/// cannot be one: the value comes from a file, so it may be anything.
fn time(secs: u64) -> String {
    match UNIX_EPOCH.checked_add(Duration::from_secs(secs)) {
        Some(t) if secs < YEAR_10000 => humantime::format_rfc3339_seconds(t).to_string(),
        _ => format!("invalid time ({secs} s after 1970)"),
    }
}

/// Reads `file` with the library's default size cap, as `Artifact::read`
/// does: a huge file or a device that never ends is refused, not buffered.
fn read_capped(file: &std::path::Path, max: u64) -> modelhost::Result<Vec<u8>> {
    use modelhost::artifact::ArtifactError;
    use std::io::Read;
    let io = |e| ArtifactError::Io {
        path: file.display().to_string(),
        source: std::sync::Arc::new(e),
    };
    let f = std::fs::File::open(file).map_err(io)?;
    let size = f.metadata().map_err(io)?.len();
    if size > max {
        return Err(ArtifactError::TooLarge { size, max }.into());
    }
    let mut bytes = Vec::new();
    f.take(max + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > max {
        return Err(ArtifactError::TooLarge {
            size: bytes.len() as u64,
            max,
        }
        .into());
    }
    Ok(bytes)
}

fn metrics(m: &std::collections::BTreeMap<String, f64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v:.4}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn inspect(label: &str, bytes: &[u8]) -> modelhost::Result<()> {
    let options = ReadOptions::new();
    let verified = Artifact::from_bytes(bytes, options);
    let header: ArtifactHeader = match &verified {
        Ok(a) => a.header().clone(),
        Err(_) => Artifact::header_unverified(bytes, options)?,
    };
    println!("file:       {label} ({} bytes)", bytes.len());
    match &verified {
        Ok(_) => println!("checksum:   valid (SHA-256)"),
        Err(e) => println!("checksum:   INVALID: {e}"),
    }
    println!("model:      {} version {}", header.name, header.version);
    println!("kind:       {}", header.model_kind);
    println!("created:    {}", time(header.created_at));
    match header.output.labels() {
        Some(labels) => println!("output:     classification {labels:?}"),
        None => println!("output:     regression"),
    }
    println!("metrics:    {}", metrics(&header.metrics));
    if !header.tags.is_empty() {
        let tags: Vec<String> = header
            .tags
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        println!("tags:       {}", tags.join(" "));
    }
    println!(
        "schema:     {} features, fingerprint {}",
        header.schema.len(),
        header.schema.fingerprint()
    );
    for f in header.schema.features() {
        let presence = if f.is_required() {
            "required"
        } else {
            "optional"
        };
        println!("  {:<20} {presence}, {}", f.name(), f.kind());
    }
    if let Some(r) = &header.reference {
        println!(
            "reference:  {} training rows, {} features profiled",
            r.rows,
            r.features.len()
        );
    }
    println!("warm-up:    {} rows", header.warmup.rows.len());
    if verified.is_err() {
        return Err(modelhost::artifact::ArtifactError::ChecksumMismatch.into());
    }
    Ok(())
}

fn registry(reg: Registry, command: RegistryCommand) -> modelhost::Result<()> {
    match command {
        RegistryCommand::List => {
            for name in reg.models()? {
                let versions = reg.versions(&name, false)?;
                let aliases: Vec<String> = reg
                    .aliases(&name)?
                    .iter()
                    .map(|(a, v)| format!("{a}->{v}"))
                    .collect();
                println!("{name}\t{} versions\t{}", versions.len(), aliases.join(" "));
            }
        }
        RegistryCommand::Versions { name, all } => {
            let rows: Vec<[String; 5]> = reg
                .versions(&name, all)?
                .into_iter()
                .map(|v| {
                    let aliases = if v.archived {
                        "(archived)".to_owned()
                    } else {
                        v.aliases.join(",")
                    };
                    let tags: Vec<String> =
                        v.tags.iter().map(|(k, t)| format!("{k}={t}")).collect();
                    [
                        v.version.to_string(),
                        time(v.created_at),
                        aliases,
                        metrics(&v.metrics),
                        tags.join(" "),
                    ]
                })
                .collect();
            print_table(["version", "created", "aliases", "metrics", "tags"], &rows);
        }
        RegistryCommand::Register { file } => {
            let v = reg.register_file(&file)?;
            println!("registered {} as version {v}", file.display());
        }
        RegistryCommand::Resolve { reference } => {
            let r: ModelRef = reference.parse()?;
            println!("{}", reg.resolve(&r)?);
        }
        RegistryCommand::Alias {
            name,
            alias,
            version,
            remove,
        } => {
            if remove {
                let v = reg.remove_alias(&name, &alias)?;
                println!("removed {name}@{alias} (was version {v})");
            } else {
                let Some(version) = version else {
                    return Err(modelhost::registry::RegistryError::InvalidReference {
                        reference: format!("{name}@{alias}: give a version or --remove"),
                    }
                    .into());
                };
                check_loadable(&reg, &name, version)
                    .map_err(|e| refused(&name, &alias, version, e))?;
                let before = reg.set_alias(&name, &alias, version)?;
                match before {
                    Some(b) => println!("{name}@{alias}: {b} -> {version}"),
                    None => println!("{name}@{alias} -> {version}"),
                }
            }
        }
        RegistryCommand::Promote {
            name,
            metric,
            alias,
            lower_is_better,
        } => {
            let better = if lower_is_better {
                Better::Lower
            } else {
                Better::Higher
            };
            // Find the best version without moving anything, check it loads,
            // then move the alias (under the registry's lock).
            let best = best_version(&reg, &name, &metric, better)?;
            check_loadable(&reg, &name, best).map_err(|e| refused(&name, &alias, best, e))?;
            let before = reg.aliases(&name)?.get(&alias).copied();
            let v = reg.promote_best(&name, &metric, better, &alias)?;
            if v != best
                && let Err(e) = check_loadable(&reg, &name, v)
            {
                // A version registered meanwhile won and cannot serve: put
                // the alias back where it was.
                match before {
                    Some(b) => reg.set_alias(&name, &alias, b).map(drop)?,
                    None => reg.remove_alias(&name, &alias).map(drop)?,
                }
                return Err(refused(&name, &alias, v, e));
            }
            println!("{name}@{alias} -> {v} (best {metric})");
        }
        RegistryCommand::Gc {
            name,
            keep,
            delete,
            alias_days,
            dry_run,
        } => {
            let grace = Duration::from_secs(alias_days.saturating_mul(24 * 3600));
            if dry_run {
                let plan = reg.retain_plan(&name, keep, grace)?;
                let verb = if delete { "delete" } else { "archive" };
                println!("would {verb} versions {plan:?} (dry run: nothing changed)");
                return Ok(());
            }
            let retire = if delete {
                Retire::Delete
            } else {
                Retire::Archive
            };
            let retired = reg.retain_with(&name, keep, grace, retire)?;
            let verb = if delete { "deleted" } else { "archived" };
            println!("{verb} versions {retired:?}");
        }
        RegistryCommand::Restore { name, version } => {
            reg.restore(&name, version)?;
            println!("restored {name}/{version}");
        }
    }
    Ok(())
}

/// Prints rows under a header, each column as wide as its widest cell, so
/// the columns line up whatever the values.
fn print_table<const N: usize>(header: [&str; N], rows: &[[String; N]]) {
    let mut widths: [usize; N] = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; N]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == N {
                out.push_str(cell);
            } else {
                out.push_str(&format!("{cell:<w$}  "));
            }
        }
        println!("{}", out.trim_end());
    };
    line(header);
    for row in rows {
        line(std::array::from_fn(|i| row[i].as_str()));
    }
}

/// The error for an alias move refused because the version cannot load.
fn refused(name: &str, alias: &str, version: u64, e: modelhost::Error) -> modelhost::Error {
    modelhost::registry::RegistryError::InvalidReference {
        reference: format!(
            "{name}@{alias} not moved: version {version} cannot be served: {}",
            e.to_string().replace('\n', " ")
        ),
    }
    .into()
}

/// The version `promote_best` would choose (ties go to the newer version),
/// without moving any alias.
fn best_version(
    reg: &Registry,
    name: &str,
    metric: &str,
    better: Better,
) -> modelhost::Result<u64> {
    let mut best: Option<(u64, f64)> = None;
    for v in reg.versions(name, false)? {
        let Some(&value) = v.metrics.get(metric) else {
            continue;
        };
        let wins = match best {
            None => true,
            Some((_, b)) => match better {
                Better::Higher => value >= b,
                Better::Lower => value <= b,
            },
        };
        if wins && value.is_finite() {
            best = Some((v.version, value));
        }
    }
    best.map(|(v, _)| v).ok_or_else(|| {
        modelhost::registry::RegistryError::NoMetric {
            name: name.to_owned(),
            metric: metric.to_owned(),
        }
        .into()
    })
}
