//! Opening hours, Ontario statutory holidays and local time in America/Toronto.
//!
//! Every schedule is kept in local wall-clock time in [`ZONE`]. An instant is
//! converted to local time first and then compared with the hours, so the
//! daylight-saving changes need no special care from whoever writes the
//! hours: "08:00-20:00" means eight to eight on the clocks in Ontario, summer
//! and winter.
//!
//! The time zone rules come from the tz database bundled into the binary, so
//! a host without `/usr/share/zoneinfo` still gets DST right.
//!
//! This module is sans-IO: it never reads the clock. Callers pass `now`.
//!
//! # Hours
//!
//! [`Hours`] is built from the entries of an `hours:` map in YAML:
//!
//! ```yaml
//! hours:
//!   mon-fri: 08:00-20:00
//!   sat,sun: 10:00-12:00, 13:00-16:00
//!   holidays: closed
//! ```
//!
//! When several entries name the same weekday, the more specific one wins
//! whatever their order: a single day (`sun`) beats a range or list
//! (`sat,sun`, `mon-fri`), which beats `daily`. Between entries equally
//! specific, the later one wins. A `holidays` entry replaces the weekday's
//! hours on Ontario statutory holidays (see [`ontario_holiday`]); without
//! one, holidays keep the weekday's hours. A closed date closes the whole
//! day, holiday or not.

use std::sync::OnceLock;

use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, Zoned};

/// The time zone of every schedule.
pub const ZONE: &str = "America/Toronto";

/// Eastern time by its POSIX rule, used only if the bundled tz database
/// somehow lacks [`ZONE`]: right for every date since 2007.
const ZONE_FALLBACK_POSIX: &str = "EST5EDT,M3.2.0,M11.1.0";

/// Minutes in a day: the end of a range that runs to midnight ("24:00").
const DAY_MINUTES: u16 = 24 * 60;

/// How far [`Hours::next_open`] looks ahead.
const LOOKAHEAD_DAYS: i16 = 14;

/// The local time zone of every schedule (bundled tzdb, so DST is right
/// without system files).
pub fn zone() -> TimeZone {
    static TZ: OnceLock<TimeZone> = OnceLock::new();
    TZ.get_or_init(|| {
        jiff::tz::db()
            .get(ZONE)
            .or_else(|_| TimeZone::posix(ZONE_FALLBACK_POSIX))
            .unwrap_or(TimeZone::UTC)
    })
    .clone()
}

/// Parse a time given by ops/tests: "2026-11-22T03:00" or
/// "2026-11-22T03:00:00" (local Toronto time), or RFC 3339 with offset
/// ("2026-11-22T03:00:00-05:00"), or "2026-11-22" (local midnight).
///
/// A local time that happens twice (the hour repeated when clocks fall
/// back) is taken as the first of the two; a local time that does not exist
/// (the hour skipped when clocks spring forward) is moved forward by the
/// length of the gap (02:30 becomes 03:30 EDT).
///
/// Err = a one-line message.
pub fn parse_local(s: &str) -> Result<Zoned, String> {
    let text = s.trim();
    let usage = "use 2026-11-22T03:00 (Toronto time), 2026-11-22T03:00:00-05:00 or 2026-11-22";
    if text.is_empty() {
        return Err(format!("empty time: {usage}"));
    }
    let tz = zone();
    if text.contains('[') {
        // With a time zone annotation: that zone's time, shown in Toronto time.
        return match text.parse::<Zoned>() {
            Ok(z) => Ok(z.with_time_zone(tz)),
            Err(e) => Err(format!("bad time `{text}`: {}; {usage}", one_line(&e))),
        };
    }
    if has_offset(text) {
        // RFC 3339 with an offset (or Z).
        return match text.parse::<Timestamp>() {
            Ok(ts) => Ok(ts.to_zoned(tz)),
            Err(e) => Err(format!("bad time `{text}`: {}; {usage}", one_line(&e))),
        };
    }
    if text.contains('T') || text.contains('t') || text.contains(' ') {
        return match text.parse::<DateTime>() {
            Ok(dt) => dt
                .to_zoned(tz)
                .map_err(|e| format!("bad time `{text}`: {}", one_line(&e))),
            Err(e) => Err(format!("bad time `{text}`: {}; {usage}", one_line(&e))),
        };
    }
    match text.parse::<Date>() {
        Ok(date) => date
            .to_datetime(jiff::civil::Time::midnight())
            .to_zoned(tz)
            .map_err(|e| format!("bad date `{text}`: {}", one_line(&e))),
        Err(e) => Err(format!("bad time `{text}`: {}; {usage}", one_line(&e))),
    }
}

