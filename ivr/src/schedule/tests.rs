use super::*;
use jiff::civil::date;

fn at(s: &str) -> Zoned {
    parse_local(s).unwrap()
}

fn utc(s: &str) -> Zoned {
    s.parse::<Timestamp>().unwrap().to_zoned(TimeZone::UTC)
}

fn hours(entries: &[(&str, &str)]) -> Hours {
    let mut h = Hours::closed();
    for (d, r) in entries {
        h.add(d, r).unwrap();
    }
    h
}

fn all_holidays(year: i16) -> Vec<(String, &'static str)> {
    let mut out = Vec::new();
    let mut d = date(year, 1, 1);
    while d.year() == year {
        if let Some(name) = ontario_holiday(d) {
            out.push((d.to_string(), name));
        }
        d = d.tomorrow().unwrap();
    }
    out
}

#[test]
fn zone_is_toronto_from_bundled_tzdb() {
    assert_eq!(zone().iana_name(), Some(ZONE));
}

#[test]
fn holidays_2026() {
    assert_eq!(
        all_holidays(2026),
        vec![
            ("2026-01-01".to_string(), "New Year's Day"),
            ("2026-02-16".to_string(), "Family Day"),
            ("2026-04-03".to_string(), "Good Friday"),
            ("2026-05-18".to_string(), "Victoria Day"),
            ("2026-07-01".to_string(), "Canada Day"),
            ("2026-09-07".to_string(), "Labour Day"),
            ("2026-10-12".to_string(), "Thanksgiving"),
            ("2026-12-25".to_string(), "Christmas Day"),
            ("2026-12-26".to_string(), "Boxing Day"),
            ("2026-12-28".to_string(), "Boxing Day (observed)"),
        ]
    );
}

#[test]
fn holidays_2027() {
    assert_eq!(
        all_holidays(2027),
        vec![
            ("2027-01-01".to_string(), "New Year's Day"),
            ("2027-02-15".to_string(), "Family Day"),
            ("2027-03-26".to_string(), "Good Friday"),
            ("2027-05-24".to_string(), "Victoria Day"),
            ("2027-07-01".to_string(), "Canada Day"),
            ("2027-09-06".to_string(), "Labour Day"),
            ("2027-10-11".to_string(), "Thanksgiving"),
            ("2027-12-25".to_string(), "Christmas Day"),
            ("2027-12-26".to_string(), "Boxing Day"),
            ("2027-12-27".to_string(), "Christmas Day (observed)"),
            ("2027-12-28".to_string(), "Boxing Day (observed)"),
        ]
    );
}

#[test]
fn easter_dates() {
    assert_eq!(easter_sunday(2026), Some(date(2026, 4, 5)));
    assert_eq!(easter_sunday(2027), Some(date(2027, 3, 28)));
    assert_eq!(easter_sunday(2024), Some(date(2024, 3, 31)));
    assert_eq!(easter_sunday(2038), Some(date(2038, 4, 25)));
    assert_eq!(easter_sunday(2285), Some(date(2285, 3, 22)));
}

#[test]
fn victoria_day_when_may_25_is_monday() {
    // 2026-05-25 is a Monday: Victoria Day is the Monday before it.
    assert_eq!(ontario_holiday(date(2026, 5, 25)), None);
    assert_eq!(ontario_holiday(date(2026, 5, 18)), Some("Victoria Day"));
}

#[test]
fn new_years_day_on_weekend_substitutes() {
    // 2028-01-01 is a Saturday, 2034-01-01 a Sunday.
    assert_eq!(ontario_holiday(date(2028, 1, 1)), Some("New Year's Day"));
    assert_eq!(
        ontario_holiday(date(2028, 1, 3)),
        Some("New Year's Day (observed)")
    );
    assert_eq!(ontario_holiday(date(2028, 1, 2)), None);
    assert_eq!(
        ontario_holiday(date(2034, 1, 2)),
        Some("New Year's Day (observed)")
    );
    assert_eq!(ontario_holiday(date(2034, 1, 3)), None);
    // A Monday Jan 2 or 3 when Jan 1 was not on the weekend.
    assert_eq!(ontario_holiday(date(2029, 1, 2)), None);
}

