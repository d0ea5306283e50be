//! `frontdoor store generate`: a synthetic year of calls.
//!
//! Fills a store with calls that look like a year of Ontario's 211 line, to
//! try the reports and time them (docs/reports.md, "A year to look at"). It
//! is never for a live store: it refuses a store that has call records
//! unless asked to append.
//!
//! What it writes, in one transaction:
//! - `call_records`, one row a call, with the columns the engine sets as a
//!   call goes: its times, language, region and where the region came from,
//!   centre, topic, route (`queue:<centre>` or `crisis`), IVR path,
//!   navigator, disposition, callback and its outcome, overflow, incident;
//! - for most answered calls the navigator's log (`call_logs`) with its
//!   needs, referrals and follow-up, and the outcomes of the follow-ups
//!   whose attempts are already past.
//!
//! It writes no `call_events`: the reports read the call records' own
//! columns (`overflowed`, `callback_outcome`, `incident`), and a year of
//! events would multiply the time and the size for nothing. It creates no
//! accounts either: navigators are names on the records (`ottawa-nav-07`).
//!
//! Calls arrive by season (more in winter, most in January, fewer in
//! summer), weekday (Monday the busiest, weekends about half) and hour
//! (little overnight, most 10:00–14:00), local time. Regions have their
//! share of the province's population and are served by their centre,
//! whose opening hours (those of flows/centres.yaml, written out here; of
//! the statutory holidays only the fixed-date ones) decide whether a call
//! goes to it or to the first open centre of its overflow list. One
//! emergency incident, [`INCIDENT_TAG`], covers five days from 60 % into
//! the period in the east region: its calls are three times as many, wait
//! longer, and need shelter, housing, utilities and food more.
//!
//! The same seed gives the same calls, logs and needs. Only which
//! follow-ups already have outcomes depends on the day it runs: attempts
//! are written only up to now (and the period's end).

use jiff::civil::Date;
use jiff::tz::TimeZone;
use sqlx::{AnyConnection, Row};

use crate::Store;
use crate::error::{Error, Result};
use crate::protocol::{
    AgeBand, CrisisDetails, CrisisType, FollowUpOutcome, Gender, Inquirer, RiskLevel, UnmetReason,
};
use crate::store::Backend;
use crate::store::bulk::{Table, V, opt_i, opt_s};

/// The incident tag put on the calls of the synthetic emergency.
pub const INCIDENT_TAG: &str = "2026-ottawa-flood";

/// The period's length when none is given.
pub const DEFAULT_DAYS: u32 = 365;

/// The most calls one run generates (they are all held in memory once).
pub const MAX_CALLS: u64 = 5_000_000;

/// The longest period, in days.
pub const MAX_DAYS: u32 = 3_660;

/// What to generate.
#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// How many calls, the incident's surge included.
    pub calls: u64,
    /// The first day of the period.
    pub from: Date,
    /// The period's length in days (usually [`DEFAULT_DAYS`]).
    pub days: u32,
    /// The same seed gives the same data.
    pub seed: u64,
    /// The centres' time zone (`[cti] timezone`): calls arrive by local hour.
    pub timezone: TimeZone,
    /// Add to a store that already has call records.
    pub append: bool,
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Generated {
    /// Call records.
    pub calls: u64,
    /// Navigators' logs.
    pub logs: u64,
    /// Needs of those logs.
    pub needs: u64,
    /// Referrals of those logs.
    pub referrals: u64,
    /// Logs with a follow-up scheduled.
    pub follow_ups: u64,
    /// Calls tagged with [`INCIDENT_TAG`].
    pub incident_calls: u64,
}

/// Fills `store` with `opts.calls` synthetic calls (see the module's doc).
/// Refuses a store that has call records unless `opts.append`.
pub async fn generate(store: &Store, opts: &GenerateOptions) -> Result<Generated> {
    if opts.calls == 0 {
        return Err(Error::Invalid("generate at least one call".into()));
    }
    if opts.calls > MAX_CALLS {
        return Err(Error::Invalid(format!(
            "at most {MAX_CALLS} calls in one run; run again with --append for more"
        )));
    }
    if opts.days == 0 || opts.days > MAX_DAYS {
        return Err(Error::Invalid(format!(
            "the period is 1 to {MAX_DAYS} days"
        )));
    }
    let calendar = Calendar::new(opts)?;
    let mut tx = store.begin_write().await?;
    let existing: i64 = sqlx::query("SELECT COUNT(*) FROM call_records")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    if existing > 0 && !opts.append {
        return Err(Error::Invalid(format!(
            "the store already has {existing} call records: generate fills an empty store \
             (never a live one); pass --append to add to it anyway"
        )));
    }
    let codes: Vec<String> =
        sqlx::query("SELECT code FROM taxonomy WHERE retired = 0 ORDER BY code")
            .fetch_all(&mut *tx)
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<std::result::Result<_, _>>()?;
    let first_log: i64 = sqlx::query("SELECT COALESCE(MAX(id), 0) + 1 FROM call_logs")
        .fetch_one(&mut *tx)
        .await?
        .try_get(0)?;
    let first_call = u64::try_from(existing).unwrap_or(0) + 1;
    let now_ms = jiff::Timestamp::now().as_millisecond();
    let mut g = Generator::new(opts, calendar, codes, first_log, first_call, now_ms)?;
    let arrivals = g.arrivals();
    for chunk in arrivals.chunks(CHUNK) {
        for a in chunk {
            g.call(a);
        }
        g.tables.flush(&mut tx, store.backend()).await?;
    }
    if store.backend() == Backend::Postgres && g.counts.logs > 0 {
        sqlx::query(
            "SELECT setval(pg_get_serial_sequence('call_logs', 'id'), (SELECT MAX(id) FROM call_logs))",
        )
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    // The planner's statistics for what was just written (the database
    // would gather them itself later).
    sqlx::query("ANALYZE").execute(store.pool()).await?;
    Ok(g.counts)
}

/// Calls generated between two writes.
const CHUNK: usize = 256;

const DAY_MS: i64 = 86_400_000;
const HOUR_MS: i64 = 3_600_000;

// Regions and the centres serving them share an index: toronto, central
// (collingwood), southwest (windsor), east (ottawa), central_south
// (st_catharines), north (thunder_bay).
const TORONTO: usize = 0;
const CENTRAL: usize = 1;
const EAST: usize = 3;
const CENTRAL_SOUTH: usize = 4;
/// The arrival cell of calls whose region nobody learns.
const UNKNOWN: usize = 6;
/// Share of calls whose region stays unknown.
const UNKNOWN_SHARE: f64 = 0.02;

struct Region {
    id: &'static str,
    /// Share of the calls with a known region.
    share: f64,
    /// The IVR step of the region menu's choice.
    step: &'static str,
    /// Share of its callers served in French.
    french: f64,
    /// (area code, exchange) of callers' numbers, as in flows/regions.csv:
    /// an empty exchange is an area code that region table maps whole.
    prefixes: &'static [(&'static str, &'static str)],
    /// Postal areas (FSA) and municipalities callers give.
    areas: &'static [&'static str],
}

