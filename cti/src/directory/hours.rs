//! Opening hours: the HSDS schedules of a service at a location, compiled
//! at import into rules the search evaluates for "open now" or "open at".
//!
//! Which schedules apply: those of the service at that location, else the
//! service's, else the location's (HSDS attaches schedules to any of the
//! three). A rule is a `WEEKLY` schedule (`byday` days, `opens_at` to
//! `closes_at`) or a `MONTHLY` one (`bymonthday` days of the month, or
//! `byday` with an ordinal such as `1MO` or `-1FR`), bounded by
//! `valid_from`/`valid_to` (or `dtstart`/`until`). A range whose closing
//! time is not after its opening time runs past midnight. On an Ontario
//! statutory holiday (the flows' calendar) a service is taken as closed
//! unless it is open around the clock every day.

use jiff::civil::{Date, DateTime, Weekday};
use serde::{Deserialize, Serialize};

use super::model::Schedule;

/// Minutes in a day: a range ending at midnight ends at 1440.
const DAY: u16 = 24 * 60;

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// One opening rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Weekly: the days it applies to, bit 0 Monday .. bit 6 Sunday.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub days: u8,
    /// Monthly: days of the month (negative from the end: -1 is the last).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub monthdays: Vec<i8>,
    /// Monthly: (ordinal, weekday 0 = Monday): `1MO` is (1, 0), `-1FR` (-1, 4).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nth: Vec<(i8, u8)>,
    /// Minutes from midnight.
    pub opens: u16,
    pub closes: u16,
    /// First and last day it holds, as `yyyymmdd` numbers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u32>,
}

fn is_zero(v: &u8) -> bool {
    *v == 0
}

/// A row's opening hours.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hours {
    pub rules: Vec<Rule>,
    /// A schedule's own words ("Open the first and third Monday"), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A weekly opening, for people: `{"days": ["mon",…], "opens": "09:00", "closes": "17:00"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Weekly {
    pub days: Vec<&'static str>,
    pub opens: String,
    pub closes: String,
}

fn minutes(hhmm: &str) -> Option<u16> {
    let (h, m) = hhmm.split_once(':')?;
    let (h, m): (u16, u16) = (h.parse().ok()?, m.get(..2)?.parse().ok()?);
    (h <= 24 && m < 60 && h * 60 + m <= DAY).then_some(h * 60 + m)
}

fn weekday_index(code: &str) -> Option<u8> {
    ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
        .iter()
        .position(|d| *d == code)
        .map(|i| i as u8)
}

fn date(s: Option<&String>) -> Option<u32> {
    s.and_then(|s| s.get(..10)?.parse::<Date>().ok())
        .map(number)
}

/// `2026-12-01` as `20261201`.
fn number(d: Date) -> u32 {
    d.year() as u32 * 10_000 + d.month() as u32 * 100 + d.day() as u32
}

impl Rule {
    /// The rule of one schedule; `None` when it gives no opening times or
    /// no days (checked at import, so only for schedules that say nothing).
    pub fn from_schedule(s: &Schedule) -> Option<Rule> {
        let opens = minutes(s.opens_at.as_deref()?)?;
        let closes = minutes(s.closes_at.as_deref()?)?;
        let monthly = s.freq.as_deref() == Some("MONTHLY");
        let mut rule = Rule {
            days: 0,
            monthdays: Vec::new(),
            nth: Vec::new(),
            opens,
            closes,
            from: date(s.valid_from.as_ref()).or(date(s.dtstart.as_ref())),
            to: date(s.valid_to.as_ref()).or(date(s.until.as_ref())),
        };
        for item in s.byday.iter().flat_map(|d| d.split(',')).map(str::trim) {
            let split = item.len().saturating_sub(2);
            let (ordinal, day) = item.split_at(split);
            let Some(day) = weekday_index(day) else {
                continue;
            };
            if monthly && !ordinal.is_empty() {
                if let Ok(n) = ordinal.trim_start_matches('+').parse::<i8>() {
                    rule.nth.push((n, day));
                }
            } else {
                rule.days |= 1 << day;
            }
        }
        if monthly {
            rule.monthdays = s
                .bymonthday
                .iter()
                .flat_map(|d| d.split(','))
                .filter_map(|d| d.trim().parse().ok())
                .collect();
        } else if rule.days == 0 && s.byday.is_none() {
            // WEEKLY with no byday: every day.
            rule.days = 0x7f;
        }
        (rule.days != 0 || !rule.monthdays.is_empty() || !rule.nth.is_empty()).then_some(rule)
    }

