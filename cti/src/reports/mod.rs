//! Needs and trends: the reports 211 management, funders and communities
//! read (`frontdoor report`, `GET /api/reports/{kind}`, the `/reports` page),
//! with small counts suppressed, and a synthetic year to see and time them.
//! What each report counts is in docs/reports.md.
//!
//! Each report is a few `GROUP BY` queries over the period's call records,
//! logs or needs, each read from one index (`call_records_report`,
//! `call_logs_report`, `call_log_needs_report`: the logs and needs carry
//! copies of their call's arrival, region, centre and incident) and grouped
//! by the report's buckets (the period and the one before, weeks, months,
//! local days: [`Periods::bucket_sql`]); then [`suppress`] hides small
//! counts. The same SQL text runs on SQLite and PostgreSQL.

pub mod generate;
mod kinds;
mod suppress;
mod table;

use std::collections::BTreeMap;
use std::fmt;

use jiff::civil::{Date, Weekday};
use jiff::tz::TimeZone;
use serde::Deserialize;

use crate::error::{Error, Result};
use crate::store::Store;

pub use table::{Cell, Chart, ColType, Column, Report};

/// `[reports]` in the config file.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReportsConfig {
    /// Counts under this (and above 0) are shown as `<N` in every export
    /// and on supervisors' pages. Default 5.
    pub suppress_below: u64,
    /// A caller who hangs up in queue sooner than this, in seconds, is a
    /// short abandon: counted apart, left out of the service level.
    /// Default 10.
    pub short_abandon_s: u64,
    /// The centres' service-level target. Default 80 % within 60 s.
    pub centre_target: Target,
    /// The crisis queue's target. Default 90 % within 20 s.
    pub crisis_target: Target,
    /// Targets of particular centres, by centre id:
    /// `targets.ottawa = { within_s = 45, goal_pct = 85 }`.
    pub targets: BTreeMap<String, Target>,
    /// Serve `/public/needs.csv` and `/public/needs.json` without an
    /// account (daily needs by taxonomy and region, suppressed). Default
    /// false.
    pub public_feed: bool,
    /// How many days back the public feed goes. Default 90.
    pub public_feed_days: u32,
}

/// A service-level target: `goal_pct` % of calls answered within `within_s`.
#[derive(Debug, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Target {
    pub within_s: u64,
    pub goal_pct: f64,
}

impl Default for ReportsConfig {
    fn default() -> Self {
        ReportsConfig {
            suppress_below: 5,
            short_abandon_s: 10,
            centre_target: Target {
                within_s: 60,
                goal_pct: 80.0,
            },
            crisis_target: Target {
                within_s: 20,
                goal_pct: 90.0,
            },
            targets: BTreeMap::new(),
            public_feed: false,
            public_feed_days: 90,
        }
    }
}

impl ReportsConfig {
    /// What is wrong with these settings, if anything.
    pub fn problem(&self) -> Option<String> {
        if self.suppress_below > 1000 {
            return Some("reports.suppress_below: at most 1000".into());
        }
        if self.public_feed_days == 0 || i64::from(self.public_feed_days) > MAX_DAYS_BY_DAY {
            return Some(format!(
                "reports.public_feed_days: 1 to {MAX_DAYS_BY_DAY} (the feed is day by day)"
            ));
        }
        let fixed = [
            ("centre_target", &self.centre_target),
            ("crisis_target", &self.crisis_target),
        ];
        for name in self.targets.keys() {
            if !is_id(name) {
                return Some(format!(
                    "reports.targets: {name:?} is not a centre id (lower-case letters, digits, _)"
                ));
            }
        }
        let named = self.targets.iter().map(|(k, t)| (k.as_str(), t));
        for (name, t) in fixed.into_iter().chain(named) {
            if !(t.goal_pct > 0.0 && t.goal_pct <= 100.0) || t.within_s == 0 || t.within_s > 3600 {
                return Some(format!(
                    "reports {name}: goal_pct is above 0 and at most 100, within_s 1 to 3600"
                ));
            }
        }
        None
    }

