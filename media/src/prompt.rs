//! Prompts: recorded announcements, loaded once at start and shared by
//! every call that plays them.
//!
//! Prompts live in `<dir>/<lang>/<id>.wav` (`prompts/en/welcome.wav`) as
//! 8000 Hz mono 16-bit PCM — the telephone format, so nothing is resampled
//! at run time. Each file is decoded once and encoded once to both PCMU and
//! PCMA, padded with silence to whole 20 ms frames. A [`Prompt`] is a
//! handle to those shared buffers: cloning it is a reference-count
//! increment, and a thousand callers hearing the welcome message read the
//! same bytes.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufReader, ErrorKind};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use thiserror::Error;

use crate::g711::Codec;
use crate::{FRAME_SAMPLES, SAMPLE_RATE};

/// Why the prompts could not be loaded. Each variant names the file, so an
/// operator can fix it.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum PromptError {
    /// The prompt file does not exist.
    #[error("prompt {path}: file not found")]
    Missing { path: PathBuf },
    /// The file or directory exists but could not be read.
    #[error("prompt {path}: cannot read: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Not a WAV file hound can read (or a truncated one).
    #[error("prompt {path}: not a valid WAV file: {source}")]
    Wav { path: PathBuf, source: hound::Error },
    /// A WAV file in another format than 8000 Hz mono 16-bit PCM.
    #[error(
        "prompt {path}: {found}; prompts must be 8000 Hz mono 16-bit PCM (convert with scripts/make-prompts or `sox IN -r 8000 -c 1 -b 16 OUT.wav`)"
    )]
    Format { path: PathBuf, found: String },
    /// A WAV file without a single sample.
    #[error("prompt {path}: no audio")]
    Empty { path: PathBuf },
}

/// One prompt's audio, ready to send: shared PCMU and PCMA encodings of
/// whole 20 ms frames.
#[derive(Clone)]
pub struct Prompt {
    name: Arc<str>,
    pcmu: Bytes,
    pcma: Bytes,
}

impl std::fmt::Debug for Prompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prompt")
            .field("name", &self.name)
            .field("frames", &self.frame_count())
            .finish()
    }
}

impl Prompt {
    /// Encodes 8 kHz linear PCM (padded with silence to whole frames).
    /// Used for WAV files and for audio made in code (tones, tests).
    pub fn from_pcm(name: impl Into<Arc<str>>, pcm: &[i16]) -> Prompt {
        let padded_len = pcm.len().div_ceil(FRAME_SAMPLES) * FRAME_SAMPLES;
        let encode = |codec: Codec| {
            let mut out = Vec::with_capacity(padded_len);
            codec.encode_into(pcm, &mut out);
            out.resize(padded_len, codec.silence());
            Bytes::from(out)
        };
        Prompt {
            name: name.into(),
            pcmu: encode(Codec::Pcmu),
            pcma: encode(Codec::Pcma),
        }
    }

    /// `duration` of silence, rounded up to whole frames (a pause between
    /// prompts).
    pub fn silence(duration: Duration) -> Prompt {
        let samples = duration.as_micros().div_ceil(125) as usize; // 125 µs per sample
        Prompt::from_pcm("silence", &vec![0; samples])
    }

    /// Loads one WAV file, which must be 8000 Hz mono 16-bit PCM.
    pub fn from_wav(path: &Path) -> Result<Prompt, PromptError> {
        let file = File::open(path).map_err(|source| match source.kind() {
            ErrorKind::NotFound => PromptError::Missing {
                path: path.to_owned(),
            },
            _ => PromptError::Io {
                path: path.to_owned(),
                source,
            },
        })?;
        let wav_error = |source| PromptError::Wav {
            path: path.to_owned(),
            source,
        };
        let reader = hound::WavReader::new(BufReader::new(file)).map_err(wav_error)?;
        let spec = reader.spec();
        if spec.sample_rate != SAMPLE_RATE
            || spec.channels != 1
            || spec.bits_per_sample != 16
            || spec.sample_format != hound::SampleFormat::Int
        {
            return Err(PromptError::Format {
                path: path.to_owned(),
                found: describe(&spec),
            });
        }
        let pcm = reader
            .into_samples::<i16>()
            .collect::<Result<Vec<i16>, _>>()
            .map_err(wav_error)?;
        if pcm.is_empty() {
            return Err(PromptError::Empty {
                path: path.to_owned(),
            });
        }
        let name = path.display().to_string();
        Ok(Prompt::from_pcm(name, &pcm))
    }

