//! The taxonomy needs are coded with: reading a taxonomy file
//! (`code,name_en,name_fr`, the starter one is `flows/taxonomy.csv`),
//! importing it into the store (`frontdoor taxonomy import FILE`), and
//! searching it by code or words in either language, accents ignored.

use std::path::Path;

use serde::Serialize;
use sqlx::Row;

use crate::error::{Error, Result};
use crate::store::Store;

/// One term of the taxonomy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Term {
    pub code: String,
    pub name_en: String,
    pub name_fr: String,
}

/// The settings key that says where the active taxonomy came from.
pub const SOURCE_KEY: &str = "taxonomy_source";

/// A taxonomy code: one or two capital letters, then optionally `-` and
/// four digits, then optionally `.` and three or four digits (`BD`,
/// `BD-1800`, `BD-1800.2000`).
pub fn is_code(code: &str) -> bool {
    let (letters, rest) = match code.find('-') {
        Some(i) => (&code[..i], Some(&code[i + 1..])),
        None => (code, None),
    };
    let letters_ok =
        (1..=2).contains(&letters.len()) && letters.bytes().all(|b| b.is_ascii_uppercase());
    let rest_ok = match rest {
        None => true,
        Some(r) => {
            let (major, minor) = match r.find('.') {
                Some(i) => (&r[..i], Some(&r[i + 1..])),
                None => (r, None),
            };
            let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
            major.len() == 4
                && digits(major)
                && minor.is_none_or(|m| (3..=4).contains(&m.len()) && digits(m))
        }
    };
    letters_ok && rest_ok
}

/// Reads a taxonomy file's text. `#` lines are comments; the first other
/// line is the header `code,name_en,name_fr`. Every problem is reported as
/// `FILE:LINE: message`, all of them at once.
pub fn parse(file: &str, text: &str) -> std::result::Result<Vec<Term>, Vec<String>> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut problems = Vec::new();
    match reader.headers() {
        Ok(h) if h.iter().collect::<Vec<_>>() == ["code", "name_en", "name_fr"] => {}
        Ok(h) => {
            let line = h.position().map_or(1, |p| p.line());
            problems.push(format!(
                "{file}:{line}: the header must be `code,name_en,name_fr`, found `{}`",
                h.iter().collect::<Vec<_>>().join(",")
            ));
            return Err(problems);
        }
        Err(e) => return Err(vec![format!("{file}:1: {e}")]),
    }
    let mut terms: Vec<Term> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(format!("{file}:{line}: {e}"));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != 3 {
            problems.push(format!(
                "{file}:{line}: expected 3 fields (code,name_en,name_fr), found {}",
                record.len()
            ));
            continue;
        }
        let (code, en, fr) = (&record[0], &record[1], &record[2]);
        if !is_code(code) {
            problems.push(format!(
                "{file}:{line}: {code:?} is not a taxonomy code (like BD or BD-1800.2000)"
            ));
            continue;
        }
        if en.is_empty() || fr.is_empty() {
            problems.push(format!(
                "{file}:{line}: {code} needs a name in English and in French"
            ));
            continue;
        }
        if let Some(first) = seen.insert(code.to_string(), line) {
            problems.push(format!(
                "{file}:{line}: {code} is listed twice (first on line {first})"
            ));
            continue;
        }
        terms.push(Term {
            code: code.into(),
            name_en: en.into(),
            name_fr: fr.into(),
        });
    }
    if terms.is_empty() && problems.is_empty() {
        problems.push(format!("{file}:1: no terms"));
    }
    if problems.is_empty() {
        Ok(terms)
    } else {
        Err(problems)
    }
}

/// Reads and checks a taxonomy file.
pub fn read(path: &Path) -> Result<Vec<Term>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Invalid(format!("{}: {e}", path.display())))?;
    parse(&path.display().to_string(), &text).map_err(|p| Error::Invalid(p.join("\n")))
}

/// Lower case without accents, for matching French and English words alike.
pub fn fold(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars().flat_map(char::to_lowercase) {
        match c {
            'à' | 'â' | 'ä' | 'á' | 'ã' | 'å' => out.push('a'),
            'ç' => out.push('c'),
            'è' | 'é' | 'ê' | 'ë' => out.push('e'),
            'ì' | 'í' | 'î' | 'ï' => out.push('i'),
            'ñ' => out.push('n'),
            'ò' | 'ó' | 'ô' | 'ö' | 'õ' => out.push('o'),
            'ù' | 'ú' | 'û' | 'ü' => out.push('u'),
            'ý' | 'ÿ' => out.push('y'),
            'œ' => out.push_str("oe"),
            'æ' => out.push_str("ae"),
            '’' => out.push('\''),
            c => out.push(c),
        }
    }
    out
}