const REGIONS: [Region; 6] = [
    Region {
        id: "toronto",
        share: 0.40,
        step: "region_toronto",
        french: 0.025,
        prefixes: &[
            ("416", ""),
            ("416", ""),
            ("647", ""),
            ("647", ""),
            ("437", ""),
            ("905", "270"),
            ("905", "450"),
            ("905", "294"),
        ],
        areas: &[
            "M5V",
            "M4C",
            "M6H",
            "M1B",
            "M9V",
            "M3N",
            "M2N",
            "M6K",
            "M5A",
            "M4X",
            "M1E",
            "Toronto",
            "Mississauga",
            "Brampton",
        ],
    },
    Region {
        id: "central",
        share: 0.20,
        step: "region_central",
        french: 0.015,
        prefixes: &[
            ("705", "445"),
            ("705", "726"),
            ("705", "728"),
            ("705", "325"),
            ("705", "743"),
            ("705", "789"),
        ],
        areas: &[
            "L9Y",
            "L4M",
            "L4N",
            "L3V",
            "K9J",
            "L4R",
            "P1H",
            "Barrie",
            "Orillia",
            "Peterborough",
            "Collingwood",
        ],
    },
    Region {
        id: "southwest",
        share: 0.13,
        step: "region_southwest",
        french: 0.015,
        prefixes: &[("519", ""), ("519", ""), ("226", ""), ("548", "")],
        areas: &[
            "N9A",
            "N8X",
            "N6A",
            "N5Y",
            "N2G",
            "N1H",
            "N7T",
            "Windsor",
            "London",
            "Kitchener",
        ],
    },
    Region {
        id: "east",
        share: 0.12,
        step: "region_east",
        french: 0.15,
        prefixes: &[("613", ""), ("613", ""), ("343", "")],
        areas: &[
            "K1N", "K1K", "K2P", "K1V", "K2G", "K1T", "K7L", "K6H", "K8N", "Ottawa", "Kingston",
            "Cornwall", "Gatineau",
        ],
    },
    Region {
        id: "central_south",
        share: 0.10,
        step: "region_central_south",
        french: 0.015,
        prefixes: &[
            ("905", "522"),
            ("905", "525"),
            ("905", "684"),
            ("905", "356"),
            ("905", "332"),
            ("905", "842"),
        ],
        areas: &[
            "L8L",
            "L8N",
            "L2R",
            "L2E",
            "L3C",
            "L7R",
            "Hamilton",
            "St. Catharines",
            "Niagara Falls",
        ],
    },
    Region {
        id: "north",
        share: 0.05,
        step: "region_north",
        french: 0.08,
        prefixes: &[
            ("807", ""),
            ("807", ""),
            ("705", "673"),
            ("705", "759"),
            ("705", "474"),
            ("705", "264"),
        ],
        areas: &[
            "P7B",
            "P7A",
            "P3A",
            "P6A",
            "P1B",
            "P4N",
            "Thunder Bay",
            "Greater Sudbury",
            "Kenora",
        ],
    },
];

/// Area codes of callers from outside Ontario (or of mobiles from there):
/// their region comes from the menu or stays unknown.
const AWAY_PREFIXES: &[(&str, &str)] = &[
    ("604", ""),
    ("204", ""),
    ("902", ""),
    ("514", ""),
    ("780", ""),
];

struct Centre {
    id: &'static str,
    navigators: u32,
    /// Navigators 1..=crisis_trained answer the crisis queue too.
    crisis_trained: u32,
    overflow: &'static [usize],
}

const CENTRES: [Centre; 6] = [
    Centre {
        id: "toronto",
        navigators: 40,
        crisis_trained: 8,
        overflow: &[EAST],
    },
    Centre {
        id: "collingwood",
        navigators: 30,
        crisis_trained: 5,
        overflow: &[TORONTO],
    },
    Centre {
        id: "windsor",
        navigators: 26,
        crisis_trained: 4,
        overflow: &[TORONTO],
    },
    Centre {
        id: "ottawa",
        navigators: 28,
        crisis_trained: 5,
        overflow: &[TORONTO],
    },
    Centre {
        id: "st_catharines",
        navigators: 24,
        crisis_trained: 4,
        overflow: &[TORONTO],
    },
    Centre {
        id: "thunder_bay",
        navigators: 20,
        crisis_trained: 4,
        overflow: &[CENTRAL, TORONTO],
    },
];

/// Whether `centre` takes calls at `hour` (local) of a day; `weekday` 0 is
/// Monday. flows/centres.yaml, written out.
fn open(centre: usize, weekday: usize, hour: usize, holiday: bool) -> bool {
    let weekend = weekday >= 5;
    match centre {
        TORONTO => true,
        _ if holiday => false,
        EAST if weekend => (9..17).contains(&hour),
        EAST => (8..21).contains(&hour),
        CENTRAL_SOUTH if weekday == 5 => (9..17).contains(&hour),
        _ if weekend => false,
        _ => (8..20).contains(&hour),
    }
}

/// Calls by local hour of arrival.
const HOUR_WEIGHT: [f64; 24] = [
    0.6, 0.4, 0.3, 0.25, 0.25, 0.35, 0.7, 1.5, 3.5, 6.0, 7.5, 7.8, 7.4, 7.6, 7.2, 6.4, 5.6, 4.2,
    3.2, 2.6, 2.0, 1.5, 1.1, 0.8,
];
/// How busy the queues are by hour (the wait and abandons follow it).
const HOUR_LOAD: [f64; 24] = [
    0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.95, 0.95, 1.25, 1.25, 1.25, 1.25, 1.25, 0.95, 0.95,
    0.95, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6,
];
/// Calls by weekday, Monday first.
const WEEKDAY_WEIGHT: [f64; 7] = [1.25, 1.15, 1.10, 1.05, 0.95, 0.55, 0.50];
const WEEKDAY_LOAD: [f64; 7] = [1.15, 1.05, 1.0, 1.0, 0.95, 0.8, 0.8];
/// A holiday's calls, against the same weekday's.
const HOLIDAY_WEIGHT: f64 = 0.6;
/// The incident region's calls on the incident's days, against usual.
const INCIDENT_SURGE: f64 = 3.0;
const INCIDENT_LOAD: f64 = 3.5;

/// Kinds of need, by the taxonomy code's level-1 or level-2 prefix; the
/// last, with no prefix, takes every other code.
struct Category {
    prefix: &'static str,
    weight: f64,
    /// The IVR topic a caller with this need chooses.
    topic: &'static str,
    topic_step: &'static str,
    /// Share of these needs that cannot be met.
    unmet: f64,
    /// What referrals to it are called ("Synthetic Food Bank 12").
    service: &'static str,
}

const CATEGORIES: [Category; 10] = [
    Category {
        prefix: "BH",
        weight: 22.0,
        topic: "housing",
        topic_step: "topic_housing",
        unmet: 0.20,
        service: "Housing Help",
    },
    Category {
        prefix: "BD",
        weight: 14.0,
        topic: "food",
        topic_step: "topic_food",
        unmet: 0.08,
        service: "Food Bank",
    },
    Category {
        prefix: "N",
        weight: 16.0,
        topic: "income",
        topic_step: "topic_income",
        unmet: 0.09,
        service: "Income Support Office",
    },
    Category {
        prefix: "L",
        weight: 10.0,
        topic: "other",
        topic_step: "topic_other",
        unmet: 0.08,
        service: "Community Health Centre",
    },
    Category {
        prefix: "R",
        weight: 9.0,
        topic: "mental_health",
        topic_step: "topic_mental_health",
        unmet: 0.15,
        service: "Counselling Service",
    },
    Category {
        prefix: "BV",
        weight: 6.0,
        topic: "other",
        topic_step: "topic_other",
        unmet: 0.12,
        service: "Utility Assistance",
    },
    Category {
        prefix: "F",
        weight: 5.0,
        topic: "other",
        topic_step: "topic_other",
        unmet: 0.10,
        service: "Legal Clinic",
    },
    Category {
        prefix: "BT",
        weight: 4.0,
        topic: "other",
        topic_step: "topic_other",
        unmet: 0.10,
        service: "Transportation Program",
    },
    Category {
        prefix: "P",
        weight: 7.0,
        topic: "other",
        topic_step: "topic_other",
        unmet: 0.07,
        service: "Family Services",
    },
    Category {
        prefix: "",
        weight: 7.0,
        topic: "other",
        topic_step: "topic_other",
        unmet: 0.07,
        service: "Community Service",
    },
];
const HOUSING: usize = 0;
const FOOD: usize = 1;
const MENTAL_HEALTH: usize = 4;
const UTILITIES: usize = 5;

