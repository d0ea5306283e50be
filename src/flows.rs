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
use frontdoor_cti::console::{FlowCheck, FlowConsole, FlowFile, FlowProblem, FlowTests};
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
    /// The account that activated it (the operations console), `cli:USER`
    /// (`frontdoor flow rollback`), or `system` (the files changed, SIGHUP,
    /// the start).
    pub activated_by: String,
    /// The flows folder's files of this version, kept in the store so it
    /// can be activated again.
    pub files: Vec<FlowFile>,
}

/// A file in the flows folder naming who the next activation is by
/// (written by `frontdoor flow rollback`; read and removed at the reload).
pub const ACTIVATED_BY_FILE: &str = ".activated-by";

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
    /// Held while the flows folder is rewritten and reloaded (the
    /// console) or reloaded (the watcher), so neither sees half a version.
    installing: Mutex<()>,
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
            installing: Mutex::new(()),
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
        let _installing = self.installing.lock().unwrap_or_else(|e| e.into_inner());
        self.reload_as(None)
    }

    /// [`Flows::reload`] with the installing lock held; `by` is who
    /// activates (else the note `frontdoor flow rollback` left, else
    /// `system`).
    fn reload_as(&self, by: Option<&str>) -> anyhow::Result<Option<String>> {
        let marker = self.flows_dir.join(ACTIVATED_BY_FILE);
        let noted = std::fs::read_to_string(&marker)
            .ok()
            .map(|s| s.trim().to_owned());
        let _ = std::fs::remove_file(&marker);
        let mut active = load_active(&self.flows_dir, &self.prompts_dir)?;
        if let Some(by) = by.map(str::to_owned).or(noted).filter(|b| !b.is_empty()) {
            active.activated_by = by;
        }
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
        activated_by: "system".into(),
        files: version_files(flows_dir),
    })
}

/// Shortest and longest recording a prompt may be.
const RECORDING_MIN: Duration = Duration::from_millis(300);
const RECORDING_MAX: Duration = Duration::from_secs(60);

/// Whether `wav` is a recording the engine can play and callers can hear:
/// 8 kHz mono 16-bit PCM (what the prompts are), 0.3 to 60 seconds long,
/// its loudest moment above -30 dBFS, and not clipped. Else, why not, in
/// words for the person who made it.
pub fn check_recording(wav: &[u8]) -> Result<(), String> {
    let reader = hound::WavReader::new(std::io::Cursor::new(wav))
        .map_err(|e| format!("not a WAV file this engine can read ({e})"))?;
    let spec = reader.spec();
    if spec.sample_rate != 8000
        || spec.channels != 1
        || spec.bits_per_sample != 16
        || spec.sample_format != hound::SampleFormat::Int
    {
        return Err(format!(
            "the recording is {} Hz, {} channel(s), {}-bit: prompts are 8000 Hz, mono, 16-bit PCM \
             (for example: sox in.wav -r 8000 -c 1 -b 16 out.wav)",
            spec.sample_rate, spec.channels, spec.bits_per_sample
        ));
    }
    let samples: Vec<i16> = reader
        .into_samples::<i16>()
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the WAV file is damaged ({e})"))?;
    let length = Duration::from_secs_f64(samples.len() as f64 / 8000.0);
    if length < RECORDING_MIN {
        return Err(format!(
            "the recording lasts {:.1} s: at least {:.1} s",
            length.as_secs_f64(),
            RECORDING_MIN.as_secs_f64()
        ));
    }
    if length > RECORDING_MAX {
        return Err(format!(
            "the recording lasts {:.0} s: at most {} s (callers in distress need it short)",
            length.as_secs_f64(),
            RECORDING_MAX.as_secs()
        ));
    }
    let peak = samples.iter().map(|s| s.unsigned_abs()).max().unwrap_or(0);
    // -30 dBFS.
    if f64::from(peak) < 32768.0 * 10f64.powf(-30.0 / 20.0) {
        return Err(
            "the recording is silent or far too quiet: record it again closer to the microphone"
                .into(),
        );
    }
    let clipped = samples.iter().filter(|s| s.unsigned_abs() >= 32767).count();
    if clipped * 1000 > samples.len() {
        return Err("the recording is clipped (too loud: it will sound distorted): record it again a little further from the microphone".into());
    }
    Ok(())
}

/// The prompts a flow set plays: every node's, emergency mode's, and the
/// engine's own.
fn prompts_used(set: &FlowSet) -> std::collections::HashSet<&str> {
    use frontdoor_ivr::flowset::Kind;
    let mut lists: Vec<&[String]> = Vec::new();
    for node in &set.nodes {
        match &node.kind {
            Kind::Play { prompts, .. } | Kind::Hangup { prompts } => lists.push(prompts),
            Kind::Menu(m) => lists.extend([&m.prompt[..], &m.no_input, &m.no_match]),
            Kind::Collect(c) => lists.extend([&c.prompt[..], &c.no_input]),
            Kind::Route { prompt, .. } => lists.push(prompt),
            _ => {}
        }
    }
    if let Some(e) = &set.emergency {
        lists.push(&e.announcement);
        if let Some(o) = &e.option {
            lists.push(&o.prompt);
        }
    }
    lists
        .into_iter()
        .flatten()
        .map(String::as_str)
        .chain(ENGINE_PROMPTS)
        .collect()
}

