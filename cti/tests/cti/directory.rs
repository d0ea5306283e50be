//! The community resource directory: an import and a re-import, searches
//! ranked as worked out by hand, referrals by id in call logs and in the
//! caller's history, and `GET /api/directory/search`, on both backends.

use std::collections::{BTreeMap, HashMap};

use frontdoor_cti::Store;
use frontdoor_cti::directory::model::*;
use frontdoor_cti::directory::prepare::prepare;
use frontdoor_cti::directory::search::{Answer, Search, search};
use frontdoor_cti::protocol::{CallLog, Need, Referral};
use jiff::tz::TimeZone;

fn s(v: &str) -> Option<String> {
    Some(v.to_string())
}

/// One service of the fixture: at one place or two, with weekly hours.
struct Spec {
    id: &'static str,
    name: &'static str,
    alt: Option<&'static str>,
    code: &'static str,
    langs: &'static [&'static str],
    /// (location id, latitude, longitude, postal code)
    places: &'static [(&'static str, f64, f64, &'static str)],
    byday: &'static str,
    opens: &'static str,
    closes: &'static str,
    eligibility: Option<&'static str>,
}

const SPECS: &[Spec] = &[
    Spec {
        id: "s-vanier",
        name: "Vanier Food Bank",
        alt: Some("Banque alimentaire de Vanier"),
        code: "BD-1800.2000",
        langs: &["en", "fr"],
        places: &[("l-vanier", 45.4401, -75.6610, "K1L 5X1")],
        byday: "MO,TU,WE,TH,FR",
        opens: "09:00",
        closes: "17:00",
        eligibility: None,
    },
    Spec {
        id: "s-cupboard",
        name: "Centretown Food Cupboard",
        alt: None,
        code: "BD-1800.2000",
        langs: &["en"],
        places: &[("l-centretown", 45.4150, -75.6950, "K2P 1A1")],
        byday: "MO,TU,WE,TH,FR",
        opens: "09:00",
        closes: "17:00",
        eligibility: None,
    },
    Spec {
        id: "s-orleans",
        name: "Orléans Food Bank",
        alt: Some("Banque alimentaire d'Orléans"),
        code: "BD-1800.2000",
        langs: &["en", "fr"],
        places: &[("l-orleans", 45.4700, -75.5200, "K1C 2N6")],
        byday: "SA",
        opens: "10:00",
        closes: "14:00",
        eligibility: None,
    },
    Spec {
        id: "s-toronto",
        name: "Daily Bread Food Bank",
        alt: None,
        code: "BD-1800.2000",
        langs: &["en"],
        places: &[("l-toronto", 43.6230, -79.5000, "M8Z 2H4")],
        byday: "MO,TU,WE,TH,FR",
        opens: "09:00",
        closes: "17:00",
        eligibility: None,
    },
    Spec {
        id: "s-shelter",
        name: "Ottawa Mission Shelter",
        alt: Some("Refuge de la Mission d'Ottawa"),
        code: "BH-1800",
        langs: &["en", "fr"],
        places: &[("l-mission", 45.4290, -75.6900, "K1N 5H3")],
        byday: "MO,TU,WE,TH,FR,SA,SU",
        opens: "00:00",
        closes: "24:00",
        eligibility: None,
    },
    Spec {
        id: "s-meals",
        name: "Seniors' Lunch Club",
        alt: Some("Club de dîners pour aînés"),
        code: "BD-5000",
        langs: &["en", "fr"],
        places: &[
            ("l-kanata", 45.3090, -75.9100, "K2K 1X7"),
            ("l-vanier-2", 45.4410, -75.6600, "K1L 8B2"),
        ],
        byday: "TU,TH",
        opens: "11:00",
        closes: "13:00",
        eligibility: Some("Seniors 65 and over"),
    },
];

