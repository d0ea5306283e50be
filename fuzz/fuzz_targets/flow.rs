//! The flow loader (ivr/src/flowset): a flow set compiled from its files,
//! one of them replaced by the input, every problem a `file:line:col`
//! diagnostic and never a panic. A set that compiles is then run, as
//! `frontdoor flow simulate` runs it, with keys taken from the input.
//!
//! Input: one selector byte, then the file's text. The selector, modulo 4,
//! picks the file the text replaces in the shipped set (`flows/`,
//! `prompts/catalog.yaml`): 0 the flow (`211.yaml`), 1 `centres.yaml`,
//! 2 `regions.csv`, 3 the prompt catalog.

#![no_main]

use std::path::Path;
use std::sync::{Arc, LazyLock};

use frontdoor_ivr::FlowSet;
use frontdoor_ivr::flowset::Sources;
use frontdoor_ivr::sim::{Press, simulate};
use libfuzzer_sys::fuzz_target;

/// The shipped set, read once per process.
static SHIPPED: LazyLock<Sources> = LazyLock::new(|| {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let sources = Sources::read(&root.join("flows"), &root.join("prompts"))
        .unwrap_or_else(|e| panic!("the shipped flows do not read:\n{e}"));
    FlowSet::compile(&sources).unwrap_or_else(|e| panic!("the shipped flows do not compile:\n{e}"));
    sources
});

fuzz_target!(|data: &[u8]| {
    let Some((&selector, text)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(text).into_owned();
    let mut sources = SHIPPED.clone();
    match selector % 4 {
        0 => sources.flows[0].1 = text,
        1 => sources.centres.1 = text,
        2 => sources.regions.1 = text,
        _ => sources.catalog.1 = text,
    }
    let _ = sources.hash();
    match FlowSet::compile(&sources) {
        Ok(set) => {
            let set = Arc::new(set);
            let at = jiff::Timestamp::from_second(1_800_000_000)
                .expect("a valid instant")
                .to_zoned(jiff::tz::TimeZone::UTC);
            // Keys from the text's last bytes: a digit, `*`, `#`, or a silence.
            let keys: Vec<Press> = data
                .iter()
                .rev()
                .take(12)
                .map(|b| match b % 14 {
                    k @ 0..=9 => Press::Key(char::from(b'0' + k)),
                    10 => Press::Key('*'),
                    11 => Press::Key('#'),
                    _ => Press::Silence,
                })
                .collect();
            for (caller, emergency) in [("+16135550123", false), ("anonymous", true)] {
                let _ = simulate(&set, caller, at.clone(), &keys, emergency);
            }
        }
        Err(diagnostics) => {
            assert!(!diagnostics.0.is_empty(), "a refused set names a problem");
            let _ = diagnostics.to_string();
        }
    }
});