    /// Where the prompt came from (its path, or the name given to `from_pcm`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The whole encoding in one codec (a multiple of 160 bytes), shared.
    pub fn encoded(&self, codec: Codec) -> &Bytes {
        match codec {
            Codec::Pcmu => &self.pcmu,
            Codec::Pcma => &self.pcma,
        }
    }

    /// The 20 ms frames (160 bytes each) in one codec.
    pub fn frames(&self, codec: Codec) -> impl Iterator<Item = &[u8]> {
        self.encoded(codec).chunks_exact(FRAME_SAMPLES)
    }

    /// Frame `index` (0-based) in one codec.
    pub fn frame(&self, codec: Codec, index: usize) -> Option<&[u8]> {
        let start = index.checked_mul(FRAME_SAMPLES)?;
        self.encoded(codec).get(start..start + FRAME_SAMPLES)
    }

    pub fn frame_count(&self) -> usize {
        self.pcmu.len() / FRAME_SAMPLES
    }

    /// Playing time (whole frames).
    pub fn duration(&self) -> Duration {
        crate::FRAME_DURATION * self.frame_count() as u32
    }
}

/// "44100 Hz stereo 16-bit PCM", for error messages.
fn describe(spec: &hound::WavSpec) -> String {
    let channels = match spec.channels {
        1 => "mono".to_owned(),
        2 => "stereo".to_owned(),
        n => format!("{n} channels"),
    };
    let format = match spec.sample_format {
        hound::SampleFormat::Int => "PCM",
        hound::SampleFormat::Float => "float",
    };
    format!(
        "{} Hz {channels} {}-bit {format}",
        spec.sample_rate, spec.bits_per_sample
    )
}

/// Every prompt of the engine, by language and id, loaded once at start.
/// Share it (`Arc<PromptStore>`) between calls; [`PromptStore::get`] hands
/// out [`Prompt`] handles that share the audio.
#[derive(Debug, Clone, Default)]
pub struct PromptStore {
    /// language → id → prompt
    prompts: HashMap<String, HashMap<String, Prompt>>,
}