/// The files of the flows folder that make a flow version: `*.yaml` and
/// `*.yml`, `regions.csv`, and the tests (`tests/*.yaml`), by path.
pub fn version_files(flows_dir: &Path) -> Vec<FlowFile> {
    let mut files = Vec::new();
    for (dir, prefix) in [
        (flows_dir.to_owned(), ""),
        (flows_dir.join("tests"), "tests/"),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let path = format!("{prefix}{name}");
            if !frontdoor_cti::console::valid_path(&path) || !entry.path().is_file() {
                continue;
            }
            if let Ok(content) = std::fs::read_to_string(entry.path()) {
                files.push(FlowFile { path, content });
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

/// Makes `files` the flow version of `flows_dir`: each written whole
/// (a temporary file renamed over it), and the version files not among
/// them removed (other files, such as `taxonomy.csv`, stay).
pub fn write_version(flows_dir: &Path, files: &[FlowFile]) -> anyhow::Result<()> {
    std::fs::create_dir_all(flows_dir.join("tests"))
        .with_context(|| format!("creating {}", flows_dir.join("tests").display()))?;
    for f in files {
        anyhow::ensure!(
            frontdoor_cti::console::valid_path(&f.path),
            "{:?} is not a flow file",
            f.path
        );
        let path = flows_dir.join(&f.path);
        let tmp = flows_dir.join(format!(".{}.new", f.path.replace('/', "_")));
        std::fs::write(&tmp, &f.content).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
    }
    for old in version_files(flows_dir) {
        if !files.iter().any(|f| f.path == old.path) {
            let path = flows_dir.join(&old.path);
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    Ok(())
}

/// A folder of its own under the system's temporary folder, removed when
/// dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> anyhow::Result<Scratch> {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "frontdoor-flows-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the checker and the flow tests say of `files` as a flow version
/// with the prompts of `prompts_dir`.
pub fn check_version(files: &[FlowFile], prompts_dir: &Path) -> FlowCheck {
    let scratch = match Scratch::new().and_then(|s| write_version(&s.0, files).map(|()| s)) {
        Ok(s) => s,
        Err(error) => {
            return FlowCheck {
                problems: vec![FlowProblem {
                    file: String::new(),
                    line: 1,
                    col: 1,
                    message: format!("{error:#}"),
                }],
                ..FlowCheck::default()
            };
        }
    };
    let dir = &scratch.0;
    // Messages name the files as the console does: relative to the folder.
    let relative = |path: &Path| {
        path.strip_prefix(dir)
            .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
    };
    let problems_of = |d: frontdoor_ivr::Diagnostics| -> Vec<FlowProblem> {
        d.0.iter()
            .map(|d| FlowProblem {
                file: relative(&d.file),
                line: d.line,
                col: d.col,
                message: d.message.clone(),
            })
            .collect()
    };
    let set = match FlowSet::load(dir, prompts_dir) {
        Ok(set) => Arc::new(set),
        Err(problems) => {
            return FlowCheck {
                problems: problems_of(problems),
                ..FlowCheck::default()
            };
        }
    };
    let prefix = format!("{}/", dir.display());
    let (tests, problems) = match frontdoor_ivr::sim::run_tests(&set, &dir.join("tests")) {
        Ok(report) => (
            FlowTests {
                lines: report
                    .lines
                    .iter()
                    .map(|l| l.replace(&prefix, ""))
                    .collect(),
                passed: report.passed,
                failed: report.failed,
            },
            Vec::new(),
        ),
        Err(problems) => (FlowTests::default(), problems_of(problems)),
    };
    FlowCheck {
        ok: problems.is_empty() && tests.failed == 0 && tests.passed > 0,
        version: Some(set.hash.clone()),
        problems,
        tests: Some(tests),
    }
}

impl FlowConsole for Flows {
    fn active(&self) -> (String, Vec<FlowFile>) {
        let active = self.current();
        (active.set.hash.clone(), active.files.clone())
    }

    fn check(&self, files: &[FlowFile]) -> FlowCheck {
        check_version(files, &self.prompts_dir)
    }

    fn diagram(&self) -> String {
        frontdoor_ivr::diagram::svg(&self.current().set)
    }

    fn prompts(&self) -> Vec<frontdoor_cti::console::PromptInfo> {
        let set = self.current().set.clone();
        let used = prompts_used(&set);
        let recorded = |lang: &str, id: &str| {
            self.prompts_dir
                .join(lang)
                .join(format!("{id}.recorded"))
                .is_file()
        };
        let mut out: Vec<_> = set
            .catalog
            .iter()
            .map(|(id, text)| frontdoor_cti::console::PromptInfo {
                id: id.clone(),
                en: text.en.clone(),
                fr: text.fr.clone(),
                recorded_en: recorded("en", id),
                recorded_fr: recorded("fr", id),
                used: used.contains(id.as_str()),
            })
            .collect();
        out.sort_by(|a, b| a.id.cmp(&b.id));
        out
    }

    fn record_prompt(&self, lang: &str, id: &str, wav: &[u8], by: &str) -> Result<String, String> {
        if !matches!(lang, "en" | "fr") {
            return Err(format!("language {lang:?}: en or fr"));
        }
        let text = {
            let set = self.current().set.clone();
            let Some(text) = set.catalog.get(id) else {
                return Err(format!(
                    "{id:?} is not a prompt of prompts/catalog.yaml: add its words there first"
                ));
            };
            if lang == "en" {
                text.en.clone()
            } else {
                text.fr.clone()
            }
        };
        check_recording(wav)?;
        let _installing = self.installing.lock().unwrap_or_else(|e| e.into_inner());
        let dir = self.prompts_dir.join(lang);
        let write = || -> std::io::Result<()> {
            let tmp = dir.join(format!(".{id}.wav.new"));
            std::fs::write(&tmp, wav)?;
            std::fs::rename(&tmp, dir.join(format!("{id}.wav")))?;
            // The words recorded: scripts/make-prompts leaves the sound
            // alone and warns when the catalogue's words change.
            std::fs::write(dir.join(format!("{id}.recorded")), format!("{text}\n"))
        };
        write().map_err(|e| format!("the recording could not be kept: {e}"))?;
        match self.reload_as(Some(by)) {
            Ok(Some(version)) => {
                tracing::info!(%version, by, lang, id, "a prompt's recording activated");
                Ok(version)
            }
            Ok(None) => Ok(self.current().set.hash.clone()),
            Err(error) => Err(format!("{error:#}")),
        }
    }

    fn prompt_wav(&self, lang: &str, id: &str) -> Option<Vec<u8>> {
        if !matches!(lang, "en" | "fr") || !frontdoor_cti::console::valid_prompt_id(id) {
            return None;
        }
        std::fs::read(self.prompts_dir.join(lang).join(format!("{id}.wav"))).ok()
    }

    fn activate(&self, files: &[FlowFile], by: &str) -> Result<String, FlowCheck> {
        let check = self.check(files);
        if !check.ok {
            return Err(check);
        }
        let _installing = self.installing.lock().unwrap_or_else(|e| e.into_inner());
        let refused = |message: String| FlowCheck {
            ok: false,
            problems: vec![FlowProblem {
                file: String::new(),
                line: 1,
                col: 1,
                message,
            }],
            ..check.clone()
        };
        write_version(&self.flows_dir, files).map_err(|e| refused(format!("{e:#}")))?;
        match self.reload_as(Some(by)) {
            Ok(Some(version)) => {
                tracing::info!(%version, by, "flows activated from the console");
                Ok(version)
            }
            // The same files as the active version: it stays.
            Ok(None) => Ok(self.current().set.hash.clone()),
            Err(error) => Err(refused(format!("{error:#}"))),
        }
    }
}

#[cfg(test)]
mod recording_tests {
    use super::check_recording;

    /// A WAV of `seconds` of a 440 Hz tone at `amplitude`, in this format.
    fn wav(rate: u32, channels: u16, seconds: f64, amplitude: f64) -> Vec<u8> {
        let spec = hound::WavSpec {
            channels,
            sample_rate: rate,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut out, spec).unwrap();
        let n = (f64::from(rate) * seconds) as usize;
        for i in 0..n {
            let v = (amplitude * (i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin())
                .clamp(-32768.0, 32767.0) as i16;
            for _ in 0..channels {
                w.write_sample(v).unwrap();
            }
        }
        w.finalize().unwrap();
        out.into_inner()
    }

    #[test]
    fn a_recording_is_taken_only_in_the_prompts_format_of_a_sensible_length_and_level() {
        assert_eq!(check_recording(&wav(8000, 1, 2.0, 8000.0)), Ok(()));
        let refused = |w: Vec<u8>, words: &str| {
            let why = check_recording(&w).unwrap_err();
            assert!(why.contains(words), "{why}");
        };
        refused(wav(44100, 2, 2.0, 8000.0), "44100 Hz, 2 channel(s)");
        refused(wav(8000, 1, 0.1, 8000.0), "lasts 0.1 s");
        refused(wav(8000, 1, 61.0, 8000.0), "at most 60 s");
        refused(wav(8000, 1, 2.0, 300.0), "too quiet");
        refused(wav(8000, 1, 2.0, 90000.0), "clipped");
        refused(b"RIFF not really".to_vec(), "not a WAV file");
    }
}