/// The fixture as a dataset; `leave_out` drops a service, `rename` renames one.
fn dataset(leave_out: Option<&str>, rename: Option<(&str, &str)>) -> Dataset {
    let mut d = Dataset::default();
    d.organizations.push(Organization {
        id: "o-1".into(),
        name: "Community Services of Ottawa".into(),
        ..Organization::default()
    });
    for (code, name) in [
        ("BD-1800.2000", "Food Pantries"),
        ("BH-1800", "Emergency Shelter"),
        ("BD-5000", "Meals"),
    ] {
        d.taxonomy_terms.push(TaxonomyTerm {
            id: format!("t-{code}"),
            code: s(code),
            name: name.into(),
            ..TaxonomyTerm::default()
        });
    }
    for spec in SPECS.iter().filter(|x| Some(x.id) != leave_out) {
        let name = match rename {
            Some((id, n)) if id == spec.id => n,
            _ => spec.name,
        };
        d.services.push(Service {
            id: spec.id.into(),
            organization_id: "o-1".into(),
            name: name.into(),
            alternate_name: spec.alt.map(str::to_string),
            description: s("Help for people in need."),
            status: "active".into(),
            eligibility_description: spec.eligibility.map(str::to_string),
            ..Service::default()
        });
        d.attributes.push(Attribute {
            id: format!("a-{}", spec.id),
            link_id: spec.id.into(),
            link_entity: "service".into(),
            taxonomy_term_id: format!("t-{}", spec.code),
            ..Attribute::default()
        });
        for (i, lang) in spec.langs.iter().enumerate() {
            d.languages.push(Language {
                id: format!("lang-{}-{i}", spec.id),
                service_id: s(spec.id),
                code: s(lang),
                ..Language::default()
            });
        }
        d.phones.push(Phone {
            id: format!("p-{}", spec.id),
            service_id: s(spec.id),
            number: "+1 613-555-0100".into(),
            ..Phone::default()
        });
        d.schedules.push(Schedule {
            id: format!("h-{}", spec.id),
            service_id: s(spec.id),
            freq: s("WEEKLY"),
            byday: s(spec.byday),
            opens_at: s(spec.opens),
            closes_at: s(spec.closes),
            ..Schedule::default()
        });
        for (loc, lat, lon, postal) in spec.places {
            d.locations.push(Location {
                id: (*loc).into(),
                location_type: "physical".into(),
                latitude: Some(*lat),
                longitude: Some(*lon),
                ..Location::default()
            });
            d.addresses.push(Address {
                id: format!("ad-{loc}"),
                location_id: (*loc).into(),
                address_1: "1 Main St".into(),
                city: "Ottawa".into(),
                state_province: "ON".into(),
                postal_code: (*postal).into(),
                country: "CA".into(),
                address_type: "physical".into(),
                ..Address::default()
            });
            d.service_at_locations.push(ServiceAtLocation {
                id: format!("sal-{}-{loc}", spec.id),
                service_id: spec.id.into(),
                location_id: (*loc).into(),
                ..ServiceAtLocation::default()
            });
        }
    }
    d
}

async fn import(store: &Store, d: &Dataset) -> frontdoor_cti::store::ImportSummary {
    store
        .seed_taxonomy(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../flows/taxonomy.csv"
        )))
        .await
        .unwrap();
    let taxonomy: HashMap<String, (String, String)> = store.taxonomy_names().await.unwrap();
    store
        .import_directory(&prepare(d, &taxonomy), "test", "fixture", 1_000)
        .await
        .unwrap()
}

async fn find(store: &Store, params: &[(&str, &str)]) -> Answer {
    let p: BTreeMap<String, String> = params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let q = Search::from_params(&p).unwrap();
    let tz = TimeZone::get("America/Toronto").unwrap();
    search(store, &q, &tz, jiff::Timestamp::now())
        .await
        .unwrap()
}

fn ids(a: &Answer) -> Vec<&str> {
    a.results.iter().map(|r| r.service_id.as_str()).collect()
}

// 2026-12-01 is a Tuesday, 2026-12-05 a Saturday, 2026-12-25 Christmas.
const TUESDAY: &str = "2026-12-01T10:30";

