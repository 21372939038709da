//! `modelhost import`: register a model trained in Python (XGBoost,
//! LightGBM, scikit-learn) as a new version in a registry.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use modelhost::import::{self, ImportFormat, ImportOptions, SchemaFile};
use modelhost::{Model, Registry};

/// The model file's format.
#[derive(Clone, Copy, ValueEnum)]
pub(crate) enum Format {
    /// XGBoost's JSON model (`save_model("model.json")`).
    Xgboost,
    /// LightGBM's text model (`save_model("model.txt")`).
    Lightgbm,
    /// scikit-learn trees written by `scripts/export_sklearn.py`.
    Sklearn,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// The model file's format.
    #[arg(long, value_enum)]
    format: Format,
    /// The model file.
    model: PathBuf,
    /// The schema file: feature bounds, categorical levels, class labels
    /// (see the `import` module docs for its form).
    #[arg(long)]
    schema: PathBuf,
    /// A CSV sample of the model's inputs (a header of feature names):
    /// reference statistics for drift detection, and warm-up rows whose
    /// predictions every load must reproduce.
    #[arg(long, value_name = "DATA.csv")]
    reference: Option<PathBuf>,
    /// The model's name in the registry.
    #[arg(long)]
    name: String,
    /// XGBoost: serve only the trees up to the best iteration the file
    /// records (early stopping), as XGBoost's scikit-learn wrapper
    /// predicts; by default every tree is served, as `Booster.predict` does.
    #[arg(long)]
    best_iteration: bool,
}

pub(crate) fn run(args: ImportArgs, registry: Registry) -> modelhost::Result<()> {
    let err = modelhost::Error::component;
    let format = match args.format {
        Format::Xgboost => ImportFormat::Xgboost,
        Format::Lightgbm => ImportFormat::LightGbm,
        Format::Sklearn => ImportFormat::Sklearn,
    };
    let options = ImportOptions::new().best_iteration(args.best_iteration);
    let schema = SchemaFile::read(&args.schema).map_err(err)?;
    let imported =
        import::import_file(format, &args.model, Some(&schema), &options).map_err(err)?;
    let reference = match &args.reference {
        Some(path) => {
            Some(import::read_reference_csv(path, imported.model.schema(), &options).map_err(err)?)
        }
        None => None,
    };
    for note in &imported.notes {
        println!("note: {note}");
    }
    let version =
        import::register(&registry, &args.name, &imported, reference.as_ref()).map_err(err)?;
    println!(
        "registered {} version {version}: {} {} model, {} trees, {} nodes, {} features{}",
        args.name,
        format,
        imported.objective,
        imported.model.n_trees(),
        imported.model.n_nodes(),
        imported.model.schema().len(),
        match &reference {
            Some(r) => format!(", reference statistics and warm-up from {} rows", r.len()),
            None => String::new(),
        }
    );
    Ok(())
}
