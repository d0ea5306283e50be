//! The community resource directory: services in the Open Referral HSDS 3.0
//! model, imported from a data partner's export, searched from the
//! navigator's screen, and referred to by id from call logs.

pub mod generate;
pub mod hours;
pub mod hsds;
pub mod model;
pub mod prepare;
pub mod search;
pub mod text;

/// The regions of the shipped `centres.yaml` and the city each is centred
/// on (the centre's city): `(region, city, latitude, longitude)`. A search
/// "near the caller's region" measures distances from here unless
/// `[directory.regions]` says otherwise.
pub const REGION_PLACES: &[(&str, &str, f64, f64)] = &[
    ("east", "Ottawa", 45.4215, -75.6972),
    ("north", "Thunder Bay", 48.3809, -89.2477),
    ("central", "Collingwood", 44.5008, -80.2169),
    ("central_south", "St. Catharines", 43.1594, -79.2469),
    ("toronto", "Toronto", 43.6532, -79.3832),
    ("southwest", "Windsor", 42.3149, -83.0364),
];

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::Store;
use crate::error::{Error, Result};
use crate::store::{AuditEntry, ImportSummary};

/// Reads and checks an HSDS dataset; its problems, one a line, as
/// `file:row: message`.
fn read(path: &Path) -> Result<model::Dataset> {
    hsds::read(path).map_err(|problems| {
        let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
        Error::Invalid(lines.join("\n"))
    })
}

/// Reads, checks and imports an HSDS dataset (a tabular package's folder or
/// a JSON file) in one transaction. Problems are returned together, one a
/// line as `file:row: message`, and nothing is changed.
pub async fn import(store: &Store, path: &Path, actor: &str) -> Result<ImportSummary> {
    let dataset = read(path)?;
    let taxonomy = store.taxonomy_names().await?;
    let prepared = prepare::prepare(&dataset, &taxonomy);
    let source = path.display().to_string();
    let now = crate::now_ms();
    let summary = store
        .import_directory(&prepared, actor, &source, now)
        .await?;
    store
        .audit(&AuditEntry {
            at_ms: now,
            actor: actor.into(),
            action: "directory.import".into(),
            target: source,
            outcome: "ok".into(),
            detail: format!(
                "{} services: {} added, {} changed, {} retired",
                summary.services, summary.added, summary.changed, summary.retired
            ),
            peer: String::new(),
        })
        .await?;
    Ok(summary)
}

/// Taxonomy codes the dataset's services carry that the store's taxonomy
/// does not know (a referral is coded only with a known code).
pub async fn unknown_codes(store: &Store) -> Result<Vec<String>> {
    let known = store.taxonomy_names().await?;
    let rows = store.service_codes().await?;
    let mut unknown: Vec<String> = rows
        .iter()
        .flat_map(|c| c.split_whitespace())
        .filter(|c| !known.contains_key(*c))
        .map(str::to_string)
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    Ok(unknown)
}