/// How well `term` matches the query: `None` for no match, lower is better.
fn rank(term: &Term, query: &str, words: &[String]) -> Option<u32> {
    let code = term.code.to_ascii_lowercase();
    if code == query {
        return Some(0);
    }
    if code.starts_with(query) {
        return Some(1 + term.code.len() as u32);
    }
    let names = fold(&format!("{} {}", term.name_en, term.name_fr));
    let name_words: Vec<&str> = names
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect();
    let all = words
        .iter()
        .all(|w| name_words.iter().any(|n| n.starts_with(w.as_str())));
    all.then(|| 100 + term.code.len() as u32)
}

/// `frontdoor taxonomy …`: the taxonomy needs are coded with.
#[derive(Debug, Clone, PartialEq, Eq, clap::Subcommand)]
pub enum TaxonomyCommand {
    /// Make FILE (`code,name_en,name_fr`, like flows/taxonomy.csv) the
    /// active taxonomy: new terms added, known ones renamed, missing ones
    /// retired (kept for old logs, no longer offered). Problems are printed
    /// as FILE:LINE: message and nothing is changed.
    Import {
        /// The taxonomy file.
        file: std::path::PathBuf,
    },
    /// Check FILE without importing it.
    Check {
        /// The taxonomy file.
        file: std::path::PathBuf,
    },
}

/// Runs a `frontdoor taxonomy …` command and returns what to print.
pub async fn run_taxonomy_command(store: &Store, cmd: TaxonomyCommand) -> Result<String> {
    match cmd {
        TaxonomyCommand::Check { file } => {
            let terms = read(&file)?;
            Ok(format!(
                "{}: {} terms, no problems",
                file.display(),
                terms.len()
            ))
        }
        TaxonomyCommand::Import { file } => {
            let terms = read(&file)?;
            let source = file.display().to_string();
            let (added, updated, retired) = store.import_taxonomy(&terms, &source).await?;
            store
                .audit(&crate::store::AuditEntry {
                    at_ms: crate::now_ms(),
                    actor: "cli".into(),
                    action: "taxonomy.import".into(),
                    target: source.clone(),
                    outcome: "ok".into(),
                    detail: format!("{added} added, {updated} updated, {retired} retired"),
                    peer: String::new(),
                })
                .await?;
            Ok(format!(
                "{source}: {} terms active ({added} added, {updated} updated, {retired} retired)",
                terms.len()
            ))
        }
    }
}

impl Store {
    /// At start: when no taxonomy was ever imported, the starter file (the
    /// flows folder's `taxonomy.csv`) becomes the active taxonomy. A
    /// centre's own import is never overwritten. Returns whether it imported.
    pub async fn seed_taxonomy(&self, path: &Path) -> Result<bool> {
        if self.taxonomy_source().await?.is_some() || !path.exists() {
            return Ok(false);
        }
        let terms = read(path)?;
        self.import_taxonomy(&terms, &path.display().to_string())
            .await?;
        Ok(true)
    }