    /// The target of a queue: a centre id, or `crisis`.
    pub fn target_of(&self, queue: &str) -> Target {
        if queue == "crisis" {
            return self.crisis_target;
        }
        self.targets
            .get(queue)
            .copied()
            .unwrap_or(self.centre_target)
    }
}

/// Lower-case letters, digits and `_`, 1 to 64 of them: a centre, a region.
fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Which report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Needs,
    Unmet,
    ServiceLevel,
    Tracked,
    FollowUps,
    Incident,
    Demographics,
    Referrals,
    NoService,
}

impl Kind {
    pub const ALL: [Kind; 9] = [
        Kind::Needs,
        Kind::Unmet,
        Kind::ServiceLevel,
        Kind::Tracked,
        Kind::FollowUps,
        Kind::Incident,
        Kind::Demographics,
        Kind::Referrals,
        Kind::NoService,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Needs => "needs",
            Kind::Unmet => "unmet",
            Kind::ServiceLevel => "service-level",
            Kind::Tracked => "tracked",
            Kind::FollowUps => "follow-ups",
            Kind::Incident => "incident",
            Kind::Demographics => "demographics",
            Kind::Referrals => "referrals",
            Kind::NoService => "no-service",
        }
    }
    pub fn parse(s: &str) -> Result<Kind> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "unknown report {s:?}: one of {}",
                    Kind::ALL.map(Kind::as_str).join(", ")
                ))
            })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a report's period is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum By {
    Day,
    Week,
    Month,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Day => "day",
            By::Week => "week",
            By::Month => "month",
        }
    }
    fn parse(s: &str) -> Result<By> {
        match s {
            "day" => Ok(By::Day),
            "week" => Ok(By::Week),
            "month" => Ok(By::Month),
            _ => Err(Error::Invalid(format!(
                "by: {s:?} is not day, week or month"
            ))),
        }
    }
}

/// What the needs report adds to its rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    Region,
    Centre,
}

impl Split {
    fn parse(s: &str) -> Result<Split> {
        match s {
            "region" => Ok(Split::Region),
            "centre" => Ok(Split::Centre),
            _ => Err(Error::Invalid(format!(
                "split: {s:?} is not region or centre"
            ))),
        }
    }
}

/// One report to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub kind: Kind,
    pub from: Date,
    /// The last day, included.
    pub to: Date,
    pub centre: Option<String>,
    pub region: Option<String>,
    pub by: Option<By>,
    pub split: Option<Split>,
    /// The incident (required by, and only for, [`Kind::Incident`]).
    pub tag: Option<String>,
    /// The language of the taxonomy's names: `en` or `fr`.
    pub french: bool,
}

/// The longest period a report covers.
const MAX_DAYS: i64 = 3 * 366;
/// The longest period cut by day.
const MAX_DAYS_BY_DAY: i64 = 400;