    /// Whether the rule's days include `d` (ignoring the time).
    fn on(&self, d: Date) -> bool {
        let n = number(d);
        if self.from.is_some_and(|f| n < f) || self.to.is_some_and(|t| n > t) {
            return false;
        }
        let wd = d.weekday().to_monday_zero_offset() as u8;
        if self.days & (1 << wd) != 0 {
            return true;
        }
        let last = d.last_of_month().day();
        if self
            .monthdays
            .iter()
            .any(|&m| m == d.day() || (m < 0 && last + 1 + m == d.day()))
        {
            return true;
        }
        self.nth.iter().any(|&(n, w)| {
            w == wd
                && if n > 0 {
                    (d.day() - 1) / 7 + 1 == n
                } else {
                    (last - d.day()) / 7 + 1 == -n
                }
        })
    }

    fn overnight(&self) -> bool {
        self.closes <= self.opens
    }

    fn open_at(&self, at: DateTime) -> bool {
        let t = at.hour() as u16 * 60 + at.minute() as u16;
        let d = at.date();
        if self.overnight() {
            (self.on(d) && t >= self.opens)
                || (d.yesterday().is_ok_and(|y| self.on(y)) && t < self.closes)
        } else {
            self.on(d) && t >= self.opens && t < self.closes
        }
    }
}

impl Hours {
    /// The hours of a service at a location from the schedules that apply.
    pub fn compile<'a>(schedules: impl IntoIterator<Item = &'a Schedule>) -> Hours {
        let mut hours = Hours::default();
        for s in schedules {
            if let Some(rule) = Rule::from_schedule(s) {
                hours.rules.push(rule);
            }
            if hours.note.is_none() {
                hours.note = s.description.clone().filter(|d| !d.trim().is_empty());
            }
        }
        hours
    }

    /// Open around the clock every day (then open on holidays too).
    pub fn always(&self) -> bool {
        self.rules.iter().any(|r| {
            r.days == 0x7f && r.opens == 0 && r.closes == DAY && r.from.is_none() && r.to.is_none()
        })
    }

    /// Open at local time `at`; `None` when there are no hours to tell.
    /// `holiday` says whether `at`'s date is a statutory holiday.
    pub fn open_at(&self, at: DateTime, holiday: bool) -> Option<bool> {
        if self.rules.is_empty() {
            return None;
        }
        if self.always() {
            return Some(true);
        }
        if holiday {
            return Some(false);
        }
        Some(self.rules.iter().any(|r| r.open_at(at)))
    }

    /// The weekly openings, grouped by identical times, for people.
    pub fn weekly(&self) -> Vec<Weekly> {
        let mut out: Vec<Weekly> = Vec::new();
        for r in self.rules.iter().filter(|r| r.days != 0) {
            let hhmm = |m: u16| format!("{:02}:{:02}", m / 60, m % 60);
            out.push(Weekly {
                days: (0..7)
                    .filter(|i| r.days & (1 << i) != 0)
                    .map(|i| DAY_NAMES[i as usize])
                    .collect(),
                opens: hhmm(r.opens),
                closes: hhmm(r.closes),
            });
        }
        out
    }
}