const INQUIRERS: &[(Inquirer, f64)] = &[
    (Inquirer::SelfInquirer, 68.0),
    (Inquirer::Family, 12.0),
    (Inquirer::Friend, 4.0),
    (Inquirer::Professional, 8.0),
    (Inquirer::Anonymous, 2.0),
    (Inquirer::Other, 1.0),
    (Inquirer::NotAsked, 4.0),
    (Inquirer::Declined, 1.0),
];
const AGE_BANDS: &[(AgeBand, f64)] = &[
    (AgeBand::Under18, 1.0),
    (AgeBand::From18, 9.0),
    (AgeBand::From25, 18.0),
    (AgeBand::From35, 18.0),
    (AgeBand::From45, 15.0),
    (AgeBand::From55, 14.0),
    (AgeBand::From65, 13.0),
    (AgeBand::NotAsked, 10.0),
    (AgeBand::Declined, 2.0),
];
const GENDERS: &[(Gender, f64)] = &[
    (Gender::Woman, 62.0),
    (Gender::Man, 30.0),
    (Gender::NonBinary, 1.0),
    (Gender::Other, 0.5),
    (Gender::NotAsked, 5.5),
    (Gender::Declined, 1.0),
];
const UNMET_REASONS: &[(UnmetReason, f64)] = &[
    (UnmetReason::NoService, 28.0),
    (UnmetReason::Waitlist, 24.0),
    (UnmetReason::Ineligible, 14.0),
    (UnmetReason::Cost, 10.0),
    (UnmetReason::Distance, 8.0),
    (UnmetReason::Hours, 5.0),
    (UnmetReason::Language, 3.0),
    (UnmetReason::Declined, 5.0),
    (UnmetReason::Other, 3.0),
];
const CRISIS_TYPES: &[(CrisisType, f64)] = &[
    (CrisisType::Suicide, 35.0),
    (CrisisType::Violence, 15.0),
    (CrisisType::Psychiatric, 25.0),
    (CrisisType::Substance, 15.0),
    (CrisisType::Other, 10.0),
];
const RISKS: &[(RiskLevel, f64)] = &[
    (RiskLevel::Low, 30.0),
    (RiskLevel::Medium, 40.0),
    (RiskLevel::High, 22.0),
    (RiskLevel::Imminent, 8.0),
];
const CRISIS_ACTIONS: [&str; 3] = [
    "safety plan made with the caller",
    "referred to the mobile crisis team",
    "warm transfer to a crisis line",
];
const FOLLOW_UP_REASONS: [&str; 3] = [
    "check the referral worked",
    "see whether the service had room",
    "check in after the call",
];

/// One day of the period.
#[derive(Clone, Copy)]
struct Day {
    date: Date,
    /// 0 is Monday.
    weekday: usize,
    holiday: bool,
    /// The season's weight of calls (1 on average).
    season: f64,
    incident: bool,
    /// The start of each local hour, epoch ms.
    hour_ms: [i64; 24],
}

struct Calendar {
    days: Vec<Day>,
    /// The period's end, epoch ms (excluded).
    end_ms: i64,
    timezone: TimeZone,
}

fn jiff_error(e: jiff::Error) -> Error {
    Error::Invalid(format!("the period: {e}"))
}

impl Calendar {
    fn new(opts: &GenerateOptions) -> Result<Calendar> {
        let incident_start = u32::try_from(u64::from(opts.days) * 3 / 5).unwrap_or(0);
        let incident = incident_start..incident_start.saturating_add(5);
        let mut days = Vec::with_capacity(usize::try_from(opts.days).unwrap_or(0));
        for d in 0..opts.days {
            let date = opts
                .from
                .checked_add(jiff::Span::new().days(i64::from(d)))
                .map_err(jiff_error)?;
            let mut hour_ms = [0; 24];
            for (h, slot) in (0i8..).zip(hour_ms.iter_mut()) {
                *slot = date
                    .at(h, 0, 0, 0)
                    .to_zoned(opts.timezone.clone())
                    .map_err(jiff_error)?
                    .timestamp()
                    .as_millisecond();
            }
            let weekday = usize::try_from(date.weekday().to_monday_zero_offset()).unwrap_or(0);
            let holiday = matches!(
                (date.month(), date.day()),
                (1, 1) | (7, 1) | (12, 25) | (12, 26)
            );
            let doy = f64::from(date.day_of_year());
            let season = 1.0
                + 0.14 * (std::f64::consts::TAU * (doy - 10.0) / 365.25).cos()
                + if date.month() == 1 { 0.08 } else { 0.0 };
            days.push(Day {
                date,
                weekday,
                holiday,
                season,
                incident: incident.contains(&d),
                hour_ms,
            });
        }
        let end = opts
            .from
            .checked_add(jiff::Span::new().days(i64::from(opts.days)))
            .map_err(jiff_error)?;
        let end_ms = end
            .to_zoned(opts.timezone.clone())
            .map_err(jiff_error)?
            .timestamp()
            .as_millisecond();
        Ok(Calendar {
            days,
            end_ms,
            timezone: opts.timezone.clone(),
        })
    }

    /// The start of a date, local, epoch ms.
    fn start_ms(&self, date: Date) -> Option<i64> {
        date.to_zoned(self.timezone.clone())
            .ok()
            .map(|z| z.timestamp().as_millisecond())
    }
}

/// When and where a call arrives.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Arrival {
    ms: i64,
    day: u32,
    hour: u8,
    /// A region index, or [`UNKNOWN`].
    cell: u8,
}

/// How the call's region was learnt.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    AreaCode,
    Exchange,
    Menu,
    /// Never learnt.
    Unknown,
}

impl Source {
    fn as_str(self) -> Option<&'static str> {
        match self {
            Source::AreaCode => Some("area_code"),
            Source::Exchange => Some("exchange"),
            Source::Menu => Some("region_menu"),
            Source::Unknown => None,
        }
    }
}

struct Navigator {
    id: String,
    crisis: bool,
    /// Share of their answered calls they log.
    logs: f64,
}

struct Tables {
    records: Table,
    logs: Table,
    needs: Table,
    referrals: Table,
    outcomes: Table,
}