/// `frontdoor directory …`: the community resource directory.
#[derive(Debug, Clone, PartialEq, clap::Subcommand)]
pub enum DirectoryCommand {
    /// Import an Open Referral HSDS 3.0 dataset: PATH is a tabular data
    /// package (a folder of CSV files, with or without datapackage.json) or
    /// a JSON file of services. Checked first: problems are printed as
    /// FILE:ROW: message and nothing changes. A re-import updates changed
    /// services, retires those no longer listed and keeps every id.
    Import {
        /// The package's folder or the JSON file.
        path: PathBuf,
    },
    /// Check PATH as `import` would, without importing it.
    Check {
        /// The package's folder or the JSON file.
        path: PathBuf,
    },
    /// Write a synthetic bilingual directory (HSDS 3.0) to try the directory
    /// and test it: the same seed gives the same files.
    Generate {
        /// The folder to write (CSV package), or a file ending in .json.
        out: PathBuf,
        /// How many services.
        #[arg(long, default_value_t = 3000)]
        services: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// Search the directory as the navigators' screen does.
    Search {
        /// Words, English or French.
        #[arg(default_value = "")]
        words: String,
        /// region:ID, postal:K1N or LAT,LON.
        #[arg(long)]
        near: Option<String>,
        /// Services offering this language first (fr, en…).
        #[arg(long)]
        lang: Option<String>,
        /// Only services open then: `now` or 2026-12-03T14:30 (local time).
        #[arg(long)]
        open: Option<String>,
        /// A taxonomy code (BD-1800 takes BD-1800.2000 too).
        #[arg(long)]
        code: Option<String>,
        #[arg(long, default_value_t = 10)]
        limit: usize,
        /// Print the answer as JSON, as `GET /api/directory/search` does.
        #[arg(long)]
        json: bool,
    },
}

/// Runs a `frontdoor directory …` command and returns what to print.
pub async fn run_directory_command(
    store: Option<&Store>,
    timezone: &str,
    cmd: DirectoryCommand,
) -> Result<String> {
    let need = || store.ok_or_else(|| Error::Invalid("no store".into()));
    match cmd {
        DirectoryCommand::Check { path } => {
            let d = read(&path)?;
            Ok(format!(
                "{}: {} organisations, {} services, {} locations: no problems\n",
                path.display(),
                d.organizations.len(),
                d.services.len(),
                d.locations.len()
            ))
        }
        DirectoryCommand::Import { path } => {
            let store = need()?;
            let s = import(store, &path, "cli").await?;
            let mut out = format!(
                "{}: {} services of {} organisations: {} added, {} changed, {} retired; {} services at a location to search, {} postal areas\n",
                path.display(),
                s.services,
                s.organizations,
                s.added,
                s.changed,
                s.retired,
                s.searchable,
                s.postal_areas
            );
            let unknown = unknown_codes(store).await?;
            if !unknown.is_empty() {
                let shown: Vec<&str> = unknown.iter().take(5).map(String::as_str).collect();
                out.push_str(&format!(
                    "note: {} taxonomy codes of the directory are not in the taxonomy ({}{}); referrals are coded only with known codes: `frontdoor taxonomy import` the full taxonomy\n",
                    unknown.len(),
                    shown.join(", "),
                    if unknown.len() > 5 { ", …" } else { "" }
                ));
            }
            Ok(out)
        }
        DirectoryCommand::Generate {
            out,
            services,
            seed,
        } => {
            let d = generate::generate(&generate::GenerateOptions { services, seed });
            let json = out.extension().is_some_and(|e| e == "json");
            if json {
                hsds::write_json(&d, &out)?;
            } else {
                hsds::write_csv(&d, &out)?;
            }
            Ok(format!(
                "{}: {} services of {} organisations at {} locations\n",
                out.display(),
                d.services.len(),
                d.organizations.len(),
                d.locations.len()
            ))
        }
        DirectoryCommand::Search {
            words,
            near,
            lang,
            open,
            code,
            limit,
            json,
        } => {
            let store = need()?;
            let mut params = BTreeMap::new();
            params.insert("q".to_string(), words);
            params.insert("limit".to_string(), limit.to_string());
            for (k, v) in [
                ("near", near),
                ("lang", lang),
                ("open", open),
                ("code", code),
            ] {
                if let Some(v) = v {
                    params.insert(k.to_string(), v);
                }
            }
            let s = search::Search::from_params(&params)?;
            let tz = jiff::tz::TimeZone::get(timezone).unwrap_or(jiff::tz::TimeZone::UTC);
            let answer = search::search(store, &s, &tz, jiff::Timestamp::now()).await?;
            if json {
                // Serialising plain data cannot fail.
                return Ok(serde_json::to_string_pretty(&answer).unwrap_or_default() + "\n");
            }
            let mut out = format!("{} found (open at {})\n", answer.results.len(), answer.at);
            for f in &answer.results {
                out.push_str(&format!(
                    "{:<40} {:>7} {:<6} {:<8} {}\n",
                    f.name.chars().take(40).collect::<String>(),
                    f.distance_km
                        .map(|d| format!("{d:.1} km"))
                        .unwrap_or_default(),
                    match f.open {
                        Some(true) => "open",
                        Some(false) => "closed",
                        None => "",
                    },
                    f.languages.join(","),
                    f.phone.as_deref().unwrap_or("")
                ));
            }
            Ok(out)
        }
    }
}