#[test]
fn christmas_on_saturday_and_sunday() {
    // 2027-12-25 is a Saturday: Mon 27 and Tue 28 are days off.
    assert_eq!(date(2027, 12, 25).weekday(), Weekday::Saturday);
    assert_eq!(
        ontario_holiday(date(2027, 12, 27)),
        Some("Christmas Day (observed)")
    );
    assert_eq!(
        ontario_holiday(date(2027, 12, 28)),
        Some("Boxing Day (observed)")
    );
    // 2033-12-25 is a Sunday: Boxing Day Mon 26, Christmas moves to Tue 27.
    assert_eq!(date(2033, 12, 25).weekday(), Weekday::Sunday);
    assert_eq!(ontario_holiday(date(2033, 12, 26)), Some("Boxing Day"));
    assert_eq!(
        ontario_holiday(date(2033, 12, 27)),
        Some("Christmas Day (observed)")
    );
    assert_eq!(ontario_holiday(date(2033, 12, 28)), None);
    // 2026-12-25 is a Friday: Boxing Day Sat 26 moves to Mon 28, not Mon 27.
    assert_eq!(ontario_holiday(date(2026, 12, 27)), None);
}

#[test]
fn canada_day_on_sunday_moves_to_monday() {
    assert_eq!(date(2029, 7, 1).weekday(), Weekday::Sunday);
    assert_eq!(ontario_holiday(date(2029, 7, 1)), None);
    assert_eq!(
        ontario_holiday(date(2029, 7, 2)),
        Some("Canada Day (observed)")
    );
    // Jul 2 is a working day when Jul 1 is not a Sunday (2024: Jul 1 a Monday).
    assert_eq!(date(2024, 7, 1).weekday(), Weekday::Monday);
    assert_eq!(ontario_holiday(date(2024, 7, 2)), None);
    // Canada Day on a Saturday has no fixed substitute.
    assert_eq!(ontario_holiday(date(2028, 7, 1)), Some("Canada Day"));
    assert_eq!(ontario_holiday(date(2028, 7, 3)), None);
}

#[test]
fn no_panic_at_calendar_limits() {
    for d in [
        Date::MIN,
        Date::MAX,
        date(-9999, 12, 25),
        date(9999, 12, 28),
        date(9999, 1, 3),
    ] {
        let _ = ontario_holiday(d);
    }
    let h = hours(&[("daily", "08:00-09:00")]);
    let late = Timestamp::MAX.to_zoned(TimeZone::UTC);
    let early = Timestamp::MIN.to_zoned(TimeZone::UTC);
    let _ = h.is_open(&late);
    let _ = h.next_open(&late);
    let _ = h.is_open(&early);
    let _ = h.next_open(&early);
}

#[test]
fn parse_local_forms() {
    let z = at("2026-11-22T03:00");
    assert_eq!(z.to_string(), "2026-11-22T03:00:00-05:00[America/Toronto]");
    let z = at("2026-11-22T03:00:00");
    assert_eq!(z.to_string(), "2026-11-22T03:00:00-05:00[America/Toronto]");
    let z = at("2026-07-22T03:00:00");
    assert_eq!(z.to_string(), "2026-07-22T03:00:00-04:00[America/Toronto]");
    let z = at("2026-11-22");
    assert_eq!(z.to_string(), "2026-11-22T00:00:00-05:00[America/Toronto]");
    // An offset is honoured and the result shown in Toronto time.
    let z = at("2026-11-22T03:00:00-05:00");
    assert_eq!(z.to_string(), "2026-11-22T03:00:00-05:00[America/Toronto]");
    let z = at("2026-11-22T08:00:00Z");
    assert_eq!(z.to_string(), "2026-11-22T03:00:00-05:00[America/Toronto]");
    let z = at("2026-07-01T12:00:00+00:00");
    assert_eq!(z.to_string(), "2026-07-01T08:00:00-04:00[America/Toronto]");
    let z = at("2026-11-22T09:00:00+01:00[Europe/Paris]");
    assert_eq!(z.to_string(), "2026-11-22T03:00:00-05:00[America/Toronto]");
    let z = at("  2026-11-22 03:00  ");
    assert_eq!(z.to_string(), "2026-11-22T03:00:00-05:00[America/Toronto]");
}