impl Tables {
    fn new() -> Tables {
        Tables {
            records: Table::new(
                "call_records",
                &[
                    "call_id",
                    "caller",
                    "dialled",
                    "arrived_ms",
                    "ivr_answered_ms",
                    "queued_ms",
                    "offered_ms",
                    "answered_ms",
                    "ended_ms",
                    "language",
                    "region",
                    "region_source",
                    "centre",
                    "topic",
                    "crisis",
                    "route",
                    "ivr_path",
                    "navigator",
                    "callback",
                    "disposition",
                    "last_step",
                    "overflowed",
                    "callback_outcome",
                    "incident",
                    "logged_ms",
                ],
            ),
            logs: Table::new(
                "call_logs",
                &[
                    "id",
                    "call_id",
                    "navigator",
                    "client_id",
                    "saved_ms",
                    "demographics",
                    "notes",
                    "follow_up_due",
                    "follow_up_reason",
                    "inquirer",
                    "area",
                    "age_band",
                    "gender",
                    "crisis_details",
                    "follow_up_consent",
                    "follow_up_method",
                    "arrived_ms",
                    "region",
                    "centre",
                    "incident",
                ],
            ),
            needs: Table::new(
                "call_log_needs",
                &[
                    "log_id",
                    "position",
                    "code",
                    "met",
                    "unmet_reason",
                    "arrived_ms",
                    "region",
                    "centre",
                    "incident",
                ],
            ),
            referrals: Table::new(
                "call_log_referrals",
                &["log_id", "position", "name", "code"],
            ),
            outcomes: Table::new(
                "follow_up_outcomes",
                &["log_id", "at_ms", "navigator", "outcome"],
            ),
        }
    }

    /// Writes everything waiting, parents before children.
    async fn flush(&mut self, tx: &mut AnyConnection, backend: Backend) -> Result<()> {
        let numbered = backend == Backend::Postgres;
        self.records.flush(tx, numbered).await?;
        self.logs.flush(tx, numbered).await?;
        self.needs.flush(tx, numbered).await?;
        self.referrals.flush(tx, numbered).await?;
        self.outcomes.flush(tx, numbered).await
    }
}

/// A weighted choice: the index of `weights` picked.
fn pick(rng: &mut fastrand::Rng, weights: impl Iterator<Item = f64> + Clone) -> usize {
    let total: f64 = weights.clone().sum();
    let mut x = rng.f64() * total;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if w > 0.0 {
            if x < w {
                return i;
            }
            x -= w;
            last = i;
        }
    }
    last
}

fn pick_coded<T: Copy>(rng: &mut fastrand::Rng, table: &[(T, f64)]) -> T {
    table[pick(rng, table.iter().map(|&(_, w)| w))].0
}

/// A uniform integer in `lo..hi`, or `lo` when that is empty.
fn between(rng: &mut fastrand::Rng, lo: i64, hi: i64) -> i64 {
    if hi > lo { rng.i64(lo..hi) } else { lo }
}

/// An exponential deviate of mean `mean`.
fn exponential(rng: &mut fastrand::Rng, mean: f64) -> f64 {
    -mean * (1.0 - rng.f64()).ln()
}

/// A log-normal deviate: `median` times e to a normal of deviation `sigma`.
fn lognormal(rng: &mut fastrand::Rng, median: f64, sigma: f64) -> f64 {
    let u1 = 1.0 - rng.f64();
    let u2 = rng.f64();
    let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
    median * (sigma * z).exp()
}

fn secs(s: f64) -> i64 {
    (s * 1000.0) as i64
}

/// What happened to a call in the queue.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Answered,
    Abandoned,
    Callback,
}

struct Generator<'a> {
    opts: &'a GenerateOptions,
    rng: fastrand::Rng,
    cal: Calendar,
    codes: Vec<String>,
    /// Per category, indices into `codes`.
    by_category: Vec<Vec<usize>>,
    navigators: Vec<Vec<Navigator>>,
    /// Callers seen, to call again: per arrival cell, by whether their
    /// region came from the menu: (number, source, French).
    callers: Vec<Vec<(String, Source, bool)>>,
    next_log: i64,
    next_call: u64,
    /// Follow-up attempts are written up to here.
    cutoff_ms: i64,
    tables: Tables,
    counts: Generated,
}

