//! What the interpreter learns about a call, as it learns it: the seam
//! between the IVR and whoever keeps the call's record.
//!
//! The interpreter reports each fact once, as [`Output::Fact`](crate::Output::Fact),
//! and the call controller matches the enum exhaustively: no name/value
//! strings to parse back. The flow language still speaks of attributes
//! (`switch: {on: region}`, `expect: {attributes: …}` in flow tests, the
//! simulator's `set` lines): [`Fact::attributes`] is that view, for people
//! and for the flow's own switches.

use crate::flowset::Lang;
use crate::regions::{Caller, RegionSource};

/// One thing the interpreter learnt about the call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fact {
    /// Who is calling, as the call arrived: a number, or withheld (or
    /// something that is neither, kept as given).
    Caller(Caller),
    /// The language the caller chose (a `language` node).
    Language(Lang),
    /// The caller's region and how it was found: from the number
    /// (`regions.csv`) when the call starts, or from the region menu
    /// (a `set: {region: …}` node).
    Region {
        region: String,
        source: RegionSource,
    },
    /// The centre whose queue the flow routed the call to.
    Centre(String),
    /// The need the caller chose (`set: {topic: …}`): shown in the pop.
    Topic(String),
    /// The call went to the crisis queue.
    Crisis(bool),
    /// A flow's own attribute (`set:`) or digits a `collect` node gathered.
    Variable { name: String, value: String },
}

impl Fact {
    /// What a flow's `set: {name: value}` (or a `collect` into `name`)
    /// means: `region` is the caller's choice in the region menu, `topic`
    /// and `centre` are what the record shows, anything else is the
    /// flow's own variable.
    pub fn from_flow(name: &str, value: &str) -> Fact {
        match name {
            "region" => Fact::Region {
                region: value.to_owned(),
                source: RegionSource::RegionMenu,
            },
            "topic" => Fact::Topic(value.to_owned()),
            "centre" => Fact::Centre(value.to_owned()),
            _ => Fact::Variable {
                name: name.to_owned(),
                value: value.to_owned(),
            },
        }
    }

    /// The fact as the flow language names it: the call attributes it sets,
    /// in order (`caller`, `withheld`, `region`, `region_source`,
    /// `language`, `centre`, `topic`, `crisis`, or the variable's name).
    pub fn attributes(&self) -> Vec<(String, String)> {
        let pair = |name: &str, value: &str| (name.to_owned(), value.to_owned());
        match self {
            Fact::Caller(Caller::Number(n)) => vec![pair("caller", n), pair("withheld", "no")],
            Fact::Caller(Caller::Withheld) => vec![pair("withheld", "yes")],
            Fact::Caller(Caller::Unknown(_)) => vec![pair("withheld", "no")],
            Fact::Language(lang) => vec![pair("language", lang.as_str())],
            Fact::Region { region, source } => {
                vec![
                    pair("region", region),
                    pair("region_source", source.as_str()),
                ]
            }
            Fact::Centre(c) => vec![pair("centre", c)],
            Fact::Topic(t) => vec![pair("topic", t)],
            Fact::Crisis(on) => vec![pair("crisis", if *on { "true" } else { "false" })],
            Fact::Variable { name, value } => vec![pair(name, value)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flow_set_names_the_region_menu_the_topic_and_the_centre_and_keeps_the_rest() {
        assert_eq!(
            Fact::from_flow("region", "north"),
            Fact::Region {
                region: "north".into(),
                source: RegionSource::RegionMenu
            }
        );
        assert_eq!(Fact::from_flow("topic", "food"), Fact::Topic("food".into()));
        assert_eq!(
            Fact::from_flow("centre", "windsor"),
            Fact::Centre("windsor".into())
        );
        assert_eq!(
            Fact::from_flow("postal", "k1a"),
            Fact::Variable {
                name: "postal".into(),
                value: "k1a".into()
            }
        );
    }

    #[test]
    fn the_attributes_flow_tests_and_switches_see() {
        let table = [
            (
                Fact::Caller(Caller::Number("+16135550123".into())),
                vec![("caller", "+16135550123"), ("withheld", "no")],
            ),
            (Fact::Caller(Caller::Withheld), vec![("withheld", "yes")]),
            (
                Fact::Caller(Caller::Unknown("alice".into())),
                vec![("withheld", "no")],
            ),
            (
                Fact::Region {
                    region: "east".into(),
                    source: RegionSource::AreaCode,
                },
                vec![("region", "east"), ("region_source", "area code")],
            ),
            (
                Fact::Region {
                    region: "central".into(),
                    source: RegionSource::Exchange,
                },
                vec![("region", "central"), ("region_source", "exchange table")],
            ),
            (
                Fact::Region {
                    region: "north".into(),
                    source: RegionSource::RegionMenu,
                },
                vec![("region", "north"), ("region_source", "region menu")],
            ),
            (Fact::Language(Lang::Fr), vec![("language", "fr")]),
            (Fact::Crisis(true), vec![("crisis", "true")]),
        ];
        for (fact, want) in table {
            let got = fact.attributes();
            let got: Vec<(&str, &str)> =
                got.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
            assert_eq!(got, want, "{fact:?}");
        }
    }
}
