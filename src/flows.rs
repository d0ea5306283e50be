//! The active flow set and its hot reload.
//!
//! A call takes the active [`Active`] (flow set and the prompts it plays)
//! when it is answered and keeps it to its end, so a reload never changes a
//! call in progress. The watcher re-checks the flows and prompts folders
//! when a file in them changes (polled: a few `stat` calls every couple of
//! seconds) and on SIGHUP. A set with any problem is refused, its problems
//! logged as `file:line:col: message`, and the active one stays.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use frontdoor_ivr::FlowSet;
use frontdoor_media::prompt::PromptStore;
use tokio::sync::watch;

/// Prompts the engine plays on its own: when a call cannot be connected,
/// and, past the crisis reserve, the busy message that lets a caller in
/// crisis press 9.
pub const ENGINE_PROMPTS: [&str; 2] = ["connect_failed", "reserve_busy"];

/// A checked flow set and the recordings of its prompts.
pub struct Active {
    pub set: Arc<FlowSet>,
    pub prompts: Arc<PromptStore>,
    pub activated_at: jiff::Timestamp,
}

/// One activated version, for `/healthz` and the logs.
#[derive(Debug, Clone)]
pub struct Version {
    pub hash: String,
    pub activated_at: jiff::Timestamp,
}

/// The active flows and the versions activated since start.
pub struct Flows {
    pub flows_dir: PathBuf,
    pub prompts_dir: PathBuf,
    active: watch::Sender<Arc<Active>>,
    history: Mutex<Vec<Version>>,
}

impl Flows {
    /// Load and check both folders; any problem is an error (the engine
    /// does not start on a broken flow set).
    pub fn load(flows_dir: PathBuf, prompts_dir: PathBuf) -> anyhow::Result<Arc<Flows>> {
        let active = load_active(&flows_dir, &prompts_dir)?;
        let version = Version {
            hash: active.set.hash.clone(),
            activated_at: active.activated_at,
        };
        tracing::info!(
            flows = %flows_dir.display(),
            prompts = %prompts_dir.display(),
            version = %version.hash,
            nodes = active.set.nodes.len(),
            recordings = active.prompts.len(),
            "flows activated"
        );
        let (tx, _) = watch::channel(Arc::new(active));
        Ok(Arc::new(Flows {
            flows_dir,
            prompts_dir,
            active: tx,
            history: Mutex::new(vec![version]),
        }))
    }

    /// What a new call runs on.
    pub fn current(&self) -> Arc<Active> {
        self.active.borrow().clone()
    }

    /// Told of every version that goes live (the current one is seen first).
    pub fn subscribe(&self) -> watch::Receiver<Arc<Active>> {
        let mut rx = self.active.subscribe();
        rx.mark_changed();
        rx
    }

    /// Every version activated since start, oldest first.
    pub fn history(&self) -> Vec<Version> {
        self.history.lock().map(|h| h.clone()).unwrap_or_default()
    }

    /// Re-check both folders; activate the result if it is sound and new.
    /// Returns the new version's hash, `None` when nothing changed.
    pub fn reload(&self) -> anyhow::Result<Option<String>> {
        let active = load_active(&self.flows_dir, &self.prompts_dir)?;
        if active.set.hash == self.current().set.hash {
            return Ok(None);
        }
        let hash = active.set.hash.clone();
        if let Ok(mut h) = self.history.lock() {
            h.push(Version {
                hash: hash.clone(),
                activated_at: active.activated_at,
            });
        }
        self.active.send_replace(Arc::new(active));
        Ok(Some(hash))
    }

    /// Reload on SIGHUP and whenever a file in either folder changes.
    pub fn watch(self: Arc<Flows>, poll: Option<Duration>) {
        tokio::spawn(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let mut hup = signal(SignalKind::hangup()).ok();
            let mut seen = self.fingerprint();
            loop {
                let why = tokio::select! {
                    Some(()) = async {
                        match hup.as_mut() {
                            Some(h) => h.recv().await,
                            None => std::future::pending().await,
                        }
                    } => "SIGHUP",
                    () = async {
                        match poll {
                            Some(p) => tokio::time::sleep(p).await,
                            None => std::future::pending().await,
                        }
                    } => {
                        let now = self.fingerprint();
                        if now == seen {
                            continue;
                        }
                        seen = now;
                        "files changed"
                    }
                };
                let me = self.clone();
                let result = tokio::task::spawn_blocking(move || me.reload()).await;
                match result {
                    Ok(Ok(Some(hash))) => {
                        let history = self.history();
                        let since = history.last().map(|v| v.activated_at.to_string());
                        tracing::info!(
                            version = %hash,
                            trigger = why,
                            at = since.unwrap_or_default(),
                            versions = history.len(),
                            "flows activated"
                        );
                    }
                    Ok(Ok(None)) => tracing::info!(trigger = why, "flows unchanged"),
                    Ok(Err(error)) => {
                        for line in format!("{error:#}").lines() {
                            tracing::error!(trigger = why, "flows refused: {line}");
                        }
                        tracing::warn!(
                            version = %self.current().set.hash,
                            "the previous flows stay active"
                        );
                    }
                    Err(error) => tracing::error!(%error, "flow reload failed"),
                }
            }
        });
    }

    /// Names, sizes and modification times of the files of both folders
    /// (one level of sub-folders: `prompts/en`, `flows/tests`).
    fn fingerprint(&self) -> Vec<(PathBuf, u64, Option<SystemTime>)> {
        let mut out = Vec::new();
        for dir in [&self.flows_dir, &self.prompts_dir] {
            list(dir, 1, &mut out);
        }
        out.sort();
        out
    }
}

fn list(dir: &Path, depth: u32, out: &mut Vec<(PathBuf, u64, Option<SystemTime>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            if depth > 0 {
                list(&entry.path(), depth - 1, out);
            }
        } else {
            out.push((entry.path(), meta.len(), meta.modified().ok()));
        }
    }
}

fn load_active(flows_dir: &Path, prompts_dir: &Path) -> anyhow::Result<Active> {
    let set = FlowSet::load(flows_dir, prompts_dir).map_err(|d| {
        anyhow::anyhow!(
            "{} problem(s) in the flows:\n{}",
            d.0.len(),
            d.to_string().trim_end()
        )
    })?;
    let prompts = PromptStore::load_dir(prompts_dir)
        .with_context(|| format!("loading prompts from {}", prompts_dir.display()))?;
    // Prompts the engine plays itself, whatever the flow says.
    for id in ENGINE_PROMPTS {
        for lang in ["en", "fr"] {
            anyhow::ensure!(
                prompts.get(lang, id).is_some(),
                "{}: the engine's own prompt `{id}` has no recording",
                prompts_dir.join(lang).join(format!("{id}.wav")).display()
            );
        }
    }
    Ok(Active {
        set: Arc::new(set),
        prompts: Arc::new(prompts),
        activated_at: jiff::Timestamp::now(),
    })
}