/// Does this time text carry a UTC offset ("Z", "+hh:mm", "-hh:mm") after
/// its time of day?
fn has_offset(text: &str) -> bool {
    let Some(t_pos) = text.find(['T', 't', ' ']) else {
        return false;
    };
    let time_part = &text[t_pos + 1..];
    time_part.contains(['Z', 'z', '+', '-'])
}

/// An error's text on one line.
fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string().replace(['\n', '\r'], " ")
}

/// Ontario statutory holiday on this date, with its English name.
///
/// New Year's Day, Family Day (3rd Mon Feb), Good Friday (Easter computus),
/// Victoria Day (Monday before May 25), Canada Day (Jul 1; when it is a
/// Sunday, Jul 2 is the day off instead), Labour Day (1st Mon Sep),
/// Thanksgiving (2nd Mon Oct), Christmas Day, Boxing Day. When Jan 1,
/// Dec 25 or Dec 26 fall on a weekend, the next free weekday is a holiday too
/// ("Christmas Day (observed)" etc.: Dec 25 Sat → Mon Dec 27, Dec 26 Sun →
/// Tue Dec 28, Dec 25 Sun → Tue Dec 27, Dec 26 Sat → Mon Dec 28).
pub fn ontario_holiday(date: Date) -> Option<&'static str> {
    let year = date.year();
    let (month, day) = (date.month(), date.day());
    let weekday = date.weekday();
    let on = |m: i8, d: i8| month == m && day == d;
    let nth = |n: i8, m: i8, wd: Weekday| {
        Date::new(year, m, 1)
            .and_then(|first| first.nth_weekday_of_month(n, wd))
            .is_ok_and(|d| d == date)
    };

    if on(1, 1) {
        return Some("New Year's Day");
    }
    if month == 1 && weekday == Weekday::Monday && (day == 2 || day == 3) {
        // Jan 1 on a Sunday (Mon Jan 2) or a Saturday (Mon Jan 3).
        return Some("New Year's Day (observed)");
    }
    if nth(3, 2, Weekday::Monday) {
        return Some("Family Day");
    }
    if easter_sunday(year)
        .and_then(|easter| easter.checked_sub(jiff::Span::new().days(2)).ok())
        .is_some_and(|good_friday| good_friday == date)
    {
        return Some("Good Friday");
    }
    // Monday before May 25: the Monday among May 18..=24.
    if month == 5 && weekday == Weekday::Monday && (18..=24).contains(&day) {
        return Some("Victoria Day");
    }
    if on(7, 1) && weekday != Weekday::Sunday {
        return Some("Canada Day");
    }
    if on(7, 2) && weekday == Weekday::Monday {
        return Some("Canada Day (observed)");
    }
    if nth(1, 9, Weekday::Monday) {
        return Some("Labour Day");
    }
    if nth(2, 10, Weekday::Monday) {
        return Some("Thanksgiving");
    }
    if on(12, 25) {
        return Some("Christmas Day");
    }
    if on(12, 26) {
        return Some("Boxing Day");
    }
    if month == 12 {
        let christmas = Date::new(year, 12, 25).ok()?.weekday();
        match (christmas, day) {
            // Christmas on Saturday: Mon 27 for Christmas, Tue 28 for Boxing Day.
            (Weekday::Saturday, 27) => return Some("Christmas Day (observed)"),
            (Weekday::Saturday, 28) => return Some("Boxing Day (observed)"),
            // Christmas on Sunday: Boxing Day is Mon 26, Christmas moves to Tue 27.
            (Weekday::Sunday, 27) => return Some("Christmas Day (observed)"),
            // Christmas on Friday: Boxing Day on Saturday moves to Mon 28.
            (Weekday::Friday, 28) => return Some("Boxing Day (observed)"),
            _ => {}
        }
    }
    None
}

