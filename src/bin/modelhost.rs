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

#[derive(Parser)]
#[command(
    name = "modelhost",
    version,
    about = "Inspect and verify model artifacts, and operate a model registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Show an artifact's header, schema, metrics and checksum status.
    Inspect {
        /// The artifact file.
        file: PathBuf,
    },
    /// Run every check on an artifact, warm-up included.
    Verify {
        /// The artifact file.
        file: PathBuf,
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
    /// Operate a registry directory.
    Registry {
        /// The registry directory.
        #[arg(long, short)]
        dir: PathBuf,
        #[command(subcommand)]
        command: RegistryCommand,
    },
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
    /// Point an alias at a version, or remove it.
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
    /// Point an alias at the version with the best value of a metric.
    Promote {
        /// The model name.
        name: String,
        /// The metric to compare.
        #[arg(long)]
        metric: String,
        /// The alias to move.
        #[arg(long, default_value = "production")]
        alias: String,
        /// Smaller values are better.
        #[arg(long)]
        lower_is_better: bool,
    },
    /// Keep the N newest versions and every aliased one; archive the rest.
    Gc {
        /// The model name.
        name: String,
        /// How many of the newest versions to keep.
        #[arg(long)]
        keep: usize,
        /// Delete instead of archiving.
        #[arg(long)]
        delete: bool,
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

fn run(cli: Cli) -> modelhost::Result<()> {
    match cli.command {
        Command::Inspect { file } => inspect(&file),
        Command::Verify { file } => {
            let loaded = Artifact::load(&file, ReadOptions::new())?;
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
        Command::Registry { dir, command } => registry(Registry::open(dir)?, command),
    }
}

fn time(secs: u64) -> String {
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string()
}

fn metrics(m: &std::collections::BTreeMap<String, f64>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v:.4}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn inspect(file: &std::path::Path) -> modelhost::Result<()> {
    let options = ReadOptions::new();
    let bytes = std::fs::read(file).map_err(|e| modelhost::artifact::ArtifactError::Io {
        path: file.display().to_string(),
        source: std::sync::Arc::new(e),
    })?;
    let verified = Artifact::from_bytes(&bytes, options);
    let header: ArtifactHeader = match &verified {
        Ok(a) => a.header().clone(),
        Err(_) => Artifact::header_unverified(&bytes, options)?,
    };
    println!("file:       {} ({} bytes)", file.display(), bytes.len());
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
            println!(
                "{:<8} {:<22} {:<18} {:<40} tags",
                "version", "created", "aliases", "metrics"
            );
            for v in reg.versions(&name, all)? {
                let mut aliases = v.aliases.join(",");
                if v.archived {
                    aliases = "(archived)".into();
                }
                let tags: Vec<String> = v.tags.iter().map(|(k, t)| format!("{k}={t}")).collect();
                println!(
                    "{:<8} {:<22} {:<18} {:<40} {}",
                    v.version,
                    time(v.created_at),
                    aliases,
                    metrics(&v.metrics),
                    tags.join(" ")
                );
            }
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
            let v = reg.promote_best(&name, &metric, better, &alias)?;
            println!("{name}@{alias} -> {v} (best {metric})");
        }
        RegistryCommand::Gc { name, keep, delete } => {
            let retire = if delete {
                Retire::Delete
            } else {
                Retire::Archive
            };
            let retired = reg.retain(&name, keep, retire)?;
            let verb = if delete { "deleted" } else { "archived" };
            println!("{verb} versions {retired:?}");
        }
    }
    Ok(())
}