#[test]
fn parse_local_dst_edges() {
    // Repeated hour: the first (EDT) one.
    assert_eq!(
        at("2026-11-01T01:30").to_string(),
        "2026-11-01T01:30:00-04:00[America/Toronto]"
    );
    // Skipped hour: moved forward past the gap.
    assert_eq!(
        at("2026-03-08T02:30").to_string(),
        "2026-03-08T03:30:00-04:00[America/Toronto]"
    );
}

#[test]
fn parse_local_errors_are_one_line_and_name_the_input() {
    for bad in [
        "",
        "tomorrow",
        "2026-13-01",
        "2026-02-30",
        "2026-11-22T25:00",
        "2026-11-22T03:00:00+99:00",
        "2026-11-22T03:00:00X",
        "2026/11/22",
        "\u{1F600}",
        "2026-11-22T",
    ] {
        let err = parse_local(bad).unwrap_err();
        assert!(!err.contains('\n'), "{bad}: {err}");
        if !bad.is_empty() {
            assert!(err.contains(&format!("`{}`", bad.trim())), "{bad}: {err}");
        }
    }
    assert!(parse_local("").unwrap_err().starts_with("empty time"));
    assert!(
        parse_local("tomorrow")
            .unwrap_err()
            .contains("use 2026-11-22T03:00")
    );
}

#[test]
fn utc_instant_converted_to_toronto() {
    // 13:00Z in winter is 08:00 EST; in summer 09:00 EDT.
    let h = hours(&[("daily", "08:00-09:00")]);
    assert!(h.is_open(&utc("2026-01-15T13:00:00Z")));
    assert!(!h.is_open(&utc("2026-01-15T12:59:00Z")));
    assert!(!h.is_open(&utc("2026-07-15T13:00:00Z")));
    assert!(h.is_open(&utc("2026-07-15T12:00:00Z")));
    // The wall-clock date matters too: 03:00Z on Saturday is Friday 22:00 in Toronto.
    let weekdays = hours(&[("mon-fri", "20:00-24:00")]);
    assert!(weekdays.is_open(&utc("2026-11-28T03:00:00Z")));
}

#[test]
fn open_across_fall_back() {
    // 2026-11-01: clocks go back from 02:00 EDT to 01:00 EST.
    let h = hours(&[("daily", "01:00-03:00")]);
    // 05:30Z = 01:30 EDT (first pass), 06:30Z = 01:30 EST (second pass).
    assert!(h.is_open(&utc("2026-11-01T05:30:00Z")));
    assert!(h.is_open(&utc("2026-11-01T06:30:00Z")));
    assert_eq!(
        utc("2026-11-01T06:30:00Z")
            .with_time_zone(zone())
            .to_string(),
        "2026-11-01T01:30:00-05:00[America/Toronto]"
    );
    // 07:30Z = 02:30 EST: still open; 08:00Z = 03:00 EST: closed.
    assert!(h.is_open(&utc("2026-11-01T07:30:00Z")));
    assert!(!h.is_open(&utc("2026-11-01T08:00:00Z")));
    // 04:59Z = 00:59 EDT: not yet.
    assert!(!h.is_open(&utc("2026-11-01T04:59:00Z")));
    // The same UTC hour in summer is a different local hour:
    // 06:30Z in July is 02:30 EDT (open), 07:30Z is 03:30 EDT (closed).
    assert!(h.is_open(&utc("2026-07-01T06:30:00Z")));
    assert!(!h.is_open(&utc("2026-07-01T07:30:00Z")));
    // The day after, in EST: 07:30Z is 02:30 (open), 05:30Z is 00:30 (closed).
    assert!(h.is_open(&utc("2026-11-02T07:30:00Z")));
    assert!(!h.is_open(&utc("2026-11-02T05:30:00Z")));
}