/// Easter Sunday (Gregorian calendar), by the anonymous Gregorian computus.
fn easter_sunday(year: i16) -> Option<Date> {
    let y = i32::from(year);
    let a = y % 19;
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    Date::new(year, i8::try_from(month).ok()?, i8::try_from(day).ok()?).ok()
}

/// Open ranges of one day, in minutes since local midnight: each `[start, end)`,
/// sorted, not overlapping.
type Ranges = Vec<(u16, u16)>;

/// How specific the entry that set a day's hours was: a later entry replaces
/// a day's hours only when it is at least as specific.
const SPEC_DAILY: u8 = 0;
const SPEC_GROUP: u8 = 1;
const SPEC_SINGLE: u8 = 2;

/// Opening hours: weekly ranges, hours for Ontario statutory holidays, and
/// dates closed all day. All in local time in [`ZONE`].
#[derive(Debug, Clone, PartialEq)]
pub struct Hours {
    /// Monday first.
    weekly: [Ranges; 7],
    /// The specificity of the entry that set each weekday.
    weekly_spec: [u8; 7],
    /// The `holidays` entry, if given.
    holidays: Option<Ranges>,
    /// Sorted, no duplicates.
    closed_dates: Vec<Date>,
}

/// Which days one entry names.
#[derive(Default)]
struct DaySet {
    /// Weekdays named, Monday first.
    weekdays: [bool; 7],
    holidays: bool,
}

impl Hours {
    /// Open every minute of every day (24/7 centres).
    pub fn always() -> Hours {
        Hours {
            weekly: std::array::from_fn(|_| vec![(0, DAY_MINUTES)]),
            weekly_spec: [SPEC_DAILY; 7],
            holidays: None,
            closed_dates: Vec::new(),
        }
    }

    /// Closed until entries are added.
    pub fn closed() -> Hours {
        Hours {
            weekly: std::array::from_fn(|_| Vec::new()),
            weekly_spec: [SPEC_DAILY; 7],
            holidays: None,
            closed_dates: Vec::new(),
        }
    }

    /// One entry of an `hours:` map in YAML.
    ///
    /// `days`: "mon".."sun", a range "mon-fri" (it may wrap: "fri-mon"), a
    /// list "sat,sun" (of days and ranges), "daily", or "holidays" (Ontario
    /// statutory holidays: their entry replaces the weekday's; if no
    /// "holidays" entry is given, holidays follow the weekday's hours).
    /// Case and spaces do not matter.
    ///
    /// `ranges`: "08:00-20:00", several separated by commas
    /// "08:00-12:00, 13:00-17:00", "closed", or "always"/"00:00-24:00".
    /// End 24:00 allowed; start < end required (no ranges across midnight:
    /// write two entries).
    ///
    /// A single day's entry beats a range's or list's, which beats `daily`'s,
    /// whatever the order; among equals the later entry wins.
    ///
    /// Err = a one-line message naming what is wrong.
    pub fn add(&mut self, days: &str, ranges: &str) -> Result<(), String> {
        let (set, spec) = parse_days(days)?;
        let ranges = parse_ranges(ranges)?;
        for (i, named) in set.weekdays.iter().enumerate() {
            if *named && spec >= self.weekly_spec[i] {
                self.weekly[i] = ranges.clone();
                self.weekly_spec[i] = spec;
            }
        }
        if set.holidays {
            self.holidays = Some(ranges);
        }
        Ok(())
    }

