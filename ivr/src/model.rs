//! The YAML files as written by operations staff, before any checking.
//!
//! Every value that a later check may complain about is a [`Spanned`], so
//! the complaint can name its `file:line:col`. Maps whose order matters to
//! people (nodes, menu options) keep the order of the file.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_saphyr::Spanned;

/// A spanned string: the most common value in a flow.
pub type Text = Spanned<String>;

/// A YAML mapping kept in file order (duplicate keys are refused by the
/// parser before this sees them).
#[derive(Debug)]
pub struct Ordered<K, V>(pub Vec<(K, V)>);

impl<K, V> Default for Ordered<K, V> {
    fn default() -> Self {
        Ordered(Vec::new())
    }
}

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for Ordered<K, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<K, V>(PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<K, V> {
            type Value = Ordered<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(Ordered(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(PhantomData))
    }
}

/// One flow file: the main flow (it has `start:`) or a sub-flow
/// (`subflow: NAME` and `start:`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FlowFile {
    /// The name other flows `include:` this one by; absent on the main flow.
    pub subflow: Option<Text>,
    /// The first node.
    pub start: Text,
    /// Keys that work from any prompt or menu once the call has passed `from`.
    #[serde(default)]
    pub global_keys: Ordered<Text, GlobalKeyDef>,
    /// What changes while emergency mode is on.
    pub emergency: Option<EmergencyDef>,
    /// Named opening hours for `switch: {on: "schedule:NAME"}`.
    #[serde(default)]
    pub schedules: Ordered<Text, ScheduleDef>,
    pub nodes: Ordered<Text, NodeDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GlobalKeyDef {
    pub goto: Text,
    /// The node from which the key works; the flow's start when absent.
    pub from: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyDef {
    /// Played once, after the node `after` (or first of all).
    pub announcement: Vec<Text>,
    pub after: Option<Text>,
    pub option: Option<EmergencyOptionDef>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmergencyOptionDef {
    pub key: Text,
    pub goto: Text,
    /// Appended to the prompt of each menu in `menus`.
    pub prompt: Vec<Text>,
    pub menus: Vec<Text>,
}

/// Opening hours: `hours` maps days to time ranges (see `schedule::Hours::add`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleDef {
    pub hours: Ordered<Text, Text>,
    #[serde(default)]
    pub closed_dates: Vec<Text>,
}

/// A node: exactly one of the kinds, plus `next` where the kind needs it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDef {
    pub play: Option<Vec<Text>>,
    pub menu: Option<MenuDef>,
    pub language: Option<Text>,
    pub collect: Option<CollectDef>,
    pub switch: Option<SwitchDef>,
    pub set: Option<Ordered<Text, Text>>,
    pub route: Option<RouteDef>,
    pub hangup: Option<Vec<Text>>,
    pub goto: Option<Text>,
    pub include: Option<Text>,
    #[serde(rename = "return")]
    pub ret: Option<Spanned<bool>>,
    pub next: Option<Text>,
    /// Free text for the people who maintain the flow.
    #[expect(dead_code, reason = "read by people, not by the engine")]
    pub note: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MenuDef {
    pub prompt: Vec<Text>,
    pub options: Ordered<Text, Text>,
    pub timeout_s: Option<Spanned<u32>>,
    pub tries: Option<Spanned<u32>>,
    pub no_input: Option<Vec<Text>>,
    pub no_match: Option<Vec<Text>>,
    pub default: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectDef {
    pub var: Text,
    pub prompt: Vec<Text>,
    pub min: Option<Spanned<u32>>,
    pub max: Spanned<u32>,
    pub terminator: Option<Text>,
    pub timeout_s: Option<Spanned<u32>>,
    pub tries: Option<Spanned<u32>>,
    pub no_input: Option<Vec<Text>>,
    /// Where to go when the tries run out; `next` when absent.
    pub fail: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwitchDef {
    pub on: Text,
    #[serde(default)]
    pub cases: Ordered<Text, Text>,
    pub default: Text,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteDef {
    pub to: Text,
    pub priority: Option<Text>,
    #[serde(default)]
    pub prompt: Vec<Text>,
    /// Offer the waiting caller a callback ("press 1"): queues of centres only.
    pub callback: Option<Spanned<bool>>,
    /// The key a waiting caller presses for the callback; `1` when absent.
    /// Never the crisis key, which works on hold too.
    pub callback_key: Option<Text>,
}

/// `flows/centres.yaml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentresFile {
    pub centres: Ordered<Text, CentreDef>,
    pub crisis: CrisisDef,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CentreDef {
    pub name: String,
    pub city: String,
    pub region: Text,
    pub languages: Vec<Text>,
    pub hours: Ordered<Text, Text>,
    #[serde(default)]
    pub closed_dates: Vec<Text>,
    #[serde(default)]
    pub overflow: Vec<Text>,
    /// Seconds a call waits in this centre's queue before each next centre
    /// of `overflow` may take it too.
    pub overflow_after_s: Option<Spanned<u32>>,
    pub external: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CrisisDef {
    pub name: String,
    /// The external crisis line calls go to when nobody answers in time.
    pub external: Text,
}

/// `prompts/catalog.yaml`: prompt id → its text in each language.
pub type CatalogFile = Ordered<Text, CatalogEntry>;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogEntry {
    pub en: Option<String>,
    pub fr: Option<String>,
}

/// `flows/tests/*.yaml`: a list of cases.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestCaseDef {
    pub name: Text,
    pub caller: Text,
    pub at: Option<Text>,
    #[serde(default)]
    pub keys: Vec<Text>,
    #[serde(default)]
    pub emergency: bool,
    pub expect: ExpectDef,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectDef {
    pub route: Option<Text>,
    #[serde(default)]
    pub attributes: Ordered<Text, Text>,
    /// Prompt ids that must have been played (in this order, others may come between).
    #[serde(default)]
    pub prompts: Vec<Text>,
}