#[test]
fn open_across_spring_forward() {
    // 2026-03-08: clocks jump from 02:00 EST to 03:00 EDT.
    let h = hours(&[("daily", "01:00-03:00")]);
    // 06:30Z = 01:30 EST: open. 07:00Z = 03:00 EDT: closed (02:xx never happens).
    assert!(h.is_open(&utc("2026-03-08T06:30:00Z")));
    assert!(!h.is_open(&utc("2026-03-08T07:00:00Z")));
    assert!(!h.is_open(&utc("2026-03-08T07:30:00Z")));
    // The day after, 06:30Z is 02:30 EDT: open.
    assert!(h.is_open(&utc("2026-03-09T06:30:00Z")));
    // A centre open 08:00-20:00 opens at 12:00Z after the change, 13:00Z before.
    let day = hours(&[("daily", "08:00-20:00")]);
    assert!(!day.is_open(&utc("2026-03-07T12:30:00Z")));
    assert!(day.is_open(&utc("2026-03-07T13:00:00Z")));
    assert!(day.is_open(&utc("2026-03-08T12:00:00Z")));
    assert!(!day.is_open(&utc("2026-03-08T11:59:00Z")));
}

#[test]
fn always_and_closed() {
    let a = Hours::always();
    let c = Hours::closed();
    for s in [
        "2026-01-01T00:00",
        "2026-03-08T03:00",
        "2026-12-31T23:59:59",
    ] {
        assert!(a.is_open(&at(s)), "{s}");
        assert!(!c.is_open(&at(s)), "{s}");
    }
    assert_eq!(hours(&[("daily", "always")]), Hours::always());
    assert_eq!(hours(&[("daily", "00:00-24:00")]), Hours::always());
    assert_eq!(hours(&[("daily", " ALWAYS ")]), Hours::always());
    assert_eq!(c.next_open(&at("2026-11-22T03:00")), None);
}

#[test]
fn weekday_ranges_and_multiple_ranges() {
    let h = hours(&[
        ("mon-fri", "08:00-12:00, 13:00-17:00"),
        ("sat", "10:00-14:00"),
    ]);
    // 2026-11-23 is a Monday.
    assert!(!h.is_open(&at("2026-11-23T07:59:59")));
    assert!(h.is_open(&at("2026-11-23T08:00")));
    assert!(h.is_open(&at("2026-11-23T11:59:59")));
    assert!(!h.is_open(&at("2026-11-23T12:00")));
    assert!(!h.is_open(&at("2026-11-23T12:30")));
    assert!(h.is_open(&at("2026-11-23T13:00")));
    assert!(!h.is_open(&at("2026-11-23T17:00")));
    assert!(h.is_open(&at("2026-11-28T10:00")));
    assert!(!h.is_open(&at("2026-11-29T10:00")));
}

#[test]
fn day_lists_ranges_and_specificity() {
    let h = hours(&[
        ("sun", "closed"),
        ("daily", "09:00-17:00"),
        ("sat,sun", "10:00-12:00"),
    ]);
    // Sunday: the single-day entry wins over the list and daily, whatever the order.
    assert!(!h.is_open(&at("2026-11-29T11:00")));
    // Saturday: the list wins over daily.
    assert!(h.is_open(&at("2026-11-28T11:00")));
    assert!(!h.is_open(&at("2026-11-28T15:00")));
    // Weekday: daily.
    assert!(h.is_open(&at("2026-11-25T15:00")));
    // Wrapping range and case/space tolerance.
    let w = hours(&[(" Fri - Mon ", "09:00-10:00")]);
    assert!(w.is_open(&at("2026-11-27T09:30"))); // Fri
    assert!(w.is_open(&at("2026-11-29T09:30"))); // Sun
    assert!(w.is_open(&at("2026-11-30T09:30"))); // Mon
    assert!(!w.is_open(&at("2026-11-25T09:30"))); // Wed
    // Later entry wins among equals.
    let l = hours(&[("mon", "09:00-10:00"), ("mon", "11:00-12:00")]);
    assert!(!l.is_open(&at("2026-11-23T09:30")));
    assert!(l.is_open(&at("2026-11-23T11:30")));
    // Overlapping ranges merge.
    let o = hours(&[("daily", "09:00-12:00, 11:00-14:00")]);
    assert!(o.is_open(&at("2026-11-23T13:30")));
    assert_eq!(o, hours(&[("daily", "09:00-14:00")]));
}