/// Monday first, as the rules count days.
pub fn weekday_name(d: Weekday) -> &'static str {
    DAY_NAMES[d.to_monday_zero_offset() as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use jiff::civil::date;

    fn sched(freq: &str, byday: &str, monthday: &str, opens: &str, closes: &str) -> Schedule {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        Schedule {
            freq: some(freq),
            byday: some(byday),
            bymonthday: some(monthday),
            opens_at: some(opens),
            closes_at: some(closes),
            ..Schedule::default()
        }
    }

    // 2026-12-01 is a Tuesday; 2026-12-25 a Friday (Christmas).
    #[test]
    fn weekday_hours_open_inside_and_closed_outside() {
        let h = Hours::compile([&sched("WEEKLY", "MO,TU,WE,TH,FR", "", "09:00", "17:00")]);
        let at = |d: Date, h: i8, m: i8| d.at(h, m, 0, 0);
        assert_eq!(h.open_at(at(date(2026, 12, 1), 9, 0), false), Some(true));
        assert_eq!(h.open_at(at(date(2026, 12, 1), 16, 59), false), Some(true));
        assert_eq!(h.open_at(at(date(2026, 12, 1), 17, 0), false), Some(false));
        assert_eq!(
            h.open_at(at(date(2026, 12, 5), 10, 0), false),
            Some(false),
            "Saturday"
        );
        assert_eq!(
            h.open_at(at(date(2026, 12, 25), 10, 0), true),
            Some(false),
            "holiday"
        );
        assert_eq!(h.weekly()[0].days, vec!["mon", "tue", "wed", "thu", "fri"]);
    }

    #[test]
    fn overnight_and_around_the_clock() {
        let night = Hours::compile([&sched("WEEKLY", "FR", "", "22:00", "06:00")]);
        assert_eq!(
            night.open_at(date(2026, 12, 4).at(23, 0, 0, 0), false),
            Some(true)
        );
        assert_eq!(
            night.open_at(date(2026, 12, 5).at(5, 59, 0, 0), false),
            Some(true)
        );
        assert_eq!(
            night.open_at(date(2026, 12, 5).at(6, 0, 0, 0), false),
            Some(false)
        );
        let always = Hours::compile([&sched(
            "WEEKLY",
            "MO,TU,WE,TH,FR,SA,SU",
            "",
            "00:00",
            "24:00",
        )]);
        assert_eq!(
            always.open_at(date(2026, 12, 25).at(3, 0, 0, 0), true),
            Some(true)
        );
    }

    #[test]
    fn monthly_by_day_of_month_and_by_ordinal_weekday() {
        let h = Hours::compile([&sched("MONTHLY", "", "1,15,-1", "10:00", "14:00")]);
        assert_eq!(
            h.open_at(date(2026, 12, 15).at(11, 0, 0, 0), false),
            Some(true)
        );
        assert_eq!(
            h.open_at(date(2026, 12, 31).at(11, 0, 0, 0), false),
            Some(true)
        );
        assert_eq!(
            h.open_at(date(2026, 12, 16).at(11, 0, 0, 0), false),
            Some(false)
        );
        let h = Hours::compile([&sched("MONTHLY", "1MO,-1FR", "", "10:00", "14:00")]);
        assert_eq!(
            h.open_at(date(2026, 12, 7).at(11, 0, 0, 0), false),
            Some(true)
        );
        assert_eq!(
            h.open_at(date(2026, 12, 14).at(11, 0, 0, 0), false),
            Some(false)
        );
        assert_eq!(
            h.open_at(date(2026, 12, 25).at(11, 0, 0, 0), false),
            Some(true)
        );
        assert!(h.weekly().is_empty());
    }

    #[test]
    fn validity_bounds_and_no_schedule() {
        let mut s = sched("WEEKLY", "TU", "", "09:00", "17:00");
        s.valid_from = Some("2027-01-01".into());
        let h = Hours::compile([&s]);
        assert_eq!(
            h.open_at(date(2026, 12, 1).at(10, 0, 0, 0), false),
            Some(false)
        );
        assert_eq!(
            h.open_at(date(2027, 1, 5).at(10, 0, 0, 0), false),
            Some(true)
        );
        assert_eq!(
            Hours::default().open_at(date(2026, 12, 1).at(10, 0, 0, 0), false),
            None
        );
    }
}
