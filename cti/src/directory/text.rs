//! Words to search terms: the same on both databases, so a search finds
//! the same services on SQLite (FTS5) and PostgreSQL (`tsvector`).
//!
//! A word is lower-cased, split at anything not a letter or digit (so
//! `d'Ottawa` is `d` and `ottawa`), stemmed by the Snowball stemmers of
//! both languages (a French stem and an English stem, when they differ),
//! then folded to ASCII (`é` → `e`, `œ` → `oe`), which makes the search
//! accent-insensitive: `médicaments`, `medicaments` and `medicament` meet.
//! Stop words of either language are dropped. Taxonomy codes, languages
//! and eligibility words are indexed too, as tokens with a prefix no word
//! has (`zztx`, `zzlg`, `zzel`), so one index answers every filter.

use rust_stemmers::{Algorithm, Stemmer};

use crate::taxonomy::fold;
use std::sync::OnceLock;

/// The prefix of a taxonomy code's token: `BD-1800.2000` is `zztxbd18002000`.
const CODE: &str = "zztx";
/// The prefix of a language's token: `fr` is `zzlgfr`.
const LANGUAGE: &str = "zzlg";
/// The prefix of an eligibility word's token.
const ELIGIBILITY: &str = "zzel";
/// The prefix of a map cell's token: `zzgc270x209` is the half-degree cell
/// of Ottawa (both numbers three digits, so no cell's token is the start
/// of another's); `zzgcnone` a row with no coordinates.
const CELL: &str = "zzgc";
/// The prefix of a fine map cell's token (a tenth of a degree, about
/// 11 km by 8 km here): `zzgf1354x1043`.
const FINE_CELL: &str = "zzgf";

/// A grid of the map: coarse (half a degree) for searches up to about
/// 100 km, fine (a tenth) for the first, near ring of a search.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grid {
    Coarse,
    Fine,
}

impl Grid {
    fn per_degree(self) -> f64 {
        match self {
            Grid::Coarse => 2.0,
            Grid::Fine => 10.0,
        }
    }
    fn prefix(self) -> &'static str {
        match self {
            Grid::Coarse => CELL,
            Grid::Fine => FINE_CELL,
        }
    }
}

/// Words too common in either language to say anything about a service.
const STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "au", "aux", "avec", "by", "ce", "d", "dans", "de", "des",
    "du", "en", "et", "for", "from", "in", "is", "l", "la", "le", "les", "of", "on", "or", "ou",
    "par", "pour", "qui", "s", "sur", "the", "to", "un", "une", "with",
];

fn stemmers() -> &'static (Stemmer, Stemmer) {
    static S: OnceLock<(Stemmer, Stemmer)> = OnceLock::new();
    S.get_or_init(|| {
        (
            Stemmer::create(Algorithm::English),
            Stemmer::create(Algorithm::French),
        )
    })
}

/// The words of `text`, lower-cased, stop words left out.
pub fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .filter(|w| !STOP_WORDS.contains(&w.as_str()) && w.chars().count() <= 40)
}

/// A word's stems: the French and the English stem, folded (one when they
/// are the same).
pub fn stems(word: &str) -> Vec<String> {
    let (en, fr) = stemmers();
    let mut out = vec![fold(&fr.stem(word)), fold(&en.stem(word))];
    // The stemmers expect accents: a word typed without them may stem
    // differently, so its folded form is stemmed again.
    let folded = fold(word);
    if folded != word {
        out.push(fold(&fr.stem(&folded)));
        out.push(fold(&en.stem(&folded)));
    }
    out.retain(|s| !s.is_empty());
    out.sort_unstable();
    out.dedup();
    out
}

/// A taxonomy code's token.
pub fn code_token(code: &str) -> String {
    let mut t = String::from(CODE);
    t.extend(
        code.chars()
            .filter(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase()),
    );
    t
}

/// A language's token.
pub fn language_token(code: &str) -> String {
    format!("{LANGUAGE}{}", code.to_ascii_lowercase())
}

/// The map cell of `grid` a point is in.
pub fn cell_token(grid: Grid, lat: f64, lon: f64) -> String {
    let n = grid.per_degree();
    let row = ((lat.clamp(-90.0, 90.0) + 90.0) * n).floor() as i64;
    let col = ((lon.clamp(-180.0, 180.0) + 180.0) * n).floor() as i64;
    match grid {
        Grid::Coarse => format!("{}{row:03}x{col:03}", grid.prefix()),
        Grid::Fine => format!("{}{row:04}x{col:04}", grid.prefix()),
    }
}