async fn searches_find_and_rank_as_worked_out_by_hand(url: &str) {
    let store = Store::connect(url).await.unwrap();
    let first = import(&store, &dataset(None, None)).await;
    assert_eq!(
        (
            first.services,
            first.added,
            first.changed,
            first.retired,
            first.searchable
        ),
        (6, 6, 0, 0, 7)
    );

    // French words near Ottawa, French first, open Tuesday morning: Vanier
    // (French, 3.5 km) before the Centretown cupboard (English only, found by
    // its taxonomy term's French name "Banques alimentaires"); Orléans is
    // closed on Tuesdays and Toronto is 350 km away.
    let a = find(
        &store,
        &[
            ("q", "banque alimentaire"),
            ("near", "region:east"),
            ("lang", "fr"),
            ("open", TUESDAY),
        ],
    )
    .await;
    assert_eq!(ids(&a), ["s-vanier", "s-cupboard"], "{a:#?}");
    assert_eq!(a.at, TUESDAY);
    let vanier = &a.results[0];
    assert_eq!(vanier.open, Some(true));
    assert_eq!(vanier.languages, ["en", "fr"]);
    assert_eq!(vanier.codes, ["BD-1800.2000"]);
    assert_eq!(vanier.distance_km, Some(3.5));
    assert_eq!(vanier.hours[0].days, ["mon", "tue", "wed", "thu", "fri"]);
    assert_eq!(
        vanier.address.as_deref(),
        Some("1 Main St, Ottawa, ON K1L 5X1")
    );
    assert_eq!(a.near.as_ref().unwrap().label, "east");

    // Without accents, in English, on a Saturday: only Orléans is open.
    let a = find(
        &store,
        &[("q", "orleans food"), ("open", "2026-12-05T11:00")],
    )
    .await;
    assert_eq!(ids(&a), ["s-orleans"]);
    let a = find(
        &store,
        &[
            ("q", "food bank"),
            ("open", "2026-12-05T11:00"),
            ("near", "region:east"),
        ],
    )
    .await;
    assert_eq!(ids(&a), ["s-orleans"]);

    // Not open-filtered: every food bank within 100 km, nearest best; each
    // says whether it is open at the time asked.
    let a = find(
        &store,
        &[("code", "BD-1800"), ("near", "region:east"), ("open", "")],
    )
    .await;
    assert_eq!(ids(&a), ["s-cupboard", "s-vanier", "s-orleans"], "{a:#?}");

    // A code alone, province-wide: the Toronto food bank too.
    let a = find(&store, &[("code", "BD-1800.2000")]).await;
    assert_eq!(a.results.len(), 4);

    // Eligibility words; a service at two places is listed once, at the
    // place nearer the postal area asked about.
    let a = find(
        &store,
        &[("eligibility", "seniors"), ("near", "postal:K1L")],
    )
    .await;
    assert_eq!(ids(&a), ["s-meals"]);
    assert_eq!(a.results[0].location_id.as_deref(), Some("l-vanier-2"));
    assert_eq!(a.near.as_ref().unwrap().label, "K1L");

    // On Christmas only the shelter open around the clock is open.
    let a = find(&store, &[("q", "ottawa"), ("open", "2026-12-25T10:30")]).await;
    assert_eq!(ids(&a), ["s-shelter"]);

    // French for the shelter, from its French name.
    let a = find(&store, &[("q", "refuge"), ("near", "45.42,-75.69")]).await;
    assert_eq!(ids(&a), ["s-shelter"]);

    // A postal area the directory has no location in is refused with the reason.
    let p: BTreeMap<String, String> = [
        ("q".to_string(), "food".to_string()),
        ("near".to_string(), "postal:Z9Z".to_string()),
    ]
    .into();
    let err = search(
        &store,
        &Search::from_params(&p).unwrap(),
        &TimeZone::UTC,
        jiff::Timestamp::now(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "near: no service in the directory is in postal area Z9Z: try the caller's region"
    );
}
crate::on_both_backends!(
    directory_search,
    searches_find_and_rank_as_worked_out_by_hand
);

async fn a_re_import_updates_retires_and_keeps_referrals_by_id(url: &str) {
    let store = Store::connect(url).await.unwrap();
    import(&store, &dataset(None, None)).await;
    let again = import(&store, &dataset(None, None)).await;
    assert_eq!((again.added, again.changed, again.retired), (0, 0, 0));
    let second = import(
        &store,
        &dataset(
            Some("s-toronto"),
            Some(("s-cupboard", "Centretown Community Cupboard")),
        ),
    )
    .await;
    assert_eq!((second.added, second.changed, second.retired), (0, 1, 1));
    let a = find(&store, &[("code", "BD-1800.2000")]).await;
    assert_eq!(a.results.len(), 3);
    assert!(
        a.results
            .iter()
            .any(|r| r.name == "Centretown Community Cupboard")
    );

    // A call logged with a referral to the retired service by its id: kept.
    sqlx::query(
        "INSERT INTO call_records (call_id, caller, dialled, arrived_ms, language, last_step) \
         VALUES ('c1', '+16135550100', '211', 1000, 'en', 'ended')",
    )
    .execute(store.pool())
    .await
    .unwrap();
    let referral = |id: &str| Referral {
        name: "Daily Bread Food Bank".into(),
        code: Some("BD-1800.2000".into()),
        phone: None,
        service_id: Some(id.into()),
    };
    let mut log = CallLog {
        call_id: "c1".into(),
        needs: vec![Need {
            code: "BD-1800".into(),
            met: true,
            unmet_reason: None,
        }],
        referrals: vec![referral("s-toronto")],
        ..CallLog::default()
    };
    store
        .save_call_log("nav1", "k1", &log, false, 2_000)
        .await
        .unwrap();
    let saved = store.current_log("c1").await.unwrap().unwrap();
    assert_eq!(
        saved.log.referrals[0].service_id.as_deref(),
        Some("s-toronto")
    );

    // An id the directory never had is refused, naming the field.
    log.referrals = vec![referral("s-vanier"), referral("no-such-service")];
    let err = store
        .save_call_log("nav1", "k2", &log, false, 3_000)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "referrals[1].service_id: no-such-service is not in the community directory"
    );

    // The caller's next call shows the referral in their history.
    let history = store
        .previous_contacts(
            &frontdoor_cti::protocol::Caller::Number("+16135550100".into()),
            Some("c2"),
            5,
        )
        .await
        .unwrap();
    assert_eq!(
        history[0].referrals[0].service_id.as_deref(),
        Some("s-toronto")
    );
}
crate::on_both_backends!(
    directory_reimport,
    a_re_import_updates_retires_and_keeps_referrals_by_id
);

