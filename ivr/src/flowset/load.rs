//! Reading a flow set's files from disk, and the version fingerprint.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use super::{Diagnostic, Diagnostics, Lang};

/// The files of a flow set, read but not yet checked. Tests build one in
/// memory; [`Sources::read`] reads a directory.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Flow files (`*.yaml` of the flows directory except `centres.yaml`).
    pub flows: Vec<(PathBuf, String)>,
    pub centres: (PathBuf, String),
    pub regions: (PathBuf, String),
    pub catalog: (PathBuf, String),
    /// The recordings present: `(lang, id)` for each `prompts/<lang>/<id>.wav`.
    pub recordings: HashSet<(Lang, String)>,
    /// Where the recordings live, for messages.
    pub prompts_dir: PathBuf,
    /// A digest of the recordings' sound, so a re-recorded prompt makes a
    /// new version (empty for sources built in memory).
    pub recordings_digest: Vec<u8>,
}

impl Sources {
    /// Read the flows directory and the prompts directory.
    pub fn read(flows_dir: &Path, prompts_dir: &Path) -> Result<Sources, Diagnostics> {
        let mut problems = Vec::new();
        let mut flow_paths = Vec::new();
        match std::fs::read_dir(flows_dir) {
            Ok(entries) => {
                for entry in entries.flatten() {
                    let path = entry.path();
                    let is_yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
                    if is_yaml && path.file_name().is_some_and(|n| n != "centres.yaml") {
                        flow_paths.push(path);
                    }
                }
            }
            Err(e) => problems.push(file_problem(flows_dir, format!("cannot read: {e}"))),
        }
        let mut read = |path: PathBuf| -> (PathBuf, String) {
            match std::fs::read_to_string(&path) {
                Ok(text) => (path, text),
                Err(e) => {
                    problems.push(file_problem(&path, format!("cannot read: {e}")));
                    (path, String::new())
                }
            }
        };
        let centres = read(flows_dir.join("centres.yaml"));
        let regions = read(flows_dir.join("regions.csv"));
        let catalog = read(prompts_dir.join("catalog.yaml"));
        flow_paths.sort();
        let flows = flow_paths.into_iter().map(&mut read).collect();
        let mut recordings = HashSet::new();
        let mut wavs = Vec::new();
        for lang in Lang::ALL {
            let dir = prompts_dir.join(lang.as_str());
            if let Ok(entries) = std::fs::read_dir(&dir) {
                for entry in entries.flatten() {
                    let path = entry.path();
                    if path.extension().is_some_and(|e| e == "wav")
                        && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                    {
                        recordings.insert((lang, stem.to_owned()));
                        wavs.push(path);
                    }
                }
            }
        }
        wavs.sort();
        let recordings_digest = {
            use sha2::{Digest, Sha256};
            let mut h = Sha256::new();
            for path in &wavs {
                h.update(path.to_string_lossy().as_bytes());
                // An unreadable file is reported when the recordings load.
                h.update(std::fs::read(path).unwrap_or_default());
            }
            h.finalize().to_vec()
        };
        if !problems.is_empty() {
            return Err(Diagnostics(problems));
        }
        Ok(Sources {
            flows,
            centres,
            regions,
            catalog,
            recordings,
            prompts_dir: prompts_dir.to_owned(),
            recordings_digest,
        })
    }

    /// A short stable fingerprint of everything in the set: the version id.
    pub fn hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        let mut feed = |path: &Path, text: &str| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            h.update(name.unwrap_or_default().as_bytes());
            h.update([0]);
            h.update(text.as_bytes());
            h.update([0]);
        };
        for (path, text) in &self.flows {
            feed(path, text);
        }
        feed(&self.centres.0, &self.centres.1);
        feed(&self.regions.0, &self.regions.1);
        feed(&self.catalog.0, &self.catalog.1);
        let mut recordings: Vec<_> = self.recordings.iter().collect();
        recordings.sort();
        for (lang, id) in recordings {
            h.update(lang.as_str().as_bytes());
            h.update(id.as_bytes());
        }
        h.update(&self.recordings_digest);
        let digest = h.finalize();
        digest[..6].iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn file_problem(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        file: path.to_owned(),
        line: 1,
        col: 1,
        message,
    }
}