    /// A date on which it is closed all day (e.g. "2026-12-24"). Err as above.
    pub fn add_closed_date(&mut self, date: &str) -> Result<(), String> {
        let text = date.trim();
        let parsed = text.parse::<Date>().map_err(|e| {
            format!(
                "bad closed date `{text}`: {}; use a date like 2026-12-24",
                one_line(&e)
            )
        })?;
        if let Err(pos) = self.closed_dates.binary_search(&parsed) {
            self.closed_dates.insert(pos, parsed);
        }
        Ok(())
    }

    /// Open at this moment (the instant is converted to America/Toronto
    /// local time first).
    pub fn is_open(&self, at: &Zoned) -> bool {
        let local = at.timestamp().to_zoned(zone());
        self.is_open_local(local.datetime())
    }

    /// The next moment at or after `at` when it opens (None if it never
    /// opens within 14 days) — for transcripts ("closed, opens Mon 08:00").
    /// If it is open at `at`, that is `at` itself. The result is in
    /// America/Toronto.
    pub fn next_open(&self, at: &Zoned) -> Option<Zoned> {
        let tz = zone();
        let start = at.timestamp();
        let now = start.to_zoned(tz.clone());
        if self.is_open_local(now.datetime()) {
            return Some(now);
        }
        let horizon = start
            .checked_add(jiff::SignedDuration::from_hours(
                24 * i64::from(LOOKAHEAD_DAYS),
            ))
            .ok()?;

        // It can open only where the local wall clock enters a range: at the
        // start of a range on some day, or at a clock change that jumps into
        // one. Gather those moments and keep the earliest one that is open.
        let mut best: Option<Timestamp> = None;
        let mut consider = |ts: Timestamp| {
            if ts >= start
                && ts <= horizon
                && best.is_none_or(|b| ts < b)
                && self.is_open_local(ts.to_zoned(tz.clone()).datetime())
            {
                best = Some(ts);
            }
        };
        let first_day = now.date();
        for offset in 0..=LOOKAHEAD_DAYS {
            let Ok(day) = first_day.checked_add(jiff::Span::new().days(offset)) else {
                break;
            };
            for &(from, _) in self.ranges_on(day) {
                let Ok(time) = jiff::civil::Time::new(
                    i8::try_from(from / 60).unwrap_or(0),
                    i8::try_from(from % 60).unwrap_or(0),
                    0,
                    0,
                ) else {
                    continue;
                };
                let ambiguous = tz.to_ambiguous_zoned(day.to_datetime(time));
                if let Ok(z) = ambiguous.clone().earlier() {
                    consider(z.timestamp());
                }
                if let Ok(z) = ambiguous.later() {
                    consider(z.timestamp());
                }
            }
        }
        for transition in tz.following(start) {
            let ts = transition.timestamp();
            if ts > horizon {
                break;
            }
            consider(ts);
        }
        best.map(|ts| ts.to_zoned(tz))
    }

    /// Open at this local wall-clock time.
    fn is_open_local(&self, local: DateTime) -> bool {
        let minute = u16::try_from(local.hour()).unwrap_or(0) * 60
            + u16::try_from(local.minute()).unwrap_or(0);
        self.ranges_on(local.date())
            .iter()
            .any(|&(from, to)| from <= minute && minute < to)
    }

