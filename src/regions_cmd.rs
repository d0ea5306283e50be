//! `frontdoor regions import`: the region table (`flows/regions.csv`) built
//! from the public list of central-office codes (every NPA-NXX with its
//! exchange, or rate centre) and a mapping of exchanges to regions. The
//! table's comments and area-code rows are kept; its exchange rows are
//! replaced by one row per Ontario code whose exchange the mapping names.
//! The work is [`import`], without I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context;
use clap::Subcommand;

use crate::config::Config;
use crate::shipped_dir;

#[derive(Debug, Subcommand)]
pub enum RegionsCommand {
    /// Rebuild the exchange rows of flows/regions.csv from a central-office
    /// code list (CSV with a header naming NPA, NXX or "CO Code", the
    /// exchange or rate centre, and optionally the province) and a mapping
    /// of exchanges to regions (CSV: exchange,region). A running engine
    /// takes the new table within seconds (it watches the folder).
    Import {
        /// The central-office code list.
        co_codes: PathBuf,
        /// The exchanges' regions: `exchange,region` per line.
        #[arg(long, value_name = "FILE")]
        exchanges: PathBuf,
        /// Flows folder [config: flows.dir; default flows].
        #[arg(long, value_name = "DIR")]
        flows: Option<PathBuf>,
        /// Print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

/// What an import found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Imported {
    /// The new table's text.
    pub table: String,
    /// Ontario codes read.
    pub codes: usize,
    /// Exchange rows written.
    pub rows: usize,
    /// Exchanges of Ontario codes the mapping does not name, with how many
    /// codes each has.
    pub unmapped: BTreeMap<String, usize>,
}

/// The column of `header` whose name is one of `names` (case and spaces
/// ignored).
fn column(header: &csv::StringRecord, names: &[&str]) -> Option<usize> {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase()
    };
    header
        .iter()
        .position(|h| names.iter().any(|n| norm(h) == norm(n)))
}

fn exchange_key(name: &str) -> String {
    name.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_uppercase()
}

/// Builds the table from the central-office codes (`co`), the exchanges'
/// regions (`map`) and the current table (`current`); `regions` are the
/// flows' region ids. Every problem is `file:line: message`.
pub fn import(
    co: (&str, &str),
    map: (&str, &str),
    current: &str,
    regions: &BTreeSet<String>,
) -> Result<Imported, Vec<String>> {
    let mut problems = Vec::new();
    // The mapping: exchange → region.
    let mut to_region: BTreeMap<String, String> = BTreeMap::new();
    for (i, line) in map.1.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((exchange, region)) = line.rsplit_once(',') else {
            problems.push(format!("{}:{}: expected exchange,region", map.0, i + 1));
            continue;
        };
        let (exchange, region) = (exchange_key(exchange), region.trim().to_owned());
        if i == 0 && exchange.eq_ignore_ascii_case("exchange") {
            continue;
        }
        if !regions.contains(&region) {
            problems.push(format!(
                "{}:{}: region {region:?} is none of the flows' ({})",
                map.0,
                i + 1,
                regions.iter().cloned().collect::<Vec<_>>().join(", ")
            ));
            continue;
        }
        to_region.insert(exchange, region);
    }
    // The codes.
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(co.1.as_bytes());
    let header = match reader.headers() {
        Ok(h) => h.clone(),
        Err(e) => {
            problems.push(format!("{}:1: {e}", co.0));
            return Err(problems);
        }
    };
    let npa_col = column(&header, &["NPA"]);
    let nxx_col = column(&header, &["NXX", "CO Code", "CO Code (NXX)", "COCode"]);
    let exch_col = column(
        &header,
        &[
            "Exchange",
            "Exchange Area",
            "Rate Center",
            "Rate Centre",
            "RateCenter",
        ],
    );
    let prov_col = column(
        &header,
        &["Province", "Province/Territory", "Prov", "State"],
    );
    let (Some(npa_col), Some(nxx_col), Some(exch_col)) = (npa_col, nxx_col, exch_col) else {
        problems.push(format!(
            "{}:1: the header must name the NPA, the NXX (or CO Code) and the exchange (or rate centre)",
            co.0
        ));
        return Err(problems);
    };
    let mut out = Imported::default();
    let mut rows: BTreeMap<String, (String, String)> = BTreeMap::new();
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                problems.push(format!("{}:{line}: {e}", co.0));
                continue;
            }
        };
        let field = |c: usize| record.get(c).unwrap_or("");
        if let Some(p) = prov_col
            && !field(p).eq_ignore_ascii_case("ON")
        {
            continue;
        }
        let (npa, nxx) = (field(npa_col), field(nxx_col));
        if npa.len() != 3
            || nxx.len() != 3
            || !npa.bytes().chain(nxx.bytes()).all(|b| b.is_ascii_digit())
        {
            problems.push(format!(
                "{}:{line}: NPA {npa:?} and NXX {nxx:?}: three digits each",
                co.0
            ));
            continue;
        }
        out.codes += 1;
        let exchange = exchange_key(field(exch_col));
        match to_region.get(&exchange) {
            Some(region) => {
                rows.insert(format!("{npa}{nxx}"), (region.clone(), exchange));
            }
            None => *out.unmapped.entry(exchange).or_default() += 1,
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    // The current table without its exchange rows, then the new ones.
    let mut table = String::new();
    for line in current.lines() {
        let prefix = line.split(',').next().unwrap_or("").replace('-', "");
        let exchange_row = prefix.len() == 6 && prefix.bytes().all(|b| b.is_ascii_digit());
        if !exchange_row {
            table.push_str(line);
            table.push('\n');
        }
    }
    while table.ends_with("\n\n") {
        table.pop();
    }
    table.push_str(
        "\n# Exchanges (NPA-NXX), from the central-office code list (frontdoor regions import).\n",
    );
    for (prefix, (region, exchange)) in &rows {
        // The note is for people: no comma.
        let note = exchange.replace(',', " ");
        table.push_str(&format!(
            "{}-{},{region},{note}\n",
            &prefix[..3],
            &prefix[3..]
        ));
    }
    out.rows = rows.len();
    out.table = table;
    Ok(out)
}