#[test]
fn holidays_entry_overrides_weekday() {
    let h = hours(&[("mon-fri", "08:00-20:00"), ("holidays", "10:00-14:00")]);
    // 2026-10-12 Thanksgiving (Monday).
    assert!(!h.is_open(&at("2026-10-12T09:00")));
    assert!(h.is_open(&at("2026-10-12T11:00")));
    assert!(!h.is_open(&at("2026-10-12T15:00")));
    // The Monday after: normal hours.
    assert!(h.is_open(&at("2026-10-19T09:00")));
    // A holiday on a weekend also gets the holiday hours (Boxing Day Sat 2026-12-26).
    assert!(h.is_open(&at("2026-12-26T11:00")));
    // The observed Monday 2026-12-28 too.
    assert!(!h.is_open(&at("2026-12-28T09:00")));

    let closed = hours(&[("daily", "always"), ("holidays", "closed")]);
    assert!(!closed.is_open(&at("2026-12-25T12:00")));
    assert!(closed.is_open(&at("2026-12-24T23:59")));
    assert!(closed.is_open(&at("2026-12-27T00:00")));

    // Without a holidays entry, holidays follow the weekday.
    let plain = hours(&[("mon-fri", "08:00-20:00")]);
    assert!(plain.is_open(&at("2026-10-12T09:00")));

    // "holidays" in a list.
    let list = hours(&[("daily", "08:00-20:00"), ("sun,holidays", "closed")]);
    assert!(!list.is_open(&at("2026-10-12T09:00")));
    assert!(!list.is_open(&at("2026-11-29T09:00")));
    assert!(list.is_open(&at("2026-11-28T09:00")));
}

#[test]
fn closed_dates() {
    let mut h = hours(&[("daily", "08:00-20:00")]);
    h.add_closed_date("2026-12-24").unwrap();
    h.add_closed_date(" 2026-12-24 ").unwrap();
    assert!(!h.is_open(&at("2026-12-24T12:00")));
    assert!(h.is_open(&at("2026-12-23T12:00")));
    assert!(h.is_open(&at("2026-12-25T12:00")));
    // A closed date also beats a holidays entry.
    let mut hol = hours(&[("daily", "08:00-20:00"), ("holidays", "always")]);
    hol.add_closed_date("2026-12-25").unwrap();
    assert!(!hol.is_open(&at("2026-12-25T12:00")));

    for bad in ["2026-12-32", "24/12/2026", "", "christmas"] {
        let err = h.add_closed_date(bad).unwrap_err();
        assert!(err.starts_with("bad closed date"), "{err}");
        assert!(!err.contains('\n'));
    }
}

#[test]
fn add_errors_are_clear() {
    let mut h = Hours::closed();
    let err = |days: &str, ranges: &str| Hours::closed().add(days, ranges).unwrap_err();
    assert_eq!(
        err("mun", "08:00-20:00"),
        "unknown day `mun`: use mon..sun, mon-fri, daily or holidays"
    );
    assert_eq!(
        err("mon-fry", "08:00-20:00"),
        "unknown day `fry`: use mon..sun, mon-fri, daily or holidays"
    );
    assert!(err("", "08:00-20:00").starts_with("empty days"));
    assert!(err("sat,,sun", "08:00-20:00").starts_with("empty day in `sat,,sun`"));
    assert!(err("mon", "").starts_with("empty hours"));
    assert!(
        err("mon", "20:00-08:00").contains("the start must be before the end"),
        "{}",
        err("mon", "20:00-08:00")
    );
    assert!(err("mon", "08:00-08:00").contains("the start must be before the end"));
    assert_eq!(
        err("mon", "8-20"),
        "bad time `8`: use HH:MM, 00:00 to 24:00"
    );
    assert_eq!(
        err("mon", "08:00-24:30"),
        "bad time `24:30`: use HH:MM, 00:00 to 24:00"
    );
    assert_eq!(
        err("mon", "08:60-10:00"),
        "bad time `08:60`: use HH:MM, 00:00 to 24:00"
    );
    assert!(err("mon", "24:00-24:00").contains("24:00 can only end a range"));
    assert!(err("mon", "08:00").starts_with("bad range `08:00`"));
    assert!(err("mon", "08:00-12:00,").starts_with("empty range"));
    assert!(err("mon", "closed, 08:00-12:00").contains("cannot be combined"));
    assert!(err("mon", "０８:00-12:00").starts_with("bad time"));
    for (d, r) in [("mun", "x"), ("mon", "x-y"), ("\u{1F600}", "\u{1F600}")] {
        let e = Hours::closed().add(d, r).unwrap_err();
        assert!(!e.contains('\n'));
    }
    // A failed add leaves the hours untouched.
    h.add("mon", "08:00-09:00").unwrap();
    let before = h.clone();
    assert!(h.add("tue", "bad").is_err());
    assert_eq!(h, before);
    // 24:00 as an end and single-digit hours are fine.
    h.add("tue", "8:00-24:00").unwrap();
    assert!(h.is_open(&at("2026-11-24T23:59")));
    assert!(h.is_open(&at("2026-11-24T08:00")));
}