/// The token of rows with no coordinates (phone and online services).
pub fn no_place_token() -> String {
    format!("{CELL}none")
}

/// The cells of `grid` a box (south, north, west, east) touches, and the
/// token of rows with no place: a search near somewhere asks for any of them.
pub fn cells_within(grid: Grid, bbox: (f64, f64, f64, f64)) -> Clause {
    let (s, n, w, e) = bbox;
    let step = 1.0 / grid.per_degree();
    let mut out = vec![no_place_token()];
    let mut lat = s;
    while lat < n + step {
        let mut lon = w;
        while lon < e + step {
            out.push(cell_token(grid, lat.min(n), lon.min(e)));
            lon += step;
        }
        lat += step;
    }
    out.sort_unstable();
    out.dedup();
    Clause(out)
}

/// What one indexed row is made of.
#[derive(Debug, Default)]
pub struct Document<'a> {
    /// Names, descriptions, the organisation, the city: what words match.
    pub text: Vec<&'a str>,
    /// Taxonomy codes.
    pub codes: Vec<&'a str>,
    pub languages: Vec<&'a str>,
    pub eligibility: Option<&'a str>,
    /// Latitude and longitude.
    pub place: Option<(f64, f64)>,
}

/// The terms a row is indexed by, space-separated, a word as often as it
/// occurs.
pub fn terms(doc: &Document<'_>) -> String {
    let mut out: Vec<String> = Vec::new();
    for text in &doc.text {
        for w in words(text) {
            out.extend(stems(&w));
        }
    }
    for code in &doc.codes {
        out.push(code_token(code));
    }
    for lang in &doc.languages {
        out.push(language_token(lang));
    }
    match doc.place {
        Some((lat, lon)) => {
            out.push(cell_token(Grid::Coarse, lat, lon));
            out.push(cell_token(Grid::Fine, lat, lon));
        }
        None => out.push(no_place_token()),
    }
    if let Some(e) = doc.eligibility {
        for w in words(e) {
            out.extend(stems(&w).into_iter().map(|s| format!("{ELIGIBILITY}{s}")));
        }
    }
    // Repeated words stay: how often a word occurs is what the ranking
    // (bm25, ts_rank) weighs.
    out.sort_unstable();
    out.join(" ")
}

/// One part of a query: any of its alternatives, each a whole token, or a
/// prefix when it ends in `*` (a taxonomy code takes its narrower codes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause(pub Vec<String>);

/// What a search's words, code and eligibility words ask of the index:
/// every clause must match.
pub fn query(words_text: &str, code: Option<&str>, eligibility: Option<&str>) -> Vec<Clause> {
    let mut clauses: Vec<Clause> = words(words_text).map(|w| Clause(stems(&w))).collect();
    if let Some(code) = code {
        clauses.push(Clause(vec![format!("{}*", code_token(code))]));
    }
    if let Some(e) = eligibility {
        clauses.extend(words(e).map(|w| {
            Clause(
                stems(&w)
                    .into_iter()
                    .map(|s| format!("{ELIGIBILITY}{s}"))
                    .collect(),
            )
        }));
    }
    clauses.retain(|c| !c.0.is_empty());
    clauses
}