impl PromptStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Loads `dir/<lang>/<id>.wav` for every listed id and language. Any
    /// missing or malformed file is an error naming it.
    pub fn load(dir: &Path, ids: &[&str], langs: &[&str]) -> Result<Self, PromptError> {
        let mut store = PromptStore::new();
        for lang in langs {
            for id in ids {
                let path = dir.join(lang).join(format!("{id}.wav"));
                store.insert(lang, id, Prompt::from_wav(&path)?);
            }
        }
        Ok(store)
    }

    /// Loads every `dir/<lang>/*.wav`: each subdirectory is a language,
    /// each WAV file in it a prompt named after the file (without `.wav`).
    /// Other files are ignored.
    pub fn load_dir(dir: &Path) -> Result<Self, PromptError> {
        let mut store = PromptStore::new();
        for lang_dir in sorted_entries(dir)? {
            if !lang_dir.is_dir() {
                continue;
            }
            let Some(lang) = lang_dir.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            for file in sorted_entries(&lang_dir)? {
                let is_wav = file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("wav"));
                let Some(id) = file.file_stem().and_then(|n| n.to_str()) else {
                    continue;
                };
                if is_wav && file.is_file() {
                    store.insert(lang, id, Prompt::from_wav(&file)?);
                }
            }
        }
        Ok(store)
    }

    /// Adds or replaces one prompt.
    pub fn insert(&mut self, lang: &str, id: &str, prompt: Prompt) {
        self.prompts
            .entry(lang.to_owned())
            .or_default()
            .insert(id.to_owned(), prompt);
    }

    /// The prompt `id` in `lang` (a cheap clone of shared buffers).
    pub fn get(&self, lang: &str, id: &str) -> Option<Prompt> {
        self.prompts.get(lang)?.get(id).cloned()
    }

    /// Whether `id` exists in `lang`.
    pub fn contains(&self, lang: &str, id: &str) -> bool {
        self.prompts
            .get(lang)
            .is_some_and(|ids| ids.contains_key(id))
    }

    /// The languages present, sorted.
    pub fn languages(&self) -> Vec<&str> {
        let mut langs: Vec<&str> = self.prompts.keys().map(String::as_str).collect();
        langs.sort_unstable();
        langs
    }

    /// The prompt ids of one language, sorted.
    pub fn ids(&self, lang: &str) -> Vec<&str> {
        let mut ids: Vec<&str> = self
            .prompts
            .get(lang)
            .map(|m| m.keys().map(String::as_str).collect())
            .unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    /// Number of prompts over all languages.
    pub fn len(&self) -> usize {
        self.prompts.values().map(HashMap::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The entries of a directory, sorted by name (deterministic load order).
fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>, PromptError> {
    let io_error = |source: std::io::Error| match source.kind() {
        ErrorKind::NotFound => PromptError::Missing {
            path: dir.to_owned(),
        },
        _ => PromptError::Io {
            path: dir.to_owned(),
            source,
        },
    };
    let mut paths = std::fs::read_dir(dir)
        .map_err(io_error)?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(io_error)?;
    paths.sort();
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prompts shipped in the repository.
    const SHIPPED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../prompts");

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let path = std::env::temp_dir().join(format!(
                "frontdoor-media-{tag}-{}-{}",
                std::process::id(),
                fastrand::u64(..)
            ));
            std::fs::create_dir_all(&path).expect("temp dir is writable");
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn write_wav(path: &Path, spec: hound::WavSpec, samples: usize) {
        std::fs::create_dir_all(path.parent().expect("has a parent")).expect("writable");
        let mut writer = hound::WavWriter::create(path, spec).expect("writable");
        for n in 0..samples * usize::from(spec.channels) {
            match spec.sample_format {
                hound::SampleFormat::Int => writer.write_sample((n % 100) as i16).expect("write"),
                hound::SampleFormat::Float => writer.write_sample(0.0f32).expect("write"),
            }
        }
        writer.finalize().expect("finalize");
    }

    fn telephone_spec() -> hound::WavSpec {
        hound::WavSpec {
            channels: 1,
            sample_rate: 8000,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        }
    }

    #[test]
    fn shipped_welcome_prompts_load_in_both_languages() {
        let dir = Path::new(SHIPPED);
        let store =
            PromptStore::load(dir, &["welcome"], &["en", "fr"]).expect("shipped prompts load");
        for lang in ["en", "fr"] {
            let welcome = store.get(lang, "welcome").expect("welcome prompt");
            assert!(
                welcome.duration() > Duration::from_secs(3)
                    && welcome.duration() < Duration::from_secs(30),
                "{lang}: {:?}",
                welcome.duration()
            );
            assert!(welcome.frames(Codec::Pcmu).all(|f| f.len() == 160));
            assert_eq!(welcome.frames(Codec::Pcma).count(), welcome.frame_count());
        }
        let all = PromptStore::load_dir(dir).expect("the whole shipped directory loads");
        assert!(all.contains("en", "welcome") && all.contains("fr", "welcome"));
        assert_eq!(all.languages(), vec!["en", "fr"]);
    }

    #[test]
    fn a_44_1_khz_stereo_wav_is_refused_naming_the_file() {
        let tmp = TempDir::new("stereo");
        let path = tmp.0.join("en").join("welcome.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44_100,
            ..telephone_spec()
        };
        write_wav(&path, spec, 4410);
        let err = PromptStore::load(&tmp.0, &["welcome"], &["en"]).expect_err("wrong format");
        let message = err.to_string();
        assert!(
            matches!(&err, PromptError::Format { found, .. } if found == "44100 Hz stereo 16-bit PCM")
        );
        assert!(message.contains(&path.display().to_string()), "{message}");
        assert!(message.contains("44100 Hz stereo"), "{message}");
        // load_dir refuses it the same way.
        assert!(matches!(
            PromptStore::load_dir(&tmp.0),
            Err(PromptError::Format { .. })
        ));
    }

    #[test]
    fn other_wrong_formats_are_refused_with_what_was_found() {
        let tmp = TempDir::new("formats");
        let cases = [
            (
                hound::WavSpec {
                    sample_rate: 16_000,
                    ..telephone_spec()
                },
                "16000 Hz mono 16-bit PCM",
            ),
            (
                hound::WavSpec {
                    bits_per_sample: 8,
                    ..telephone_spec()
                },
                "8000 Hz mono 8-bit PCM",
            ),
            (
                hound::WavSpec {
                    bits_per_sample: 32,
                    sample_format: hound::SampleFormat::Float,
                    ..telephone_spec()
                },
                "8000 Hz mono 32-bit float",
            ),
        ];
        for (i, (spec, expected)) in cases.into_iter().enumerate() {
            let path = tmp.0.join(format!("case{i}.wav"));
            if spec.bits_per_sample == 8 {
                // hound writes 8-bit samples from i8.
                let mut writer = hound::WavWriter::create(&path, spec).expect("writable");
                writer.write_sample(0i8).expect("write");
                writer.finalize().expect("finalize");
            } else {
                write_wav(&path, spec, 80);
            }
            match Prompt::from_wav(&path) {
                Err(PromptError::Format { path: p, found }) => {
                    assert_eq!(p, path);
                    assert_eq!(found, expected);
                }
                other => panic!("{expected}: {other:?}"),
            }
        }
    }

    #[test]
    fn missing_prompt_names_its_path() {
        let tmp = TempDir::new("missing");
        let err = PromptStore::load(&tmp.0, &["goodbye"], &["fr"]).expect_err("no such file");
        let expected = tmp.0.join("fr").join("goodbye.wav");
        assert!(
            matches!(&err, PromptError::Missing { path } if *path == expected),
            "{err}"
        );
        assert!(err.to_string().contains("goodbye.wav"));
        assert!(matches!(
            PromptStore::load_dir(&tmp.0.join("nope")),
            Err(PromptError::Missing { .. })
        ));
    }

    #[test]
    fn garbage_and_empty_files_are_refused() {
        let tmp = TempDir::new("garbage");
        let garbage = tmp.0.join("garbage.wav");
        std::fs::write(&garbage, b"RIFF....not really").expect("writable");
        assert!(matches!(
            Prompt::from_wav(&garbage),
            Err(PromptError::Wav { .. })
        ));
        let empty = tmp.0.join("empty.wav");
        write_wav(&empty, telephone_spec(), 0);
        assert!(matches!(
            Prompt::from_wav(&empty),
            Err(PromptError::Empty { .. })
        ));
    }

    #[test]
    fn prompt_is_padded_to_whole_frames_with_silence_in_each_law() {
        let pcm: Vec<i16> = (0..170).map(|n| (n * 50) as i16).collect();
        let prompt = Prompt::from_pcm("test", &pcm);
        assert_eq!(prompt.frame_count(), 2);
        assert_eq!(prompt.duration(), Duration::from_millis(40));
        for codec in [Codec::Pcmu, Codec::Pcma] {
            let bytes = prompt.encoded(codec);
            assert_eq!(bytes.len(), 320);
            assert_eq!(
                bytes[..170]
                    .iter()
                    .zip(&pcm)
                    .filter(|&(&b, &s)| b != codec.encode(s))
                    .count(),
                0
            );
            assert!(
                bytes[170..].iter().all(|&b| b == codec.silence()),
                "{codec:?} padding"
            );
            assert_eq!(prompt.frame(codec, 1), Some(&bytes[160..320]));
            assert_eq!(prompt.frame(codec, 2), None);
        }
    }

    #[test]
    fn clones_share_the_encoded_audio() {
        let prompt = Prompt::from_pcm("shared", &[1000; 1600]);
        let copy = prompt.clone();
        assert_eq!(
            prompt.encoded(Codec::Pcmu).as_ptr(),
            copy.encoded(Codec::Pcmu).as_ptr()
        );
        let mut store = PromptStore::new();
        store.insert("en", "shared", prompt.clone());
        let fetched = store.get("en", "shared").expect("inserted");
        assert_eq!(
            fetched.encoded(Codec::Pcma).as_ptr(),
            prompt.encoded(Codec::Pcma).as_ptr()
        );
        assert_eq!(store.get("fr", "shared").map(|p| p.frame_count()), None);
        assert_eq!((store.len(), store.ids("en")), (1, vec!["shared"]));
    }

    #[test]
    fn a_wav_file_round_trips_into_a_prompt() {
        let tmp = TempDir::new("roundtrip");
        let path = tmp.0.join("en").join("menu.wav");
        write_wav(&path, telephone_spec(), 400);
        let prompt = Prompt::from_wav(&path).expect("valid file");
        assert_eq!(prompt.frame_count(), 3);
        assert_eq!(
            prompt.frame(Codec::Pcmu, 0).map(|f| f[1]),
            Some(crate::g711::ulaw_encode(1))
        );
        assert_eq!(Prompt::silence(Duration::from_millis(30)).frame_count(), 2);
    }
}