#[test]
fn next_open_finds_the_next_opening() {
    let h = hours(&[("mon-fri", "08:00-12:00, 13:00-17:00")]);
    // Open now: now.
    let now = at("2026-11-23T09:15");
    assert_eq!(h.next_open(&now), Some(now.clone()));
    // Lunch: 13:00 the same day.
    assert_eq!(
        h.next_open(&at("2026-11-23T12:10")).unwrap().to_string(),
        "2026-11-23T13:00:00-05:00[America/Toronto]"
    );
    // Friday evening: Monday 08:00.
    assert_eq!(
        h.next_open(&at("2026-11-27T18:00")).unwrap().to_string(),
        "2026-11-30T08:00:00-05:00[America/Toronto]"
    );
    // Before opening the same morning.
    assert_eq!(
        h.next_open(&at("2026-11-23T07:59:30")).unwrap().to_string(),
        "2026-11-23T08:00:00-05:00[America/Toronto]"
    );
    // Given in UTC, answered in Toronto time.
    assert_eq!(
        h.next_open(&utc("2026-11-28T00:00:00Z"))
            .unwrap()
            .to_string(),
        "2026-11-30T08:00:00-05:00[America/Toronto]"
    );
    // Skips a holiday closed and a closed date: Thu 2026-12-24 closed,
    // Fri 25 and Mon 28 holidays, so Tue 29.
    let mut hol = hours(&[("mon-fri", "08:00-17:00"), ("holidays", "closed")]);
    hol.add_closed_date("2026-12-24").unwrap();
    assert_eq!(
        hol.next_open(&at("2026-12-23T18:00")).unwrap().to_string(),
        "2026-12-29T08:00:00-05:00[America/Toronto]"
    );
}

#[test]
fn next_open_limits() {
    // Open only on a closed date's weekday and the date is the only one: beyond 14 days.
    let mut h = hours(&[("mon", "08:00-09:00")]);
    h.add_closed_date("2026-11-30").unwrap();
    h.add_closed_date("2026-12-07").unwrap();
    h.add_closed_date("2026-12-14").unwrap();
    assert_eq!(h.next_open(&at("2026-11-29T12:00")), None);
    // Exactly 14 days ahead is still found.
    let mut two = hours(&[("sun", "12:00-13:00")]);
    two.add_closed_date("2026-12-06").unwrap();
    assert_eq!(
        two.next_open(&at("2026-11-29T13:00")).unwrap().to_string(),
        "2026-12-13T12:00:00-05:00[America/Toronto]"
    );
}

#[test]
fn next_open_across_dst_changes() {
    // Spring forward: a range starting in the skipped hour opens when
    // the clocks jump (03:00 EDT).
    let h = hours(&[("sun", "02:30-05:00")]);
    assert_eq!(
        h.next_open(&at("2026-03-08T01:00")).unwrap().to_string(),
        "2026-03-08T03:00:00-04:00[America/Toronto]"
    );
    // Fall back: 01:00-01:30 happens twice; after the first closes at
    // 01:30 EDT it opens again at 01:00 EST.
    let f = hours(&[("sun", "01:00-01:30")]);
    let first_close = utc("2026-11-01T05:45:00Z"); // 01:45 EDT
    assert!(!f.is_open(&first_close));
    assert_eq!(
        f.next_open(&first_close).unwrap().to_string(),
        "2026-11-01T01:00:00-05:00[America/Toronto]"
    );
    // A normal morning range after fall back opens at 08:00 EST.
    let m = hours(&[("daily", "08:00-20:00")]);
    assert_eq!(
        m.next_open(&utc("2026-11-01T05:00:00Z"))
            .unwrap()
            .to_string(),
        "2026-11-01T08:00:00-05:00[America/Toronto]"
    );
}