impl<'a> Generator<'a> {
    fn new(
        opts: &'a GenerateOptions,
        cal: Calendar,
        codes: Vec<String>,
        next_log: i64,
        next_call: u64,
        now_ms: i64,
    ) -> Result<Generator<'a>> {
        if codes.is_empty() {
            return Err(Error::Invalid(
                "the taxonomy has no current terms to code needs with".into(),
            ));
        }
        let mut by_category = vec![Vec::new(); CATEGORIES.len()];
        for (i, code) in codes.iter().enumerate() {
            let c = CATEGORIES
                .iter()
                .position(|c| !c.prefix.is_empty() && code.starts_with(c.prefix))
                .unwrap_or(CATEGORIES.len() - 1);
            by_category[c].push(i);
        }
        let mut rng = fastrand::Rng::with_seed(opts.seed);
        let navigators = CENTRES
            .iter()
            .map(|c| {
                (1..=c.navigators)
                    .map(|k| Navigator {
                        id: format!("{}-nav-{k:02}", c.id),
                        crisis: k <= c.crisis_trained,
                        logs: 0.80 + 0.16 * rng.f64(),
                    })
                    .collect()
            })
            .collect();
        let cutoff_ms = now_ms.min(cal.end_ms);
        Ok(Generator {
            opts,
            rng,
            cal,
            codes,
            by_category,
            navigators,
            callers: vec![Vec::new(); (UNKNOWN + 1) * 2],
            next_log,
            next_call,
            cutoff_ms,
            tables: Tables::new(),
            counts: Generated::default(),
        })
    }

    /// Every call's arrival, in time order: the calls are shared out
    /// exactly over days and regions by weight, then each gets an hour.
    fn arrivals(&mut self) -> Vec<Arrival> {
        let mut cells: Vec<(u32, u8, f64)> = Vec::with_capacity(self.cal.days.len() * 7);
        for (d, day) in (0u32..).zip(&self.cal.days) {
            let weight = day.season
                * WEEKDAY_WEIGHT[day.weekday % 7]
                * if day.holiday { HOLIDAY_WEIGHT } else { 1.0 };
            for (r, region) in REGIONS.iter().enumerate() {
                let surge = if day.incident && r == EAST {
                    INCIDENT_SURGE
                } else {
                    1.0
                };
                cells.push((
                    d,
                    r as u8,
                    weight * region.share * (1.0 - UNKNOWN_SHARE) * surge,
                ));
            }
            cells.push((d, UNKNOWN as u8, weight * UNKNOWN_SHARE));
        }
        let total: f64 = cells.iter().map(|c| c.2).sum();
        let calls = self.opts.calls as f64;
        let mut counts: Vec<u64> = Vec::with_capacity(cells.len());
        let mut rests: Vec<(f64, usize)> = Vec::with_capacity(cells.len());
        for (i, &(_, _, w)) in cells.iter().enumerate() {
            let exact = calls * w / total;
            let whole = exact.floor();
            counts.push(whole as u64);
            rests.push((exact - whole, i));
        }
        let given: u64 = counts.iter().sum();
        let missing = usize::try_from(self.opts.calls.saturating_sub(given)).unwrap_or(0);
        rests.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in rests.iter().cycle().take(missing) {
            counts[i] += 1;
        }
        let mut out = Vec::with_capacity(usize::try_from(self.opts.calls).unwrap_or(0));
        for (&(d, cell, _), &n) in cells.iter().zip(&counts) {
            let day = &self.cal.days[d as usize];
            for _ in 0..n {
                let hour = pick(&mut self.rng, HOUR_WEIGHT.iter().copied());
                out.push(Arrival {
                    ms: day.hour_ms[hour] + self.rng.i64(0..HOUR_MS),
                    day: d,
                    hour: hour as u8,
                    cell,
                });
            }
        }
        out.sort_unstable();
        out
    }

    /// A caller for a call arriving in `cell`: (number, how the region is
    /// learnt, served in French).
    fn caller(&mut self, cell: usize) -> (String, Source, bool) {
        let french_share = REGIONS.get(cell).map_or(0.04, |r| r.french);
        let u = self.rng.f64();
        let (anonymous, away) = if cell == UNKNOWN {
            (u < 0.4, true)
        } else {
            (u < 0.022, u < 0.062)
        };
        if anonymous {
            let source = if cell == UNKNOWN {
                Source::Unknown
            } else {
                Source::Menu
            };
            return ("anonymous".into(), source, self.rng.f64() < french_share);
        }
        let pool = cell * 2 + usize::from(away);
        if !self.callers[pool].is_empty() && self.rng.f64() < 0.25 {
            let i = self.rng.usize(..self.callers[pool].len());
            return self.callers[pool][i].clone();
        }
        let prefixes = match REGIONS.get(cell) {
            Some(r) if !away => r.prefixes,
            _ => AWAY_PREFIXES,
        };
        let (npa, nxx) = prefixes[self.rng.usize(..prefixes.len())];
        let number = if nxx.is_empty() {
            format!(
                "+1{npa}{}{:04}",
                self.rng.u32(200..1000),
                self.rng.u32(..10_000)
            )
        } else {
            format!("+1{npa}{nxx}{:04}", self.rng.u32(..10_000))
        };
        let source = match (away, cell == UNKNOWN, nxx.is_empty()) {
            (_, true, _) => Source::Unknown,
            (true, false, _) => Source::Menu,
            (false, false, true) => Source::AreaCode,
            (false, false, false) => Source::Exchange,
        };
        let caller = (number, source, self.rng.f64() < french_share);
        self.callers[pool].push(caller.clone());
        caller
    }

    /// The kind of need a call is mostly about.
    fn category(&mut self, incident: bool, month: i8) -> usize {
        let winter = matches!(month, 11 | 12 | 1 | 2 | 3);
        let by_category = &self.by_category;
        pick(
            &mut self.rng,
            CATEGORIES.iter().enumerate().map(move |(i, c)| {
                if by_category[i].is_empty() {
                    return 0.0;
                }
                let mut w = c.weight;
                if incident {
                    w *= match i {
                        HOUSING => 2.5,
                        UTILITIES => 3.0,
                        FOOD => 2.0,
                        _ => 1.0,
                    };
                }
                if winter && i == UTILITIES {
                    w *= 1.4;
                }
                w
            }),
        )
    }

    /// A code of `category` (any code when it has none), not in `taken`
    /// if it can help it.
    fn code(&mut self, category: usize, taken: &[usize]) -> usize {
        let mut choice = 0;
        for _ in 0..4 {
            let list = &self.by_category[category];
            choice = if list.is_empty() {
                self.rng.usize(..self.codes.len())
            } else {
                list[self.rng.usize(..list.len())]
            };
            if !taken.contains(&choice) {
                break;
            }
        }
        choice
    }

    /// The first open centre of `centre`'s overflow list.
    fn overflow_of(&self, centre: usize, day: &Day, hour: usize) -> Option<usize> {
        CENTRES[centre]
            .overflow
            .iter()
            .copied()
            .find(|&c| c != centre && open(c, day.weekday, hour, day.holiday))
    }

    fn navigator_of(&mut self, centre: usize) -> usize {
        self.rng.usize(..self.navigators[centre].len())
    }

    /// A crisis-trained navigator of a centre open at that hour.
    fn crisis_navigator(&mut self, day: &Day, hour: usize) -> (usize, usize) {
        let open_now: Vec<(usize, usize)> = self
            .navigators
            .iter()
            .enumerate()
            .filter(|(c, _)| open(*c, day.weekday, hour, day.holiday))
            .flat_map(|(c, navs)| {
                navs.iter()
                    .enumerate()
                    .filter(|(_, n)| n.crisis)
                    .map(move |(k, _)| (c, k))
            })
            .collect();
        if open_now.is_empty() {
            (TORONTO, 0)
        } else {
            open_now[self.rng.usize(..open_now.len())]
        }
    }

    /// Generates one call and what follows from it.
    fn call(&mut self, a: &Arrival) {
        let day = self.cal.days[a.day as usize];
        let hour = usize::from(a.hour);
        let cell = usize::from(a.cell);
        let call_id = format!("gen-{}-{}", self.opts.seed, self.next_call);
        self.next_call += 1;
        let incident_day = day.incident && cell == EAST;

        let (caller, source, french) = self.caller(cell);
        let crisis = self.rng.f64() < if incident_day { 0.03 } else { 0.02 };
        let category = self.category(incident_day, day.date.month());
        let emergency = incident_day && self.rng.f64() < 0.35;

        // The IVR path, as far as the caller goes.
        let mut path: Vec<&'static str> = vec![
            "greeting",
            if french { "french" } else { "english" },
            "find_region",
        ];
        match (source, REGIONS.get(cell)) {
            (Source::Menu, Some(r)) => path.extend(["region_menu", r.step]),
            (Source::Unknown, _) => path.push("region_menu"),
            _ => {}
        }
        path.push("topic");
        let topic_step = if emergency {
            path.push("emergency_help");
            "topic_emergency"
        } else {
            CATEGORIES[category].topic_step
        };
        path.push(topic_step);
        path.push("to_region");
        let in_ivr = !crisis && self.rng.f64() < if incident_day { 0.08 } else { 0.05 };
        if crisis || in_ivr {
            // Pressed the crisis key, or hung up, somewhere before the route.
            let keep = self.rng.usize(1..path.len());
            path.truncate(keep);
            if crisis {
                path.push("crisis");
            }
        }
        let reached = |step: &str| path.contains(&step);
        let language = if reached("french") {
            Some("fr")
        } else if reached("english") {
            Some("en")
        } else {
            None
        };
        // A region from the caller's number is known from the start (the
        // IVR looks it up on answering); one from the menu once chosen.
        let region = match (source, REGIONS.get(cell)) {
            (Source::AreaCode | Source::Exchange, Some(_)) => Some(cell),
            (Source::Menu, Some(r)) if reached(r.step) => Some(cell),
            _ => None,
        };
        let topic = reached(topic_step).then(|| {
            if emergency {
                "emergency"
            } else {
                CATEGORIES[category].topic
            }
        });
        let incident = incident_day && region == Some(EAST);
        let ivr_path = serde_json::to_string(&path).unwrap_or_else(|_| "[]".into());

        // Times.
        let arrived = a.ms;
        let ivr_answered = arrived + between(&mut self.rng, 300, 900);
        let mut queued = None;
        let mut offered = None;
        let mut answered = None;
        let ended;
        let mut route = None;
        let mut centre = None;
        let mut navigator: Option<(usize, usize)> = None;
        let mut callback = false;
        let mut callback_outcome = None;
        let mut overflowed = false;
        let disposition;
        if in_ivr {
            let per_step = between(&mut self.rng, 3_000, 9_000);
            ended = ivr_answered + per_step * path.len() as i64;
            disposition = "abandoned_in_ivr";
        } else {
            let ivr_ms = if crisis {
                path.len() as i64 * between(&mut self.rng, 2_000, 5_000)
            } else {
                between(&mut self.rng, 20_000, 60_000)
            };
            let q = ivr_answered + ivr_ms;
            queued = Some(q);
            let load = HOUR_LOAD[hour]
                * WEEKDAY_LOAD[day.weekday % 7]
                * day.season
                * if incident_day { INCIDENT_LOAD } else { 1.0 };
            // The queue: the region's centre when open, else the first open
            // centre of its overflow list; Toronto for an unknown region.
            let home = region.unwrap_or(TORONTO);
            let home_open = open(home, day.weekday, hour, day.holiday);
            let queue_centre = if home_open {
                home
            } else {
                self.overflow_of(home, &day, hour).unwrap_or(TORONTO)
            };
            let (p_abandon, p_callback, mean_wait) = if crisis {
                (0.06 * load.min(2.0), 0.0, 10.0 * load.min(2.0))
            } else {
                (
                    (0.10 * load).min(0.35),
                    (0.03 * load).min(0.10),
                    45.0 * load,
                )
            };
            let u = self.rng.f64();
            let outcome = if u < p_abandon {
                Outcome::Abandoned
            } else if u < p_abandon + p_callback {
                Outcome::Callback
            } else {
                Outcome::Answered
            };
            // Overflow to another centre's navigators after the overflow wait.
            let mut answering = queue_centre;
            let mut overflow_wait = 0;
            if !crisis {
                let p = if home_open { 0.03 } else { 0.09 } * if incident_day { 2.0 } else { 1.0 };
                if self.rng.f64() < p
                    && let Some(to) = self.overflow_of(queue_centre, &day, hour)
                {
                    overflowed = true;
                    overflow_wait = secs(90.0);
                    if self.rng.bool() {
                        answering = to;
                    }
                }
            }
            if crisis {
                route = Some("crisis".to_string());
            } else {
                route = Some(format!("queue:{}", CENTRES[queue_centre].id));
                centre = Some(CENTRES[queue_centre].id);
            }
            match outcome {
                Outcome::Abandoned => {
                    let waited = if overflow_wait == 0 && self.rng.f64() < 0.4 {
                        between(&mut self.rng, 1_000, 10_000)
                    } else {
                        secs(10.0 + exponential(&mut self.rng, mean_wait * 1.5 + 30.0))
                            .min(secs(1_800.0))
                            + overflow_wait
                    };
                    ended = q + waited;
                    disposition = "abandoned_in_queue";
                }
                Outcome::Answered => {
                    let wait = overflow_wait
                        + secs(1.0 + exponential(&mut self.rng, mean_wait)).min(secs(1_800.0));
                    let ans = q + wait;
                    let ring = between(&mut self.rng, 2_000, 12_000).min(wait);
                    offered = Some(ans - ring);
                    answered = Some(ans);
                    let talk = if crisis {
                        lognormal(&mut self.rng, 900.0, 0.4).clamp(120.0, 3_600.0)
                    } else {
                        lognormal(&mut self.rng, 420.0, 0.45).clamp(60.0, 3_600.0)
                    };
                    ended = ans + secs(talk);
                    navigator = Some(if crisis {
                        let (c, k) = self.crisis_navigator(&day, hour);
                        // The crisis queue's call is the answering centre's.
                        centre = Some(CENTRES[c].id);
                        (c, k)
                    } else {
                        (answering, self.navigator_of(answering))
                    });
                    disposition = if self.rng.f64() < 0.02 {
                        "transferred"
                    } else {
                        "answered"
                    };
                }
                Outcome::Callback => {
                    // Asked while waiting, called back when their turn came.
                    callback = true;
                    let asked = q + between(&mut self.rng, 30_000, 150_000);
                    let turn = asked
                        + secs(60.0 + exponential(&mut self.rng, mean_wait * 4.0)).min(secs(900.0))
                        + overflow_wait;
                    offered = Some(turn);
                    let ans = turn + between(&mut self.rng, 2_000, 10_000);
                    answered = Some(ans);
                    navigator = Some((answering, self.navigator_of(answering)));
                    if self.rng.f64() < 0.8 {
                        callback_outcome = Some("made");
                        let talk = lognormal(&mut self.rng, 420.0, 0.45).clamp(60.0, 3_600.0);
                        ended = ans + between(&mut self.rng, 8_000, 25_000) + secs(talk);
                    } else {
                        callback_outcome = Some("failed");
                        ended = ans + between(&mut self.rng, 30_000, 60_000);
                    }
                    disposition = "callback";
                }
            }
        }

        // The navigator's log, for most calls that reached a navigator.
        let logged = match navigator {
            Some((c, k)) if callback_outcome != Some("failed") && answered.is_some() => {
                self.rng.f64() < self.navigators[c][k].logs
            }
            _ => false,
        };
        let save_offset = if logged {
            let u = self.rng.f64();
            let talk = ended - answered.unwrap_or(ended);
            Some(if u < 0.15 {
                // Saved before the caller hung up.
                -between(&mut self.rng, 5_000, (talk / 2).min(120_000))
            } else if u < 0.95 {
                secs(lognormal(&mut self.rng, 50.0, 0.7).clamp(2.0, 600.0))
            } else {
                between(&mut self.rng, 180_000, 900_000)
            })
        } else {
            None
        };

        // Everything inside the period: a call running past its end is
        // moved back, whole.
        let last = ended.max(ended + save_offset.unwrap_or(0));
        let shift = (last - (self.cal.end_ms - 1)).max(0);
        let at = |t: i64| t - shift;
        let ended = at(ended);

        self.counts.calls += 1;
        if incident {
            self.counts.incident_calls += 1;
        }
        let navigator_id = navigator.map(|(c, k)| self.navigators[c][k].id.clone());
        // When the log is saved: never before the call was answered.
        let saved_ms = match (save_offset, &navigator_id) {
            (Some(offset), Some(_)) => {
                Some((ended + offset).max(answered.map(at).unwrap_or(ended)))
            }
            _ => None,
        };
        self.tables.records.push([
            V::T(call_id.clone()),
            V::T(caller),
            V::S("211"),
            V::I(at(arrived)),
            V::I(at(ivr_answered)),
            opt_i(queued.map(at)),
            opt_i(offered.map(at)),
            opt_i(answered.map(at)),
            V::I(ended),
            opt_s(language),
            opt_s(region.map(|r| REGIONS[r].id)),
            opt_s(region.and(source.as_str())),
            opt_s(centre),
            opt_s(topic),
            V::I(i64::from(crisis)),
            route.map_or(V::NullT, V::T),
            V::T(ivr_path),
            navigator_id.clone().map_or(V::NullT, V::T),
            V::I(i64::from(callback)),
            V::S(disposition),
            V::S("ended"),
            V::I(i64::from(overflowed)),
            opt_s(callback_outcome),
            opt_s(incident.then_some(INCIDENT_TAG)),
            opt_i(saved_ms),
        ]);

        if let (Some(saved), Some(nav)) = (saved_ms, navigator_id) {
            let log = LogCall {
                arrived_ms: at(arrived),
                centre,
                tagged: incident,
                call_id,
                navigator: nav,
                crisis,
                category,
                region,
                french,
                incident: incident_day,
                date: day.date,
                saved_ms: saved,
            };
            self.log(log);
        }
    }

    /// Writes a navigator's log of a call, its needs, referrals and follow-up.
    fn log(&mut self, l: LogCall) {
        let id = self.next_log;
        self.next_log += 1;
        self.counts.logs += 1;
        let rng = &mut self.rng;

        let inquirer = if l.crisis && rng.f64() < 0.8 {
            Inquirer::SelfInquirer
        } else {
            pick_coded(rng, INQUIRERS)
        };
        let age_band = pick_coded(rng, AGE_BANDS);
        let gender = pick_coded(rng, GENDERS);
        let u = rng.f64();
        let area: &'static str = if u < 0.12 {
            "not_asked"
        } else if u < 0.14 {
            "declined"
        } else {
            match l.region {
                Some(r) => REGIONS[r].areas[rng.usize(..REGIONS[r].areas.len())],
                None if rng.f64() < 0.6 => "not_asked",
                None => {
                    let r = &REGIONS[pick(rng, REGIONS.iter().map(|r| r.share))];
                    r.areas[rng.usize(..r.areas.len())]
                }
            }
        };
        let crisis_details = l.crisis.then(|| {
            let kind = pick_coded(rng, CRISIS_TYPES);
            let risk = pick_coded(rng, RISKS);
            let p_emergency = match risk {
                RiskLevel::Imminent => 0.8,
                RiskLevel::High => 0.25,
                _ => 0.03,
            };
            let emergency_services = rng.f64() < p_emergency;
            let details = CrisisDetails {
                kind,
                risk,
                action: if emergency_services {
                    "emergency services called".into()
                } else {
                    CRISIS_ACTIONS[rng.usize(..CRISIS_ACTIONS.len())].into()
                },
                emergency_services,
                emergency_confirmed: emergency_services && rng.f64() < 0.7,
            };
            serde_json::to_string(&details).unwrap_or_else(|_| "{}".into())
        });
        let follow_up_due = if rng.f64() < if l.crisis { 0.30 } else { 0.075 } {
            l.date
                .checked_add(jiff::Span::new().days(between(rng, 2, 11)))
                .ok()
        } else {
            None
        };
        let reason = if l.crisis {
            FOLLOW_UP_REASONS[2]
        } else {
            FOLLOW_UP_REASONS[rng.usize(..2)]
        };
        self.tables.logs.push([
            V::I(id),
            V::T(l.call_id.clone()),
            V::T(l.navigator.clone()),
            V::T(l.call_id),
            V::I(l.saved_ms),
            V::S("{}"),
            V::S(""),
            follow_up_due.map_or(V::NullT, |d| V::T(d.to_string())),
            opt_s(follow_up_due.map(|_| reason)),
            V::S(inquirer.as_str()),
            V::S(area),
            V::S(age_band.as_str()),
            V::S(gender.as_str()),
            crisis_details.map_or(V::NullT, V::T),
            opt_i(follow_up_due.map(|_| 1)),
            opt_s(follow_up_due.map(|_| "phone")),
            V::I(l.arrived_ms),
            opt_s(l.region.map(|r| REGIONS[r].id)),
            opt_s(l.centre),
            opt_s(l.tagged.then_some(INCIDENT_TAG)),
        ]);

        // Needs: the call's main one first.
        let count = 1 + pick(&mut self.rng, [0.55, 0.30, 0.15].into_iter());
        let mut taken: Vec<usize> = Vec::with_capacity(count);
        let mut referral = 0;
        for position in 0..count {
            let category = match position {
                0 if l.crisis && !self.by_category[MENTAL_HEALTH].is_empty() => MENTAL_HEALTH,
                0 => l.category,
                _ => self.category(l.incident, l.date.month()),
            };
            let code = self.code(category, &taken);
            taken.push(code);
            let rng = &mut self.rng;
            let p_unmet =
                (CATEGORIES[category].unmet * if l.incident { 1.8 } else { 1.0 }).min(0.6);
            let unmet = rng.f64() < p_unmet;
            let reason = unmet.then(|| {
                if l.french && rng.f64() < 0.15 {
                    UnmetReason::Language
                } else {
                    pick_coded(rng, UNMET_REASONS)
                }
            });
            self.tables.needs.push([
                V::I(id),
                V::I(position as i64),
                V::T(self.codes[code].clone()),
                V::I(i64::from(!unmet)),
                opt_s(reason.map(UnmetReason::as_str)),
                V::I(l.arrived_ms),
                opt_s(l.region.map(|r| REGIONS[r].id)),
                opt_s(l.centre),
                opt_s(l.tagged.then_some(INCIDENT_TAG)),
            ]);
            self.counts.needs += 1;
            if !unmet {
                let referrals = pick(rng, [0.25, 0.50, 0.25].into_iter());
                for _ in 0..referrals {
                    let name = format!(
                        "Synthetic {} {}",
                        CATEGORIES[category].service,
                        rng.u32(1..=40)
                    );
                    self.tables.referrals.push([
                        V::I(id),
                        V::I(referral),
                        V::T(name),
                        V::T(self.codes[code].clone()),
                    ]);
                    referral += 1;
                    self.counts.referrals += 1;
                }
            }
        }

        // The follow-up's attempts so far. Every draw is made whatever the
        // day, so that the rest of the data does not depend on it.
        let Some(due) = follow_up_due else {
            return;
        };
        self.counts.follow_ups += 1;
        let rng = &mut self.rng;
        let none = rng.f64() < 0.15;
        let attempts = if rng.f64() < 0.6 { 1 } else { 2 };
        let mut drawn = Vec::with_capacity(attempts);
        let mut day_offset = 0;
        for attempt in 1..=attempts {
            let time = between(rng, 9 * HOUR_MS, 17 * HOUR_MS);
            let outcome = if attempt == attempts {
                pick(rng, [55.0, 20.0, 15.0, 10.0].into_iter())
            } else {
                1 + pick(rng, [60.0, 40.0].into_iter())
            };
            drawn.push((day_offset * DAY_MS + time, outcome));
            day_offset += between(rng, 1, 3);
        }
        let Some(due_ms) = self.cal.start_ms(due) else {
            return;
        };
        if none {
            return;
        }
        for (offset, outcome) in drawn {
            let at = due_ms + offset;
            if at >= self.cutoff_ms {
                break;
            }
            let outcome = [
                FollowUpOutcome::Reached,
                FollowUpOutcome::NoAnswer,
                FollowUpOutcome::LeftMessage,
                FollowUpOutcome::Closed,
            ][outcome];
            self.tables.outcomes.push([
                V::I(id),
                V::I(at),
                V::T(l.navigator.clone()),
                V::S(outcome.as_str()),
            ]);
        }
    }
}