/// Runs `frontdoor regions …`.
pub fn run(config: &Config, cmd: RegionsCommand) -> anyhow::Result<bool> {
    let RegionsCommand::Import {
        co_codes,
        exchanges,
        flows,
        dry_run,
    } = cmd;
    let flows = flows.unwrap_or_else(|| shipped_dir(&config.flows.dir));
    let read = |p: &PathBuf| {
        std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))
    };
    let table_path = flows.join("regions.csv");
    let (co, map, current) = (read(&co_codes)?, read(&exchanges)?, read(&table_path)?);
    let regions: BTreeSet<String> = {
        let set = frontdoor_ivr::FlowSet::load(&flows, &shipped_dir(&config.media.prompts))
            .map_err(|d| anyhow::anyhow!("the flows do not load (frontdoor flow check):\n{d}"))?;
        set.region_ids().into_iter().map(String::from).collect()
    };
    let imported = match import(
        (&co_codes.display().to_string(), &co),
        (&exchanges.display().to_string(), &map),
        &current,
        &regions,
    ) {
        Ok(i) => i,
        Err(problems) => {
            for p in &problems {
                println!("{p}");
            }
            println!("{} problem(s); nothing written", problems.len());
            return Ok(false);
        }
    };
    println!(
        "{} Ontario central-office codes: {} mapped to a region, {} in {} exchange(s) the mapping does not name",
        imported.codes,
        imported.rows,
        imported.unmapped.values().sum::<usize>(),
        imported.unmapped.len()
    );
    for (exchange, n) in imported.unmapped.iter().take(20) {
        println!("  not mapped: {exchange} ({n} code(s))");
    }
    if dry_run {
        println!("dry run: {} not written", table_path.display());
        return Ok(true);
    }
    let tmp = flows.join(".regions.csv.new");
    std::fs::write(&tmp, &imported.table)?;
    std::fs::rename(&tmp, &table_path)?;
    println!(
        "{} written; check it with frontdoor flow check (a running engine takes it within seconds)",
        table_path.display()
    );
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    const CO: &str = "NPA,CO Code (NXX),Status,Exchange Area,Province\n\
                      705,445,In Service,COLLINGWOOD,ON\n\
                      705,673,In Service,SUDBURY,ON\n\
                      705,999,In Service,NOWHERE,ON\n\
                      249,220,In Service,\"Sudbury\",ON\n\
                      204,555,In Service,WINNIPEG,MB\n";
    const MAP: &str = "exchange,region\nCollingwood,central\nSudbury,north\n";
    const TABLE: &str =
        "# the table\nprefix,region,note\n613,east,Ottawa\n705-445,central,old row\n";

    fn regions() -> BTreeSet<String> {
        ["east", "north", "central"].map(String::from).into()
    }

    #[test]
    fn ontario_codes_become_exchange_rows_and_area_code_rows_stay() {
        let out = import(("co.csv", CO), ("map.csv", MAP), TABLE, &regions()).unwrap();
        assert_eq!(out.codes, 4, "Manitoba's code is not Ontario's");
        assert_eq!(out.rows, 3);
        assert_eq!(out.unmapped, BTreeMap::from([("NOWHERE".to_owned(), 1)]));
        assert!(
            out.table
                .starts_with("# the table\nprefix,region,note\n613,east,Ottawa\n")
        );
        assert!(!out.table.contains("old row"), "the old exchange rows go");
        for row in [
            "249-220,north,SUDBURY",
            "705-445,central,COLLINGWOOD",
            "705-673,north,SUDBURY",
        ] {
            assert!(out.table.contains(row), "{row}:\n{}", out.table);
        }
        // The new table is one the engine reads.
        let (table, errors) = frontdoor_ivr::regions::RegionTable::parse(&out.table);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(table.rows().len(), 4);
    }

    #[test]
    fn problems_name_their_file_and_line() {
        let bad_map = "exchange,region\nSudbury,atlantis\n";
        let err = import(("co.csv", CO), ("map.csv", bad_map), TABLE, &regions()).unwrap_err();
        assert!(
            err[0].starts_with("map.csv:2: region \"atlantis\""),
            "{err:?}"
        );
        let bad_co = "NPA,NXX,Rate Center\n70,445,X\n";
        let err = import(("co.csv", bad_co), ("map.csv", MAP), TABLE, &regions()).unwrap_err();
        assert!(err[0].starts_with("co.csv:2: NPA \"70\""), "{err:?}");
        let no_header = "a,b,c\n1,2,3\n";
        let err = import(("co.csv", no_header), ("map.csv", MAP), TABLE, &regions()).unwrap_err();
        assert!(
            err[0].starts_with("co.csv:1: the header must name"),
            "{err:?}"
        );
    }
}
