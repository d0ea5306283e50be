//! `frontdoor flow check | simulate | test`: the flow tools for operations
//! staff. They run the same checker and interpreter as the engine, without
//! a network.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;
use frontdoor_ivr::sim::{self, parse_keys};
use frontdoor_ivr::{FlowSet, schedule};
use frontdoor_media::prompt::PromptStore;

use crate::config::Config;
use crate::shipped_dir;

#[derive(Debug, Subcommand)]
pub enum FlowCommand {
    /// Check flows, centres, regions, the starter taxonomy and prompts: one
    /// `file:line:col: message` line per problem; exit status 1 if there is any.
    Check {
        /// Flows folder [config: flows.dir; default flows].
        dir: Option<PathBuf>,
        /// Prompts folder [config: media.prompts; default prompts].
        #[arg(long, value_name = "DIR")]
        prompts: Option<PathBuf>,
    },
    /// Run one call through the flows and print what the caller hears, the
    /// keys, the decisions and the route.
    Simulate {
        /// The caller's number as it arrives (e.g. +16135550123), or
        /// `anonymous` for a withheld number.
        #[arg(long)]
        caller: String,
        /// When the call arrives, local Ontario time: 2026-11-22T03:00
        /// (or RFC 3339 with an offset). Default: now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Keys pressed, in order, comma-separated; `-` is a silence (the
        /// menu times out). Example: --keys 1,3 or --keys -,-
        #[arg(long, value_name = "K,...", default_value = "")]
        keys: String,
        /// Simulate with emergency mode on.
        #[arg(long)]
        emergency: bool,
        /// Flows folder [config: flows.dir; default flows].
        #[arg(long, value_name = "DIR")]
        flows: Option<PathBuf>,
        /// Prompts folder [config: media.prompts; default prompts].
        #[arg(long, value_name = "DIR")]
        prompts: Option<PathBuf>,
    },
    /// List the flow versions activated (from the store), newest first: when,
    /// by whom, and whether its files are kept (it can be rolled back to).
    Versions {
        /// How many to list.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
    /// Make an earlier flow version the flows folder's content again, after
    /// checking it and running its tests. A running engine activates it
    /// within seconds (it watches the folder), recorded as activated by
    /// `cli:USER`.
    Rollback {
        /// The version (`frontdoor flow versions`).
        version: String,
        /// Flows folder [config: flows.dir; default flows].
        #[arg(long, value_name = "DIR")]
        flows: Option<PathBuf>,
        /// Prompts folder [config: media.prompts; default prompts].
        #[arg(long, value_name = "DIR")]
        prompts: Option<PathBuf>,
    },
    /// Draw the flows as SVG on standard output: every node named, with its
    /// file and line; every key and case an arrow.
    Diagram {
        /// Flows folder [config: flows.dir; default flows].
        dir: Option<PathBuf>,
        /// Prompts folder [config: media.prompts; default prompts].
        #[arg(long, value_name = "DIR")]
        prompts: Option<PathBuf>,
    },
    /// Run the flow test cases in DIR/tests/*.yaml; exit status 1 if any fails.
    Test {
        /// Flows folder [config: flows.dir; default flows].
        dir: Option<PathBuf>,
        /// Prompts folder [config: media.prompts; default prompts].
        #[arg(long, value_name = "DIR")]
        prompts: Option<PathBuf>,
    },
}

impl FlowCommand {
    /// Whether the command reads or writes the store ([`run_with_store`]).
    pub fn needs_store(&self) -> bool {
        matches!(
            self,
            FlowCommand::Versions { .. } | FlowCommand::Rollback { .. }
        )
    }
}

/// `flow versions` and `flow rollback`, which read the store.
pub async fn run_with_store(
    config: &Config,
    store: &frontdoor_cti::Store,
    cmd: FlowCommand,
) -> anyhow::Result<bool> {
    match cmd {
        FlowCommand::Versions { limit } => {
            let versions = store.flow_versions().await?;
            let tz =
                jiff::tz::TimeZone::get(&config.cti.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
            println!("{:<14} {:<20} {:<24} files", "version", "activated", "by");
            for (i, v) in versions.iter().take(limit).enumerate() {
                let at = jiff::Timestamp::from_millisecond(v.activated_ms)
                    .map(|t| {
                        t.to_zoned(tz.clone())
                            .strftime("%Y-%m-%d %H:%M:%S")
                            .to_string()
                    })
                    .unwrap_or_default();
                let kept = !store.flow_files(&v.version).await?.is_empty();
                println!(
                    "{:<14} {:<20} {:<24} {}{}",
                    v.version,
                    at,
                    v.activated_by,
                    if kept { "kept" } else { "not kept" },
                    if i == 0 { "  (active)" } else { "" }
                );
            }
            if versions.is_empty() {
                println!("no flow version was activated with this store yet");
            }
            Ok(true)
        }
        FlowCommand::Rollback {
            version,
            flows,
            prompts,
        } => {
            let flows = flows.unwrap_or_else(|| shipped_dir(&config.flows.dir));
            let prompts = prompts.unwrap_or_else(|| shipped_dir(&config.media.prompts));
            let files = store.flow_files(&version).await?;
            anyhow::ensure!(
                !files.is_empty(),
                "no files are kept for version {version:?} (frontdoor flow versions lists them)"
            );
            let check = crate::flows::check_version(&files, &prompts);
            for p in &check.problems {
                println!("{}:{}:{}: {}", p.file, p.line, p.col, p.message);
            }
            for line in check.tests.iter().flat_map(|t| &t.lines) {
                println!("{line}");
            }
            if !check.ok {
                println!("version {version} not written: fix the problems above first");
                return Ok(false);
            }
            let user = std::env::var("SUDO_USER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "unknown".into());
            std::fs::write(
                flows.join(crate::flows::ACTIVATED_BY_FILE),
                format!("cli:{user}\n"),
            )?;
            crate::flows::write_version(&flows, &files)?;
            let made = check.version.unwrap_or_default();
            println!(
                "version {version} written to {}; a running engine activates it within seconds{}",
                flows.display(),
                if made == version {
                    String::new()
                } else {
                    format!(" (as version {made}: the prompts changed since)")
                }
            );
            Ok(true)
        }
        other => run(config, other),
    }
}

/// Run a flow command; `Ok(false)` means "ran, and found problems".
pub fn run(config: &Config, cmd: FlowCommand) -> anyhow::Result<bool> {
    let dirs = |flows: Option<PathBuf>, prompts: Option<PathBuf>| {
        (
            flows.unwrap_or_else(|| shipped_dir(&config.flows.dir)),
            prompts.unwrap_or_else(|| shipped_dir(&config.media.prompts)),
        )
    };
    match cmd {
        FlowCommand::Check { dir, prompts } => {
            let (flows, prompts) = dirs(dir, prompts);
            // The recordings themselves (format, rate, channels), beside
            // every problem of the flows.
            let recordings = PromptStore::load_dir(&prompts);
            if let Err(error) = &recordings {
                println!("{error:#}");
            }
            let set = load(&flows, &prompts);
            // The starter taxonomy beside the flows, when there is one.
            let taxonomy = flows.join("taxonomy.csv");
            let taxonomy_problems = match std::fs::read_to_string(&taxonomy) {
                Ok(text) => frontdoor_cti::taxonomy::parse(&taxonomy.display().to_string(), &text)
                    .err()
                    .unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            for p in &taxonomy_problems {
                println!("{p}");
            }
            if recordings.is_err() || !taxonomy_problems.is_empty() {
                if set.is_some() {
                    println!(
                        "{} problem(s)",
                        taxonomy_problems.len() + usize::from(recordings.is_err())
                    );
                }
                return Ok(false);
            }
            Ok(set.is_some_and(|set| {
                println!(
                    "{}: flows ok: {} nodes, {} centres, {} region prefixes, {} prompts (version {})",
                    flows.display(),
                    set.nodes.len(),
                    set.centres.len(),
                    set.regions.rows().len(),
                    set.catalog.len(),
                    set.hash
                );
                println!("{}", region_coverage(&set));
                true
            }))
        }
        FlowCommand::Simulate {
            caller,
            at,
            keys,
            emergency,
            flows,
            prompts,
        } => {
            let (flows, prompts) = dirs(flows, prompts);
            let at = match at {
                Some(a) => schedule::parse_local(&a).map_err(|e| anyhow::anyhow!("--at: {e}"))?,
                None => jiff::Zoned::now().with_time_zone(schedule::zone()),
            };
            let keys = parse_keys(&keys).map_err(|e| anyhow::anyhow!("--keys: {e}"))?;
            let Some(set) = load(&flows, &prompts) else {
                return Ok(false);
            };
            let t = sim::simulate(&set, &caller, at, &keys, emergency);
            print!("{}", t.text());
            Ok(t.route.is_some() || t.hung_up)
        }
        FlowCommand::Diagram { dir, prompts } => {
            let (flows, prompts) = dirs(dir, prompts);
            let Some(set) = load(&flows, &prompts) else {
                return Ok(false);
            };
            print!("{}", frontdoor_ivr::diagram::svg(&set));
            Ok(true)
        }
        FlowCommand::Versions { .. } | FlowCommand::Rollback { .. } => {
            anyhow::bail!("this flow command reads the store (run_with_store)")
        }
        FlowCommand::Test { dir, prompts } => {
            let (flows, prompts) = dirs(dir, prompts);
            let Some(set) = load(&flows, &prompts) else {
                return Ok(false);
            };
            match sim::run_tests(&set, &flows.join("tests")) {
                Ok(report) => {
                    for line in &report.lines {
                        println!("{line}");
                    }
                    println!("{} passed, {} failed", report.passed, report.failed);
                    Ok(report.failed == 0 && report.passed > 0)
                }
                Err(problems) => {
                    print!("{problems}");
                    Ok(false)
                }
            }
        }
    }
}

/// Ontario's area codes, overlays included.
const ONTARIO_AREA_CODES: [&str; 18] = [
    "226", "249", "289", "343", "365", "382", "416", "437", "519", "548", "613", "647", "683",
    "705", "742", "753", "807", "905",
];

/// How the region table covers Ontario's area codes: those mapped whole to
/// a region, those whose callers are asked unless their exchange is listed
/// (`ask`, and area codes with no row), and how many of their exchanges map.
fn region_coverage(set: &FlowSet) -> String {
    let rows = set.regions.rows();
    let row_of = |a: &str| rows.iter().find(|r| r.prefix == a);
    let whole: Vec<&str> = ONTARIO_AREA_CODES
        .into_iter()
        .filter(|a| row_of(a).is_some_and(|r| r.region != frontdoor_ivr::regions::ASK))
        .collect();
    let by_exchange: Vec<String> = ONTARIO_AREA_CODES
        .into_iter()
        .filter(|a| !whole.contains(a))
        .map(|a| {
            let n = rows
                .iter()
                .filter(|r| r.prefix.len() == 6 && r.prefix.starts_with(a))
                .count();
            format!("{a}: {n}")
        })
        .collect();
    let missing: Vec<&str> = ONTARIO_AREA_CODES
        .into_iter()
        .filter(|a| row_of(a).is_none())
        .collect();
    let exchanges = rows.iter().filter(|r| r.prefix.len() == 6).count();
    let rows_line = if missing.is_empty() {
        format!(
            "every one of Ontario's {} area codes has a row",
            ONTARIO_AREA_CODES.len()
        )
    } else {
        format!("no row for {}", missing.join(", "))
    };
    format!(
        "regions: {rows_line}; {} map whole ({}); {exchanges} exchanges map to a region; \
         area codes by exchange (exchanges mapped): {} — callers from an exchange not listed are asked their region \
         (frontdoor regions import fills the table from the central-office code list)",
        whole.len(),
        whole.join(", "),
        by_exchange.join(", ")
    )
}

/// Load and check; print every problem and return `None` when there is one.
fn load(flows: &Path, prompts: &Path) -> Option<Arc<FlowSet>> {
    match FlowSet::load(flows, prompts) {
        Ok(set) => Some(Arc::new(set)),
        Err(problems) => {
            print!("{problems}");
            println!("{} problem(s)", problems.0.len());
            None
        }
    }
}