async fn the_api_searches_for_any_account_and_notes_the_search(url: &str) {
    let s = crate::server::start(crate::server::config(url)).await;
    import(s.cti.store(), &dataset(None, None)).await;
    use frontdoor_cti::protocol::Role;
    s.add_user("nav1", Role::Navigator, "ottawa").await;
    let nav = s.login("nav1").await;
    assert_eq!(
        s.http("GET", "/api/directory/search?q=food", None, None)
            .await
            .status,
        401
    );
    let r = s
        .http(
            "GET",
            &format!("/api/directory/search?q=banque+alimentaire&near=region%3Aeast&lang=fr&open={TUESDAY}&call_id=c9"),
            Some(&nav),
            None,
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json["results"][0]["service_id"], "s-vanier");
    assert_eq!(r.json["results"][0]["open"], true);
    assert_eq!(r.json["results"][0]["hours"][0]["opens"], "09:00");
    assert_eq!(r.json["near"]["label"], "east");
    for (query, reason) in [
        (
            "q=food&near=postal%3AK1",
            "near: a postal area is 3 characters like K1N",
        ),
        (
            "q=food&open=soon",
            "open: now, or a local time like 2026-12-03T14:30",
        ),
        (
            "",
            "q: say what to look for: words, a taxonomy code or a place",
        ),
    ] {
        let r = s
            .http(
                "GET",
                &format!("/api/directory/search?{query}"),
                Some(&nav),
                None,
            )
            .await;
        assert_eq!(r.status, 400, "{query}");
        assert_eq!(r.json["error"], reason, "{query}");
    }
    let row: (String, String, i64) = {
        use sqlx::Row;
        let r =
            sqlx::query("SELECT username, words, results FROM dir_searches WHERE call_id = 'c9'")
                .fetch_one(s.cti.store().pool())
                .await
                .unwrap();
        (r.get(0), r.get(1), r.get(2))
    };
    assert_eq!(row, ("nav1".into(), "banque alimentaire".into(), 2));
}
crate::on_both_backends!(
    directory_api,
    the_api_searches_for_any_account_and_notes_the_search
);