impl Query {
    /// A query from named text parameters (the API's query string); what
    /// is wrong is said in the error.
    pub fn from_params(kind: &str, params: &BTreeMap<String, String>) -> Result<Query> {
        let known = [
            "from", "to", "centre", "region", "by", "split", "tag", "lang", "format",
        ];
        if let Some(k) = params.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(Error::Invalid(format!(
                "unknown parameter {k:?}: known are {}",
                known.join(", ")
            )));
        }
        let get = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());
        let date = |k: &str| -> Result<Date> {
            let v = get(k)
                .ok_or_else(|| Error::Invalid(format!("{k}: a date (YYYY-MM-DD) is needed")))?;
            parse_date(k, v)
        };
        let q = Query {
            kind: Kind::parse(kind)?,
            from: date("from")?,
            to: date("to")?,
            centre: get("centre").map(String::from),
            region: get("region").map(String::from),
            by: get("by").map(By::parse).transpose()?,
            split: get("split").map(Split::parse).transpose()?,
            tag: get("tag").map(String::from),
            french: match get("lang") {
                None | Some("en") => false,
                Some("fr") => true,
                Some(other) => {
                    return Err(Error::Invalid(format!("lang: {other:?} is not en or fr")));
                }
            },
        };
        q.check()?;
        Ok(q)
    }

    /// Refuses a query no report can answer.
    pub fn check(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Invalid(m));
        if self.to < self.from {
            return bad(format!("to ({}) is before from ({})", self.to, self.from));
        }
        let days = self.days();
        if days > MAX_DAYS {
            return bad(format!("the period is {days} days: at most {MAX_DAYS}"));
        }
        if self.by == Some(By::Day) && days > MAX_DAYS_BY_DAY {
            return bad(format!(
                "by day, the period is at most {MAX_DAYS_BY_DAY} days (it is {days}): try by week"
            ));
        }
        for (name, v) in [("centre", &self.centre), ("region", &self.region)] {
            if let Some(v) = v
                && !is_id(v)
            {
                return bad(format!(
                    "{name}: {v:?} is not an id (lower-case letters, digits, _)"
                ));
            }
        }
        if self.split.is_some() && self.kind != Kind::Needs {
            return bad("split is for the needs report only".into());
        }
        match (&self.tag, self.kind) {
            (None, Kind::Incident) => bad("the incident report needs a tag".into()),
            (Some(_), k) if k != Kind::Incident => {
                bad("tag is for the incident report only".into())
            }
            (Some(t), _) if !valid_tag(t) => bad(format!(
                "tag: {t:?} is not an incident tag (letters, digits, - and _, up to 64)"
            )),
            _ => Ok(()),
        }
    }

    /// Days in the period.
    pub fn days(&self) -> i64 {
        i64::from(self.from.until(self.to).map(|s| s.get_days()).unwrap_or(0)) + 1
    }

    /// `needs 2026-01-01..2026-01-31 centre=ottawa by=month`: for the audit log.
    pub fn describe(&self) -> String {
        let mut s = format!("{} {}..{}", self.kind, self.from, self.to);
        for (k, v) in [
            ("centre", self.centre.as_deref()),
            ("region", self.region.as_deref()),
            ("by", self.by.map(By::as_str)),
            (
                "split",
                self.split.map(|s| match s {
                    Split::Region => "region",
                    Split::Centre => "centre",
                }),
            ),
            ("tag", self.tag.as_deref()),
        ] {
            if let Some(v) = v {
                s.push_str(&format!(" {k}={v}"));
            }
        }
        s
    }
}

