//! The operations console's flows (docs/ops.md): the CTI serves the API;
//! the binary, which owns the flows folder and the checker, does the work
//! behind [`FlowConsole`] ([`Cti::set_flow_console`](crate::Cti::set_flow_console)).

use serde::{Deserialize, Serialize};

/// One file of a flow version, relative to the flows folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    /// `NAME.yaml` (a flow file or `centres.yaml`), `regions.csv`, or
    /// `tests/NAME.yaml` (a flow test).
    pub path: String,
    pub content: String,
}

/// Whether `path` may be a file of a flow version: a plain name in the
/// flows folder (`*.yaml`, `*.yml`, `regions.csv`) or a test case file
/// (`tests/*.yaml`). Nothing else is written to the flows folder.
pub fn valid_path(path: &str) -> bool {
    let (dir, name) = match path.split_once('/') {
        Some((dir, name)) => (Some(dir), name),
        None => (None, path),
    };
    let plain = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    let yaml = name.ends_with(".yaml") || name.ends_with(".yml");
    match dir {
        None => plain && (yaml || name == "regions.csv"),
        Some("tests") => plain && yaml,
        Some(_) => false,
    }
}

/// A problem of a flow version, at its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowProblem {
    /// The file, as in [`FlowFile::path`] (or the prompts' catalogue).
    pub file: String,
    pub line: u64,
    pub col: u64,
    pub message: String,
}

/// The flow tests' outcome (`frontdoor flow test`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowTests {
    /// One line per case: `ok   tests/FILE:LINE: name` or
    /// `FAIL tests/FILE:LINE: name: why`.
    pub lines: Vec<String>,
    pub passed: usize,
    pub failed: usize,
}

/// What the checker and the flow tests say of a flow version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FlowCheck {
    /// No problem, and every test passed (there must be at least one).
    pub ok: bool,
    /// The version these files make, when they load.
    pub version: Option<String>,
    pub problems: Vec<FlowProblem>,
    /// Run only when the files load.
    pub tests: Option<FlowTests>,
}

/// One prompt of the catalogue, as the console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromptInfo {
    pub id: String,
    /// Its English and French text (`prompts/catalog.yaml`).
    pub en: String,
    pub fr: String,
    /// Whether each language's sound is a person's recording (a
    /// `prompts/LANG/ID.recorded` marker) rather than synthetic speech.
    pub recorded_en: bool,
    pub recorded_fr: bool,
    /// Whether the active flows play it (or the engine does, on its own).
    pub used: bool,
}

/// Whether `id` may name a prompt: lowercase letters, digits and `_`,
/// starting with a letter (a file name in the prompts folder).
pub fn valid_prompt_id(id: &str) -> bool {
    id.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// What the binary does for the console: it owns the flows folder.
/// Every method may block (files, the checker): the API calls them off the
/// async workers.
pub trait FlowConsole: Send + Sync + 'static {
    /// The active version and its files.
    fn active(&self) -> (String, Vec<FlowFile>);
    /// Checks `files` as a whole flow version and runs its tests; changes
    /// nothing.
    fn check(&self, files: &[FlowFile]) -> FlowCheck;
    /// Checks `files`; when all is well, makes them the flows folder's
    /// content and activates them as `by` (the new calls run on them).
    /// Returns the version, or the check that refused it.
    fn activate(&self, files: &[FlowFile], by: &str) -> Result<String, FlowCheck>;
    /// The active version drawn as SVG: every node named, with its file
    /// and line (`data-file`, `data-line`).
    fn diagram(&self) -> String;
    /// Every prompt of the active version's catalogue, by id.
    fn prompts(&self) -> Vec<PromptInfo>;
    /// The sound of a prompt (`lang` "en" or "fr") as its WAV file, if
    /// there is one.
    fn prompt_wav(&self, lang: &str, id: &str) -> Option<Vec<u8>>;
    /// A person's recording of a prompt, uploaded: checked (format,
    /// length, level), kept as the prompt's sound in `lang`, and activated
    /// as a new flow version as `by`. Returns the version, or why it was
    /// refused (in words for the person who uploaded it).
    fn record_prompt(&self, lang: &str, id: &str, wav: &[u8], by: &str) -> Result<String, String>;
}

#[cfg(test)]
mod tests {
    use super::valid_path;

    #[test]
    fn only_flow_files_and_tests_may_be_written() {
        for ok in [
            "211.yaml",
            "centres.yaml",
            "regions.csv",
            "extra.yml",
            "tests/crisis.yaml",
        ] {
            assert!(valid_path(ok), "{ok}");
        }
        for bad in [
            "",
            "../211.yaml",
            "tests/../211.yaml",
            "/etc/passwd",
            ".hidden.yaml",
            "taxonomy.csv",
            "other/x.yaml",
            "tests/x.csv",
            "a b.yaml",
            "tests/sub/x.yaml",
        ] {
            assert!(!valid_path(bad), "{bad}");
        }
    }
}