/// A call that arrived on 2026-01-12 at 11:00 in Toronto, minute `n` after.
async fn january_call(store: &Store, id: &str, n: i64) -> i64 {
    let at = jiff::civil::date(2026, 1, 12)
        .at(11, 0, 0, 0)
        .to_zoned(TimeZone::get("America/Toronto").unwrap())
        .unwrap()
        .timestamp()
        .as_millisecond()
        + n * 60_000;
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO call_records (call_id, caller, dialled, arrived_ms, ended_ms, language, region, centre, \
         navigator, disposition, last_step) VALUES ('{id}', '+16135550{n:03}', '211', {at}, {}, 'en', 'east', \
         'ottawa', 'nav1', 'answered', 'ended')",
        at + 120_000
    )))
    .execute(store.pool())
    .await
    .unwrap();
    at
}

async fn the_reports_count_referrals_by_service_and_what_was_searched_when_nothing_was_found(
    url: &str,
) {
    use frontdoor_cti::protocol::UnmetReason;
    use frontdoor_cti::reports::{self, Kind, Query, ReportsConfig};
    let store = Store::connect(url).await.unwrap();
    import(&store, &dataset(None, None)).await;
    let referral = |id: Option<&str>, name: &str| Referral {
        name: name.into(),
        code: None,
        phone: None,
        service_id: id.map(str::to_string),
    };
    let unmet = |code: &str| Need {
        code: code.into(),
        met: false,
        unmet_reason: Some(UnmetReason::NoService),
    };
    // Six calls referred to Vanier (the first also to an agency typed by
    // hand), one to the Centretown cupboard. Five of the six had a food need
    // no service met, searched as "banque alimentaire" (the first also as
    // "Halal  food"); the sixth a shelter need, searched for not at all.
    for n in 1..=7 {
        let id = format!("k{n}");
        let at = january_call(&store, &id, n).await;
        let mut log = CallLog {
            call_id: id.clone(),
            needs: vec![],
            referrals: vec![if n == 7 {
                referral(Some("s-cupboard"), "Centretown Food Cupboard")
            } else {
                referral(Some("s-vanier"), "Vanier Food Bank")
            }],
            ..CallLog::default()
        };
        if n == 1 {
            log.referrals.push(referral(None, "Some agency"));
        }
        match n {
            1..=5 => {
                log.needs.push(unmet("BD-1800"));
                store
                    .record_directory_search(at, Some(&id), "nav1", "banque alimentaire", None, 0)
                    .await
                    .unwrap();
                if n == 1 {
                    store
                        .record_directory_search(at, Some(&id), "nav1", "Halal  food", None, 0)
                        .await
                        .unwrap();
                }
            }
            6 => log.needs.push(unmet("BH-1800")),
            _ => log.needs.push(Need {
                code: "BD-1800".into(),
                met: true,
                unmet_reason: None,
            }),
        }
        store
            .save_call_log("nav1", &format!("c{n}"), &log, false, at + 200_000)
            .await
            .unwrap();
    }
    let run = |kind: Kind, below: u64| {
        let store = store.clone();
        async move {
            let q = Query {
                kind,
                from: jiff::civil::date(2026, 1, 1),
                to: jiff::civil::date(2026, 1, 31),
                centre: None,
                region: None,
                by: None,
                split: None,
                tag: None,
                french: false,
            };
            let tz = TimeZone::get("America/Toronto").unwrap();
            reports::run(
                &store,
                &ReportsConfig::default(),
                &tz,
                jiff::civil::date(2026, 2, 10),
                &q,
                below,
            )
            .await
            .unwrap()
            .to_csv()
        }
    };
    assert_eq!(
        run(Kind::Referrals, 0).await,
        "period,organization,service,service_id,referrals\n\
         2026-01-01..2026-01-31,,not_from_directory,,1\n\
         2026-01-01..2026-01-31,Community Services of Ottawa,Centretown Food Cupboard,s-cupboard,1\n\
         2026-01-01..2026-01-31,Community Services of Ottawa,Vanier Food Bank,s-vanier,6\n\
         total,,,,8\n"
    );
    assert_eq!(
        run(Kind::NoService, 0).await,
        "period,code,code_name,searched,needs\n\
         2026-01-01..2026-01-31,BD-1800,Emergency Food,banque alimentaire,5\n\
         2026-01-01..2026-01-31,BD-1800,Emergency Food,halal food,1\n\
         2026-01-01..2026-01-31,BH-1800,Emergency Shelter,not_searched,1\n\
         total,,,,6\n"
    );
    // Suppressed: words searched in fewer than five calls are not shown.
    assert_eq!(
        run(Kind::NoService, 5).await,
        "period,code,code_name,searched,needs\n\
         2026-01-01..2026-01-31,BD-1800,Emergency Food,banque alimentaire,5\n\
         2026-01-01..2026-01-31,BD-1800,Emergency Food,other,<5\n\
         2026-01-01..2026-01-31,BH-1800,Emergency Shelter,not_searched,<5\n\
         total,,,,6\n"
    );
}
crate::on_both_backends!(
    directory_reports,
    the_reports_count_referrals_by_service_and_what_was_searched_when_nothing_was_found
);