/// An incident tag: `2026-ottawa-flood`.
pub fn valid_tag(t: &str) -> bool {
    !t.is_empty()
        && t.len() <= 64
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub(crate) fn parse_date(name: &str, v: &str) -> Result<Date> {
    let ok = v.len() == 10 && v.as_bytes()[4] == b'-' && v.as_bytes()[7] == b'-';
    ok.then(|| v.parse::<Date>().ok())
        .flatten()
        .ok_or_else(|| Error::Invalid(format!("{name}: {v:?} is not a date (YYYY-MM-DD)")))
}

/// The statements that fill in the copies the reports read (a call's first
/// log time on its record; its arrival, region, centre and incident on its
/// logs and needs; whether a need's log is current) where they are missing:
/// the same as in migrations/*/0008_reports.sql, for rows written by other
/// means than the store's own methods.
const FILL_COPIES: [&str; 3] = [
    "UPDATE call_records SET logged_ms = \
       (SELECT MIN(l.saved_ms) FROM call_logs l WHERE l.call_id = call_records.call_id) \
     WHERE logged_ms IS NULL",
    "UPDATE call_logs SET \
       arrived_ms = (SELECT r.arrived_ms FROM call_records r WHERE r.call_id = call_logs.call_id), \
       region = (SELECT r.region FROM call_records r WHERE r.call_id = call_logs.call_id), \
       centre = (SELECT r.centre FROM call_records r WHERE r.call_id = call_logs.call_id), \
       incident = (SELECT r.incident FROM call_records r WHERE r.call_id = call_logs.call_id) \
     WHERE arrived_ms IS NULL",
    "UPDATE call_log_needs SET \
       arrived_ms = (SELECT l.arrived_ms FROM call_logs l WHERE l.id = call_log_needs.log_id), \
       region = (SELECT l.region FROM call_logs l WHERE l.id = call_log_needs.log_id), \
       centre = (SELECT l.centre FROM call_logs l WHERE l.id = call_log_needs.log_id), \
       incident = (SELECT l.incident FROM call_logs l WHERE l.id = call_log_needs.log_id), \
       is_current = (SELECT CASE WHEN l.superseded_ms IS NULL THEN 1 ELSE 0 END \
                       FROM call_logs l WHERE l.id = call_log_needs.log_id) \
     WHERE arrived_ms IS NULL",
];

/// Fills in the copies the reports read for rows written without them (by
/// hand, or by a tool writing SQL), in one transaction.
pub async fn fill_copies(store: &Store) -> Result<()> {
    let mut tx = store.begin_write().await?;
    for sql in FILL_COPIES {
        sqlx::query(sql).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Runs a report; `suppress_below` 0 shows exact counts.
pub async fn run(
    store: &Store,
    config: &ReportsConfig,
    tz: &TimeZone,
    today: Date,
    query: &Query,
    suppress_below: u64,
) -> Result<Report> {
    query.check()?;
    let periods = Periods::new(query, tz)?;
    // A connection of its own, closed after the report (taken out of the
    // pool, so the pool opens another for the engine's writes): SQLite
    // groups by sorting, and a year's rows fit in memory with a larger page
    // cache (the default spills to temporary files); PostgreSQL would first
    // compile these short scans to machine code (JIT), which takes longer
    // than the scans.
    let mut conn = store.pool().acquire().await?.detach();
    let setting = match store.backend() {
        crate::store::Backend::Sqlite => "PRAGMA cache_size = -65536",
        crate::store::Backend::Postgres => "SET jit = off",
    };
    sqlx::query(setting).execute(&mut conn).await?;
    let built = kinds::build(&mut conn, config, &periods, today, query, suppress_below).await;
    let _ = sqlx::Connection::close(conn).await;
    let mut report = built?;
    if suppress_below > 1 {
        suppress::apply(&mut report, suppress_below);
    }
    Ok(report)
}

/// The period's cut into buckets (days, weeks, months, or the whole), and
/// the SQL that gives the local day a time in epoch ms falls on.
pub(crate) struct Periods {
    from: Date,
    to: Date,
    by: Option<By>,
    /// Start of the first bucket to read (the bucket before `from` when a
    /// trend is wanted), epoch ms.
    pub lo_ms: i64,
    /// Start of the period, epoch ms.
    pub from_ms: i64,
    /// End of the period (the day after `to`), epoch ms.
    pub hi_ms: i64,
    /// Offsets in force from each instant on (epoch ms, offset ms), the
    /// first from the beginning of time.
    offsets: Vec<(i64, i64)>,
    /// Unless cut by day: each bucket's first day and its start (epoch ms),
    /// in order, from the bucket before the period; `None` for the days of
    /// the first week or month before `from`, which count nowhere.
    starts: Vec<(Option<Date>, i64)>,
}

const DAY_MS: i64 = 86_400_000;

impl Periods {
    fn new(q: &Query, tz: &TimeZone) -> Result<Periods> {
        let start = |d: Date| -> Result<i64> {
            d.to_zoned(tz.clone())
                .map(|z| z.timestamp().as_millisecond())
                .map_err(|e| Error::Invalid(format!("{d}: {e}")))
        };
        let mut p = Periods {
            from: q.from,
            to: q.to,
            by: q.by,
            lo_ms: 0,
            from_ms: start(q.from)?,
            hi_ms: start(next_day(q.to))?,
            offsets: Vec::new(),
            starts: Vec::new(),
        };
        let first = p.previous_key(p.key(q.from));
        p.lo_ms = start(first)?;
        if q.by != Some(By::Day) {
            let mut key = first;
            while key <= q.to {
                if key < q.from && key > first {
                    // The first bucket begins before the period: its days
                    // before `from` are not the period's.
                    p.starts.push((None, start(key)?));
                    p.starts.push((Some(key), p.from_ms));
                } else {
                    p.starts.push((Some(key), start(key)?));
                }
                let next = match q.by {
                    None => p.key(q.from),
                    Some(By::Week) => key.checked_add(jiff::Span::new().days(7)).unwrap_or(q.to),
                    _ => key.checked_add(jiff::Span::new().months(1)).unwrap_or(q.to),
                };
                if next <= key {
                    break;
                }
                key = next;
            }
        }
        let lo = jiff::Timestamp::from_millisecond(p.lo_ms)
            .map_err(|e| Error::Invalid(e.to_string()))?;
        p.offsets
            .push((i64::MIN, i64::from(tz.to_offset(lo).seconds()) * 1000));
        for t in tz.following(lo) {
            let at = t.timestamp().as_millisecond();
            if at >= p.hi_ms {
                break;
            }
            p.offsets.push((at, i64::from(t.offset().seconds()) * 1000));
        }
        Ok(p)
    }

    /// SQL for the local day number (days since 1970-01-01 in the zone) of
    /// an epoch-ms column, exact across daylight-saving changes.
    pub fn day_sql(&self, col: &str) -> String {
        if self.offsets.len() == 1 {
            return format!("(({col} + {}) / {DAY_MS})", self.offsets[0].1);
        }
        let mut s = String::from("((");
        s.push_str(col);
        s.push_str(" + CASE");
        for w in self.offsets.windows(2) {
            s.push_str(&format!(" WHEN {col} < {} THEN {}", w[1].0, w[0].1));
        }
        let last = self.offsets.last().map_or(0, |o| o.1);
        s.push_str(&format!(" ELSE {last} END) / {DAY_MS})"));
        s
    }

    /// SQL for the bucket of an epoch-ms column: the local day number when
    /// cut by day, else the bucket's index (a few at most: weeks, months,
    /// or the period and the one before). [`Periods::bucket_key`] reads it.
    pub fn bucket_sql(&self, col: &str) -> String {
        if self.by == Some(By::Day) || self.starts.is_empty() {
            return self.day_sql(col);
        }
        let mut s = String::from("CAST(CASE");
        for (i, (_, at)) in self.starts.iter().enumerate().skip(1) {
            s.push_str(&format!(" WHEN {col} < {at} THEN {}", i - 1));
        }
        s.push_str(&format!(" ELSE {} END AS BIGINT)", self.starts.len() - 1));
        s
    }

    /// The bucket (by its first day) of a value of [`Periods::bucket_sql`].
    pub fn bucket_key(&self, v: i64) -> Option<Date> {
        if self.by == Some(By::Day) || self.starts.is_empty() {
            return Periods::date_of(v).map(|d| self.key(d));
        }
        self.starts
            .get(usize::try_from(v).ok()?)
            .and_then(|(key, _)| *key)
    }

    /// The date of a local day number.
    pub fn date_of(day: i64) -> Option<Date> {
        jiff::civil::date(1970, 1, 1)
            .checked_add(jiff::Span::new().try_days(day).ok()?)
            .ok()
    }

    /// The bucket a date falls in, by its first day (`from` for the whole
    /// period).
    pub fn key(&self, d: Date) -> Date {
        match self.by {
            None if d >= self.from => self.from,
            None => self.previous_key(self.from),
            Some(By::Day) => d,
            Some(By::Week) => {
                let back = i64::from(d.weekday().since(Weekday::Monday));
                d.checked_sub(jiff::Span::new().days(back)).unwrap_or(d)
            }
            Some(By::Month) => d.first_of_month(),
        }
    }

    /// The bucket before the one starting `key`.
    pub fn previous_key(&self, key: Date) -> Date {
        match self.by {
            None => {
                let days =
                    i64::from(self.from.until(self.to).map(|s| s.get_days()).unwrap_or(0)) + 1;
                key.checked_sub(jiff::Span::new().days(days)).unwrap_or(key)
            }
            Some(_) => self.key(key.yesterday().unwrap_or(key)),
        }
    }

    /// A bucket's name: `2026-01-05`, `2026-W02`, `2026-01`, or `FROM..TO`.
    pub fn label(&self, key: Date) -> String {
        match self.by {
            None => format!("{}..{}", self.from, self.to),
            Some(By::Day) => key.to_string(),
            Some(By::Week) => {
                let w = key.iso_week_date();
                format!("{}-W{:02}", w.year(), w.week())
            }
            Some(By::Month) => format!("{:04}-{:02}", key.year(), key.month()),
        }
    }
}

fn next_day(d: Date) -> Date {
    d.tomorrow().unwrap_or(d)
}

/// `frontdoor report`: a report on the command line.
#[derive(Debug, Clone, clap::Args)]
pub struct ReportCommand {
    /// needs, unmet, service-level, tracked, follow-ups, incident, demographics,
    /// referrals or no-service.
    #[arg(value_name = "KIND")]
    pub kind: String,
    /// The incident's tag (the incident report: `frontdoor report incident 2026-ottawa-flood`).
    #[arg(value_name = "TAG")]
    pub tag: Option<String>,
    /// First day (YYYY-MM-DD), in the centres' time zone.
    #[arg(long)]
    pub from: String,
    /// Last day, included.
    #[arg(long)]
    pub to: String,
    /// One centre's calls only.
    #[arg(long)]
    pub centre: Option<String>,
    /// One region's calls only.
    #[arg(long)]
    pub region: Option<String>,
    /// Cut the period by day, week or month (default: the whole period).
    #[arg(long, value_enum)]
    pub by: Option<By>,
    /// Needs only: a row per region or per centre too.
    #[arg(long, value_enum)]
    pub split: Option<Split>,
    /// table, csv or json.
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// The taxonomy's names in English or French.
    #[arg(long, default_value = "en", value_parser = ["en", "fr"])]
    pub lang: String,
    /// Exact counts, with nothing suppressed (for operations staff; the run
    /// is audited as such).
    #[arg(long)]
    pub unsuppressed: bool,
}

/// How a report is written out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Table,
    Csv,
    Json,
}

/// Runs `frontdoor report`: the report as text, and an audit row.
pub async fn run_report_command(
    store: &Store,
    config: &ReportsConfig,
    timezone: &str,
    cmd: ReportCommand,
) -> Result<String> {
    let tz = TimeZone::get(timezone)
        .map_err(|e| Error::Invalid(format!("time zone {timezone:?}: {e}")))?;
    let query = Query {
        kind: Kind::parse(&cmd.kind)?,
        from: parse_date("--from", &cmd.from)?,
        to: parse_date("--to", &cmd.to)?,
        centre: cmd.centre,
        region: cmd.region,
        by: cmd.by,
        split: cmd.split,
        tag: cmd.tag,
        french: cmd.lang == "fr",
    };
    query.check()?;
    let today = jiff::Timestamp::now().to_zoned(tz.clone()).date();
    let below = if cmd.unsuppressed {
        0
    } else {
        config.suppress_below
    };
    let report = run(store, config, &tz, today, &query, below).await?;
    let now = crate::now_ms();
    store
        .audit(&crate::store::AuditEntry {
            at_ms: now,
            actor: "cli".into(),
            action: format!("report.{}", query.kind),
            target: query.describe(),
            outcome: "ok".into(),
            detail: if cmd.unsuppressed {
                "unsuppressed".into()
            } else {
                String::new()
            },
            peer: String::new(),
        })
        .await?;
    Ok(match cmd.format {
        Format::Table => report.to_table(),
        Format::Csv => report.to_csv(),
        Format::Json => serde_json::to_string_pretty(&report).unwrap_or_default() + "\n",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn query(from: Date, to: Date, by: Option<By>) -> Query {
        Query {
            kind: Kind::Needs,
            from,
            to,
            centre: None,
            region: None,
            by,
            split: None,
            tag: None,
            french: false,
        }
    }

    /// The local day of each instant, as the database computes it with
    /// [`Periods::day_sql`], across both daylight-saving changes of 2026.
    #[tokio::test]
    async fn days_are_local_days_on_both_sides_of_daylight_saving_changes() {
        let tz = TimeZone::get("America/Toronto").unwrap();
        let dir = std::env::temp_dir().join(format!("frontdoor-days-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = crate::store::sqlite_in(&dir).await.unwrap();
        let p = Periods::new(&query(date(2026, 1, 1), date(2026, 12, 31), None), &tz).unwrap();
        assert!(p.offsets.len() >= 3, "{:?}", p.offsets);
        for (d, h, m) in [
            (date(2026, 3, 8), 0, 30),
            (date(2026, 3, 8), 1, 59),
            (date(2026, 3, 8), 3, 0),
            (date(2026, 3, 8), 23, 59),
            (date(2026, 11, 1), 0, 30),
            (date(2026, 11, 1), 1, 30),
            (date(2026, 11, 1), 23, 30),
            (date(2026, 6, 30), 23, 59),
            (date(2026, 7, 1), 0, 0),
        ] {
            let ms = d
                .at(h, m, 0, 0)
                .to_zoned(tz.clone())
                .unwrap()
                .timestamp()
                .as_millisecond();
            let sql = format!("SELECT {} FROM (SELECT {ms} AS t) x", p.day_sql("t"));
            let day: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(store.pool())
                .await
                .unwrap();
            assert_eq!(Periods::date_of(day), Some(d), "{d} {h}:{m}");
        }
        store.close().await;
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn buckets_are_named_and_follow_each_other() {
        let tz = TimeZone::get("America/Toronto").unwrap();
        let whole = Periods::new(&query(date(2026, 1, 1), date(2026, 1, 31), None), &tz).unwrap();
        assert_eq!(whole.key(date(2026, 1, 20)), date(2026, 1, 1));
        assert_eq!(whole.previous_key(date(2026, 1, 1)), date(2025, 12, 1));
        assert_eq!(whole.label(date(2026, 1, 1)), "2026-01-01..2026-01-31");
        let weeks = Periods::new(
            &query(date(2026, 1, 1), date(2026, 1, 31), Some(By::Week)),
            &tz,
        )
        .unwrap();
        // 2026-01-01 is a Thursday: its week began on Monday, December 29.
        assert_eq!(weeks.key(date(2026, 1, 1)), date(2025, 12, 29));
        assert_eq!(weeks.label(date(2026, 1, 5)), "2026-W02");
        assert_eq!(weeks.previous_key(date(2025, 12, 29)), date(2025, 12, 22));
        let months = Periods::new(
            &query(date(2026, 3, 15), date(2026, 5, 2), Some(By::Month)),
            &tz,
        )
        .unwrap();
        assert_eq!(months.key(date(2026, 4, 30)), date(2026, 4, 1));
        assert_eq!(months.label(date(2026, 4, 1)), "2026-04");
        assert_eq!(months.previous_key(date(2026, 3, 1)), date(2026, 2, 1));
        assert_eq!(Periods::date_of(0), Some(date(1970, 1, 1)));
        assert_eq!(Periods::date_of(i64::MAX), None);
    }

    #[test]
    fn targets_and_config_problems() {
        let mut c = ReportsConfig::default();
        assert_eq!(c.problem(), None);
        assert_eq!(c.target_of("crisis").within_s, 20);
        assert_eq!(c.target_of("ottawa").within_s, 60);
        c.targets.insert(
            "ottawa".into(),
            Target {
                within_s: 45,
                goal_pct: 85.0,
            },
        );
        assert_eq!(c.target_of("ottawa").within_s, 45);
        c.targets.insert(
            "Bad Id".into(),
            Target {
                within_s: 45,
                goal_pct: 85.0,
            },
        );
        assert!(c.problem().unwrap().contains("not a centre id"));
        let c = ReportsConfig {
            crisis_target: Target {
                within_s: 20,
                goal_pct: 0.0,
            },
            ..ReportsConfig::default()
        };
        assert!(c.problem().unwrap().contains("crisis_target"));
    }
}