/// What a log is generated from.
struct LogCall {
    /// The call's arrival, centre and incident tag, copied onto the log and
    /// its needs for the reports.
    arrived_ms: i64,
    centre: Option<&'static str>,
    tagged: bool,
    call_id: String,
    navigator: String,
    crisis: bool,
    category: usize,
    region: Option<usize>,
    french: bool,
    incident: bool,
    date: Date,
    saved_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A directory for one test's store, removed after it.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let p = std::env::temp_dir().join(format!(
                "frontdoor-generate-{tag}-{}-{n}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).expect("create temp dir");
            TempDir(p)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn options(calls: u64, days: u32, seed: u64) -> GenerateOptions {
        GenerateOptions {
            calls,
            // Takes in the change to summer time (8 March 2026).
            from: jiff::civil::date(2026, 3, 1),
            days,
            seed,
            timezone: TimeZone::get("America/Toronto").expect("time zone"),
            append: false,
        }
    }

    async fn count(store: &Store, sql: &'static str) -> i64 {
        sqlx::query(sql)
            .fetch_one(store.pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .try_get(0)
            .unwrap()
    }

    fn ms(date: Date) -> i64 {
        date.to_zoned(TimeZone::get("America/Toronto").unwrap())
            .unwrap()
            .timestamp()
            .as_millisecond()
    }

    #[tokio::test]
    async fn a_synthetic_month_looks_like_a_211_line() {
        let dir = TempDir::new("month");
        let store = crate::store::sqlite_in(&dir.0).await.unwrap();
        let opts = options(3_000, 30, 7);
        let g = generate(&store, &opts).await.unwrap();
        assert_eq!(g.calls, 3_000);
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM call_records").await,
            3_000
        );
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM call_logs").await,
            i64::try_from(g.logs).unwrap()
        );
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM call_log_needs").await,
            i64::try_from(g.needs).unwrap()
        );

        // Every time inside the period.
        let (start, end) = (ms(opts.from), ms(jiff::civil::date(2026, 3, 31)));
        let outside: i64 = sqlx::query(
            "SELECT COUNT(*) FROM call_records \
             WHERE arrived_ms < $1 OR arrived_ms >= $2 OR ended_ms >= $2",
        )
        .bind(start)
        .bind(end)
        .fetch_one(store.pool())
        .await
        .unwrap()
        .try_get(0)
        .unwrap();
        assert_eq!(outside, 0);
        let late: i64 = sqlx::query("SELECT COUNT(*) FROM call_logs WHERE saved_ms >= $1")
            .bind(end)
            .fetch_one(store.pool())
            .await
            .unwrap()
            .try_get(0)
            .unwrap();
        assert_eq!(late, 0);

        // Every call's times in order.
        let unordered = count(
            &store,
            "SELECT COUNT(*) FROM call_records WHERE ivr_answered_ms < arrived_ms \
             OR queued_ms < ivr_answered_ms OR offered_ms < queued_ms \
             OR answered_ms < offered_ms OR ended_ms < answered_ms \
             OR ended_ms < COALESCE(queued_ms, ivr_answered_ms) \
             OR (answered_ms IS NOT NULL AND (offered_ms IS NULL OR navigator IS NULL))",
        )
        .await;
        assert_eq!(unordered, 0);
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM call_logs l JOIN call_records r ON r.call_id = l.call_id \
                 WHERE r.answered_ms IS NULL OR l.saved_ms < r.answered_ms OR l.navigator <> r.navigator"
            )
            .await,
            0
        );

        // About 85 % answered, about 5 % lost in the IVR, about 2 % crisis.
        let answered = count(
            &store,
            "SELECT COUNT(*) FROM call_records WHERE answered_ms IS NOT NULL",
        )
        .await;
        assert!((2_100..=2_760).contains(&answered), "answered {answered}");
        let in_ivr = count(
            &store,
            "SELECT COUNT(*) FROM call_records WHERE disposition = 'abandoned_in_ivr' AND queued_ms IS NULL",
        )
        .await;
        assert!(
            (60..=300).contains(&in_ivr),
            "abandoned in the IVR {in_ivr}"
        );
        let crisis = count(
            &store,
            "SELECT COUNT(*) FROM call_records WHERE crisis = 1 AND route = 'crisis'",
        )
        .await;
        assert!((25..=120).contains(&crisis), "crisis {crisis}");
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM call_records WHERE crisis = 0 AND queued_ms IS NOT NULL \
                 AND route <> 'queue:' || centre"
            )
            .await,
            0
        );

        // The incident: east only, and in numbers.
        let incident = count(
            &store,
            "SELECT COUNT(*) FROM call_records WHERE incident = '2026-ottawa-flood'",
        )
        .await;
        assert_eq!(incident, i64::try_from(g.incident_calls).unwrap());
        assert!(incident > 100, "incident calls {incident}");
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM call_records WHERE incident IS NOT NULL \
                 AND (region IS NULL OR region <> 'east')"
            )
            .await,
            0
        );

        // Logs for 85–90 % of the answered calls.
        let logged = count(
            &store,
            "SELECT COUNT(DISTINCT l.call_id) FROM call_logs l \
             JOIN call_records r ON r.call_id = l.call_id WHERE r.answered_ms IS NOT NULL",
        )
        .await;
        let tracked = logged as f64 / answered as f64;
        assert!((0.82..=0.93).contains(&tracked), "tracked {tracked}");
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) - COUNT(DISTINCT id) FROM call_logs"
            )
            .await,
            0
        );

        // Needs: current taxonomy codes only, unmet ones with a reason.
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM call_log_needs n LEFT JOIN taxonomy t ON t.code = n.code \
                 WHERE t.code IS NULL OR t.retired <> 0"
            )
            .await,
            0
        );
        assert_eq!(
            count(
                &store,
                "SELECT COUNT(*) FROM call_log_needs \
                 WHERE (met = 0) <> (unmet_reason IS NOT NULL)"
            )
            .await,
            0
        );
        let unmet = count(&store, "SELECT COUNT(*) FROM call_log_needs WHERE met = 0").await;
        let share = unmet as f64 / g.needs as f64;
        assert!((0.07..=0.20).contains(&share), "unmet {share}");
        // Crisis logs carry their details, in the shape the desk saves.
        let details: Vec<String> = sqlx::query(
            "SELECT l.crisis_details FROM call_logs l JOIN call_records r ON r.call_id = l.call_id \
             WHERE r.crisis = 1",
        )
        .fetch_all(store.pool())
        .await
        .unwrap()
        .iter()
        .map(|r| r.try_get(0).unwrap())
        .collect();
        assert!(!details.is_empty());
        for d in details {
            serde_json::from_str::<CrisisDetails>(&d).expect("crisis details");
        }

        // A second run on the same store is refused without --append.
        let again = generate(&store, &opts).await;
        assert!(
            matches!(&again, Err(Error::Invalid(m)) if m.contains("--append")),
            "{again:?}"
        );
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM call_records").await,
            3_000
        );
        let more = GenerateOptions {
            calls: 10,
            append: true,
            ..opts
        };
        let g2 = generate(&store, &more).await.unwrap();
        assert_eq!(g2.calls, 10);
        assert_eq!(
            count(&store, "SELECT COUNT(*) FROM call_records").await,
            3_010
        );
        store.close().await;
    }

    #[tokio::test]
    async fn the_same_seed_gives_the_same_data() {
        let (a, b) = (TempDir::new("seed-a"), TempDir::new("seed-b"));
        let one = crate::store::sqlite_in(&a.0).await.unwrap();
        let two = crate::store::sqlite_in(&b.0).await.unwrap();
        let opts = options(600, 10, 42);
        let first = generate(&one, &opts).await.unwrap();
        let second = generate(&two, &opts).await.unwrap();
        assert_eq!(first, second);
        let sql = "SELECT COUNT(*) FROM call_log_needs";
        assert_eq!(count(&one, sql).await, count(&two, sql).await);
        let sql = "SELECT SUM(arrived_ms % 100000) FROM call_records";
        assert_eq!(count(&one, sql).await, count(&two, sql).await);
        one.close().await;
        two.close().await;
    }

    #[tokio::test]
    async fn nothing_to_generate_is_refused() {
        let dir = TempDir::new("nothing");
        let store = crate::store::sqlite_in(&dir.0).await.unwrap();
        for opts in [options(0, 30, 1), options(10, 0, 1)] {
            assert!(matches!(
                generate(&store, &opts).await,
                Err(Error::Invalid(_))
            ));
        }
        // A period of one day, and more calls than it would usually have.
        let g = generate(&store, &options(500, 1, 1)).await.unwrap();
        assert_eq!(g.calls, 500);
        store.close().await;
    }
}