/// The clauses in SQLite FTS5's query syntax: `("banqu"* OR "bank"*) AND "alimentair"*`.
pub fn fts5(clauses: &[Clause]) -> String {
    clauses
        .iter()
        .map(|c| {
            let alts: Vec<String> =
                c.0.iter()
                    .map(|s| match s.strip_suffix('*') {
                        Some(prefix) => format!("\"{prefix}\"*"),
                        None => format!("\"{s}\""),
                    })
                    .collect();
            format!("({})", alts.join(" OR "))
        })
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// The clauses in PostgreSQL's `to_tsquery` syntax: `(banqu:* | bank:*) & alimentair:*`.
pub fn tsquery(clauses: &[Clause]) -> String {
    clauses
        .iter()
        .map(|c| {
            let alts: Vec<String> =
                c.0.iter()
                    .map(|s| match s.strip_suffix('*') {
                        Some(prefix) => format!("{prefix}:*"),
                        None => s.clone(),
                    })
                    .collect();
            format!("({})", alts.join(" | "))
        })
        .collect::<Vec<_>>()
        .join(" & ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(doc: &str, query_text: &str) -> bool {
        let indexed = terms(&Document {
            text: vec![doc],
            ..Document::default()
        });
        let tokens: Vec<&str> = indexed.split(' ').collect();
        query(query_text, None, None)
            .iter()
            .all(|c| c.0.iter().any(|p| tokens.contains(&p.as_str())))
    }

    #[test]
    fn french_words_find_french_text_with_or_without_accents_and_plurals() {
        assert!(matches(
            "Banque alimentaire de Vanier",
            "banque alimentaire"
        ));
        assert!(matches("Banques alimentaires", "banque alimentaire"));
        assert!(matches("Aide aux médicaments", "medicaments"));
        assert!(matches("Aide aux medicaments", "médicament"));
        assert!(matches("Hébergement d'urgence", "hebergement urgence"));
        assert!(matches("Centre de santé communautaire", "SANTÉ"));
    }

    #[test]
    fn english_words_find_english_text_across_inflections() {
        assert!(matches("Emergency food hampers", "food hamper"));
        assert!(matches("Counselling for families", "family counselling"));
        assert!(matches("Shelters for youth", "youth shelter"));
        assert!(!matches("Emergency food hampers", "shelter"));
    }

    #[test]
    fn stop_words_and_elisions_are_ignored() {
        assert!(matches(
            "Banque alimentaire d'Ottawa",
            "la banque de l'alimentaire"
        ));
        assert!(query("the of de la", None, None).is_empty());
    }

    #[test]
    fn codes_languages_and_eligibility_are_tokens_no_word_makes() {
        let t = terms(&Document {
            text: vec!["Food"],
            codes: vec!["BD-1800.2000"],
            languages: vec!["fr"],
            eligibility: Some("Seniors 65+"),
            place: Some((45.42, -75.69)),
        });
        assert!(t.split(' ').any(|w| w == "zzgc270x208"), "{t}");
        assert!(t.split(' ').any(|w| w == "zzgf1354x1043"), "{t}");
        assert!(t.split(' ').any(|w| w == "zztxbd18002000"), "{t}");
        assert!(t.split(' ').any(|w| w == "zzlgfr"), "{t}");
        assert!(t.split(' ').any(|w| w.starts_with("zzelsenior")), "{t}");
        assert_eq!(
            query("", Some("BD-1800"), None),
            vec![Clause(vec!["zztxbd1800*".into()])]
        );
    }

    #[test]
    fn a_box_asks_for_every_cell_it_touches_and_for_rows_with_no_place() {
        // Ottawa ± about 100 km: 45.42 ± 0.9, -75.69 ± 1.28.
        let c = cells_within(Grid::Coarse, (44.52, 46.32, -76.97, -74.41));
        let coarse = |lat, lon| cell_token(Grid::Coarse, lat, lon);
        assert!(c.0.contains(&coarse(45.42, -75.69)));
        assert!(c.0.contains(&coarse(44.52, -76.97)));
        assert!(c.0.contains(&coarse(46.32, -74.41)));
        assert!(c.0.contains(&"zzgcnone".to_string()));
        assert!(!c.0.contains(&coarse(43.65, -79.38)), "not Toronto");
        assert_eq!(c.0.len(), 1 + 4 * 6);
        assert_eq!(coarse(-90.0, -180.0), "zzgc000x000");
        // A fine ring of about 15 km: the 4 by 5 cells of a tenth of a degree it touches.
        let f = cells_within(Grid::Fine, (45.285, 45.555, -75.88, -75.50));
        assert!(f.0.contains(&cell_token(Grid::Fine, 45.42, -75.69)));
        assert_eq!(f.0.len(), 1 + 4 * 5);
    }

    #[test]
    fn queries_render_for_both_databases() {
        let q = query("banque food", Some("BD-1800"), None);
        assert_eq!(fts5(&q), r#"("banqu") AND ("food") AND ("zztxbd1800"*)"#);
        assert_eq!(tsquery(&q), "(banqu) & (food) & (zztxbd1800:*)");
    }
}