    /// The active terms matching `query` (a code prefix, or words each
    /// starting a word of the English or French name), best first.
    pub async fn search_taxonomy(&self, query: &str, limit: usize) -> Result<Vec<Term>> {
        let query = fold(query.trim());
        let words: Vec<String> = query
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
            .map(str::to_string)
            .collect();
        let rows = sqlx::query(
            "SELECT code, name_en, name_fr FROM taxonomy WHERE retired = 0 ORDER BY code",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut hits: Vec<(u32, Term)> = Vec::new();
        for row in rows {
            let term = Term {
                code: row.try_get("code")?,
                name_en: row.try_get("name_en")?,
                name_fr: row.try_get("name_fr")?,
            };
            let r = if query.is_empty() {
                Some(term.code.len() as u32)
            } else {
                rank(&term, &query, &words)
            };
            if let Some(r) = r {
                hits.push((r, term));
            }
        }
        hits.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.code.cmp(&b.1.code)));
        Ok(hits.into_iter().take(limit).map(|(_, t)| t).collect())
    }

    /// Makes `terms` the active taxonomy in one transaction: new terms are
    /// added, known ones renamed, and terms missing from `terms` retired
    /// (kept for the logs that used them, no longer offered). Returns
    /// (added, updated, retired).
    pub async fn import_taxonomy(
        &self,
        terms: &[Term],
        source: &str,
    ) -> Result<(usize, usize, usize)> {
        let mut tx = self.begin_write().await?;
        let known: Vec<(String, i64)> = sqlx::query("SELECT code, retired FROM taxonomy")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| Ok((r.try_get("code")?, r.try_get("retired")?)))
            .collect::<Result<_>>()?;
        let known_codes: std::collections::HashSet<&str> =
            known.iter().map(|(c, _)| c.as_str()).collect();
        let listed: std::collections::HashSet<&str> =
            terms.iter().map(|t| t.code.as_str()).collect();
        let (mut added, mut updated) = (0, 0);
        for t in terms {
            if known_codes.contains(t.code.as_str()) {
                updated += 1;
                sqlx::query(
                    "UPDATE taxonomy SET name_en = $1, name_fr = $2, retired = 0 WHERE code = $3",
                )
            } else {
                added += 1;
                sqlx::query(
                    "INSERT INTO taxonomy (name_en, name_fr, code, retired) VALUES ($1, $2, $3, 0)",
                )
            }
            .bind(&t.name_en)
            .bind(&t.name_fr)
            .bind(&t.code)
            .execute(&mut *tx)
            .await?;
        }
        let mut retired = 0;
        for (code, was_retired) in &known {
            if !listed.contains(code.as_str()) && *was_retired == 0 {
                retired += 1;
                sqlx::query("UPDATE taxonomy SET retired = 1 WHERE code = $1")
                    .bind(code)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        sqlx::query(
            "INSERT INTO store_settings (key, value) VALUES ($1, $2) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(SOURCE_KEY)
        .bind(source)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok((added, updated, retired))
    }

    /// Where the active taxonomy was imported from, if it ever was.
    pub async fn taxonomy_source(&self) -> Result<Option<String>> {
        let row = sqlx::query("SELECT value FROM store_settings WHERE key = $1")
            .bind(SOURCE_KEY)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok(r.try_get("value")?)).transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_follow_the_taxonomy_shape() {
        for good in ["B", "BD", "BD-1800", "BD-1800.2000", "BH-1800.850"] {
            assert!(is_code(good), "{good}");
        }
        for bad in [
            "",
            "bd",
            "BDX",
            "BD-18",
            "BD-1800.",
            "BD-1800.20",
            "B D",
            "BD-18000",
        ] {
            assert!(!is_code(bad), "{bad}");
        }
    }

    #[test]
    fn a_bad_file_gets_every_problem_with_its_line() {
        let text = "# comment\ncode,name_en,name_fr\nBD,Food,Alimentation\nbd,x,y\nBH,Housing\nBD,Food again,Encore\nBT,Transportation,\n";
        let problems = parse("tax.csv", text).unwrap_err();
        assert_eq!(
            problems,
            [
                "tax.csv:4: \"bd\" is not a taxonomy code (like BD or BD-1800.2000)",
                "tax.csv:5: expected 3 fields (code,name_en,name_fr), found 2",
                "tax.csv:6: BD is listed twice (first on line 3)",
                "tax.csv:7: BT needs a name in English and in French",
            ]
        );
        let header = parse("t.csv", "code,name\nB,x\n").unwrap_err();
        assert!(
            header[0].starts_with("t.csv:1: the header must be"),
            "{header:?}"
        );
    }

    #[test]
    fn the_shipped_starter_taxonomy_reads() {
        let text = include_str!("../../flows/taxonomy.csv");
        let terms = parse("flows/taxonomy.csv", text).expect("the starter taxonomy reads");
        assert!(terms.iter().any(|t| t.code == "BD-1800"));
        assert!(terms.iter().any(|t| t.code == "BH-1800"));
    }

    #[test]
    fn words_match_in_either_language_without_accents() {
        let t = Term {
            code: "BH-1800".into(),
            name_en: "Emergency Shelter".into(),
            name_fr: "Hébergement d'urgence".into(),
        };
        let q = |s: &str| {
            let f = fold(s);
            let words: Vec<String> = f
                .split(|c: char| !c.is_alphanumeric())
                .filter(|w| !w.is_empty())
                .map(str::to_string)
                .collect();
            rank(&t, &f, &words)
        };
        assert!(q("hebergement").is_some());
        assert!(q("Héberg urg").is_some());
        assert!(q("shelter").is_some());
        assert!(q("bh-18").is_some());
        assert_eq!(q("bh-1800"), Some(0));
        assert!(q("food").is_none());
    }
}