    /// The ranges that apply on this local date.
    fn ranges_on(&self, date: Date) -> &[(u16, u16)] {
        if self.closed_dates.binary_search(&date).is_ok() {
            return &[];
        }
        if let Some(holiday) = &self.holidays
            && ontario_holiday(date).is_some()
        {
            return holiday;
        }
        &self.weekly[usize::from(date.weekday().to_monday_zero_offset().unsigned_abs())]
    }
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

fn day_index(name: &str) -> Option<usize> {
    DAY_NAMES.iter().position(|d| *d == name)
}

fn unknown_day(name: &str) -> String {
    format!("unknown day `{name}`: use mon..sun, mon-fri, daily or holidays")
}

/// Parse the days of an entry, with the entry's specificity.
fn parse_days(days: &str) -> Result<(DaySet, u8), String> {
    let text = days.trim().to_ascii_lowercase();
    if text.is_empty() {
        return Err("empty days: use mon..sun, mon-fri, daily or holidays".to_string());
    }
    let mut set = DaySet::default();
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    let spec = if items.len() == 1 && day_index(items[0]).is_some() {
        SPEC_SINGLE
    } else if items.len() == 1 && items[0] == "daily" {
        SPEC_DAILY
    } else {
        SPEC_GROUP
    };
    for item in items {
        if item.is_empty() {
            return Err(format!(
                "empty day in `{}`: use mon..sun, mon-fri, daily or holidays",
                days.trim()
            ));
        }
        match item {
            "daily" => set.weekdays = [true; 7],
            "holidays" => set.holidays = true,
            _ => {
                if let Some((from, to)) = item.split_once('-') {
                    let (from, to) = (from.trim(), to.trim());
                    let a = day_index(from).ok_or_else(|| unknown_day(from))?;
                    let b = day_index(to).ok_or_else(|| unknown_day(to))?;
                    // Walk from a to b, wrapping past Sunday if needed.
                    let mut i = a;
                    loop {
                        set.weekdays[i] = true;
                        if i == b {
                            break;
                        }
                        i = (i + 1) % 7;
                    }
                } else {
                    let i = day_index(item).ok_or_else(|| unknown_day(item))?;
                    set.weekdays[i] = true;
                }
            }
        }
    }
    Ok((set, spec))
}

/// Parse the ranges of an entry into sorted, merged minute ranges.
fn parse_ranges(ranges: &str) -> Result<Ranges, String> {
    let text = ranges.trim().to_ascii_lowercase();
    let usage = "use e.g. `08:00-20:00`, `08:00-12:00, 13:00-17:00`, `closed` or `always`";
    match text.as_str() {
        "" => return Err(format!("empty hours: {usage}")),
        "closed" => return Ok(Vec::new()),
        "always" => return Ok(vec![(0, DAY_MINUTES)]),
        _ => {}
    }
    let mut out: Ranges = Vec::new();
    for item in text.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("empty range in `{}`: {usage}", ranges.trim()));
        }
        if item == "closed" || item == "always" {
            return Err(format!(
                "`{item}` cannot be combined with other ranges in `{}`",
                ranges.trim()
            ));
        }
        let Some((from, to)) = item.split_once('-') else {
            return Err(format!("bad range `{item}`: {usage}"));
        };
        let from_min = parse_clock(from.trim(), false)?;
        let to_min = parse_clock(to.trim(), true)?;
        if from_min >= to_min {
            return Err(format!(
                "bad range `{item}`: the start must be before the end \
                 (for hours past midnight write two entries, e.g. 22:00-24:00 and 00:00-06:00)"
            ));
        }
        out.push((from_min, to_min));
    }
    out.sort_unstable();
    let mut merged: Ranges = Vec::with_capacity(out.len());
    for (from, to) in out {
        match merged.last_mut() {
            Some(last) if from <= last.1 => last.1 = last.1.max(to),
            _ => merged.push((from, to)),
        }
    }
    Ok(merged)
}

/// Parse "HH:MM" (or "H:MM") into minutes since midnight; "24:00" only as an end.
fn parse_clock(text: &str, is_end: bool) -> Result<u16, String> {
    let bad = || format!("bad time `{text}`: use HH:MM, 00:00 to 24:00");
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    let digits = |s: &str, max_len: usize| {
        !s.is_empty() && s.len() <= max_len && s.bytes().all(|b| b.is_ascii_digit())
    };
    if !digits(h, 2) || !digits(m, 2) || m.len() != 2 {
        return Err(bad());
    }
    let hour: u16 = h.parse().map_err(|_| bad())?;
    let minute: u16 = m.parse().map_err(|_| bad())?;
    if minute > 59 || hour > 24 {
        return Err(bad());
    }
    if hour == 24 {
        if minute != 0 {
            return Err(bad());
        }
        if !is_end {
            return Err(format!(
                "bad time `{text}`: 24:00 can only end a range; start at 00:00"
            ));
        }
    }
    Ok(hour * 60 + minute)
}

#[cfg(test)]
mod tests;