fn example(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/hsds")
        .join(name)
}

async fn the_example_files_import_in_either_form_and_a_broken_copy_changes_nothing(url: &str) {
    use frontdoor_cti::directory;
    let store = Store::connect(url).await.unwrap();
    let csv = directory::import(&store, &example("example"), "test")
        .await
        .unwrap();
    assert_eq!((csv.services, csv.organizations, csv.added), (5, 3, 5));
    // The same dataset as JSON: nothing to change.
    let json = directory::import(&store, &example("example.json"), "test")
        .await
        .unwrap();
    assert_eq!(
        (json.services, json.added, json.changed, json.retired),
        (5, 0, 0, 0)
    );
    let a = find(&store, &[("q", "banque alimentaire vanier")]).await;
    assert_eq!(a.results[0].name, "Vanier Food Bank", "{a:#?}");

    // A broken copy: an organisation that is not there, a latitude off the
    // globe. Every problem is said at its file and line; nothing changes.
    let dir = crate::db::TempDir::new("hsds");
    for entry in std::fs::read_dir(example("example")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), dir.0.join(entry.file_name())).unwrap();
    }
    let edit = |file: &str, from: &str, to: &str| {
        let path = dir.0.join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.contains(from), "{file}: {from}");
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
    };
    edit(
        "services.csv",
        "b2000000-0000-4000-8000-000000000005,a1000000-0000-4000-8000-000000000003,Rent Bank",
        "b2000000-0000-4000-8000-000000000005,a1000000-0000-4000-8000-000000000099,Rent Bank",
    );
    let services = std::fs::read_to_string(dir.0.join("services.csv")).unwrap();
    let line = services
        .lines()
        .position(|l| l.contains("Rent Bank"))
        .unwrap()
        + 1;
    let err = directory::import(&store, &dir.0, "test")
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        format!(
            "services.csv:{line}: organization_id \"a1000000-0000-4000-8000-000000000099\" is not in organizations.csv"
        )
    );
    let a = find(&store, &[("q", "tenant rights")]).await;
    assert_eq!(a.results.len(), 1, "the store kept the last good import");
    // The rent bank is temporarily closed: kept (for the logs), not offered.
    assert!(find(&store, &[("q", "rent bank")]).await.results.is_empty());
}
crate::on_both_backends!(
    directory_examples,
    the_example_files_import_in_either_form_and_a_broken_copy_changes_nothing
);
