//! A navigator's search: parameters checked into a [`Search`], candidates
//! from the store's full-text index, then filtered and ranked here.
//!
//! Ranking: with `lang`, services offering that language come first; then
//! by how well the words matched (normalised to the best match) plus
//! nearness (a service 0 km away scores 1, 15 km away about 0.37);
//! one row per service, at its best location. With `near`, services
//! farther than `within_km` (default 100) are left out; services with no
//! coordinates (phone and online services) stay, ranked as if 20 km away.
//! Near somewhere, the index is asked ring by ring (`RINGS_KM`: 15 km,
//! 40 km, then `within_km`), and the first ring with as many services as
//! asked for is the answer: the nearest services, without reading the
//! rows of a whole province.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use serde::Serialize;

use super::REGION_PLACES;
use super::hours::{Hours, Weekly};
use super::text::{self, Grid};
use crate::Store;
use crate::error::{Error, Result};
use crate::store::{Candidate, CandidateQuery, Shown};

/// Where distances are measured from.
#[derive(Debug, Clone, PartialEq)]
pub enum Near {
    Region(String),
    PostalArea(String),
    Point(f64, f64),
}

/// When the service must be open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Open {
    Now,
    At(DateTime),
}

/// A checked search.
#[derive(Debug, Clone, PartialEq)]
pub struct Search {
    pub words: String,
    pub code: Option<String>,
    pub eligibility: Option<String>,
    pub near: Option<Near>,
    pub within_km: f64,
    pub language: Option<String>,
    pub open: Option<Open>,
    pub call_id: Option<String>,
    pub limit: usize,
}

/// The most results one search returns.
pub const MAX_LIMIT: usize = 50;
/// How many rows the index hands over for ranking.
const CANDIDATES: i64 = 1500;
/// The rings of a search near somewhere, in km, with the map grid each
/// asks the index for: searched nearest first, the next only when a ring
/// has fewer services than asked for; the last is `within_km`.
const RINGS_KM: [(f64, Grid); 2] = [(15.0, Grid::Fine), (40.0, Grid::Coarse)];

fn field(field: &str, reason: impl Into<String>) -> Error {
    Error::Field {
        field: field.into(),
        reason: reason.into(),
    }
}

impl Search {
    /// The search the query parameters ask for; a parameter in error is an
    /// [`Error::Field`] naming it.
    pub fn from_params(params: &BTreeMap<String, String>) -> Result<Search> {
        let get = |k: &str| {
            params
                .get(k)
                .map(|v| v.trim())
                .filter(|v| !v.is_empty())
                .map(str::to_string)
        };
        for k in params.keys() {
            if !matches!(
                k.as_str(),
                "q" | "code"
                    | "eligibility"
                    | "near"
                    | "within_km"
                    | "lang"
                    | "open"
                    | "call_id"
                    | "limit"
            ) {
                return Err(field(
                    k,
                    "unknown parameter: use q, code, eligibility, near, within_km, lang, open, call_id or limit",
                ));
            }
        }
        let words = get("q").unwrap_or_default();
        if words.chars().count() > 200 {
            return Err(field("q", "at most 200 characters"));
        }
        let code = get("code");
        if let Some(c) = &code
            && (c.len() > 40
                || !c
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.".contains(c)))
        {
            return Err(field("code", "a taxonomy code like BD-1800"));
        }
        let near = match get("near") {
            None => None,
            Some(n) => Some(parse_near(&n)?),
        };
        let within_km = match get("within_km") {
            None => 100.0,
            Some(v) => match v.parse::<f64>() {
                Ok(k) if (1.0..=2000.0).contains(&k) => k,
                _ => return Err(field("within_km", "a distance in km from 1 to 2000")),
            },
        };
        let language = match get("lang") {
            None => None,
            Some(l) if (2..=3).contains(&l.len()) && l.chars().all(|c| c.is_ascii_alphabetic()) => {
                Some(l.to_ascii_lowercase())
            }
            Some(_) => return Err(field("lang", "a language code like fr or en")),
        };
        let open = match get("open").as_deref() {
            None => None,
            Some("now") => Some(Open::Now),
            Some(t) => match t.parse::<DateTime>() {
                Ok(dt) => Some(Open::At(dt)),
                Err(_) => return Err(field("open", "now, or a local time like 2026-12-03T14:30")),
            },
        };
        let limit = match get("limit") {
            None => 20,
            Some(v) => match v.parse::<usize>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => n,
                _ => return Err(field("limit", format!("a number from 1 to {MAX_LIMIT}"))),
            },
        };
        let call_id = get("call_id");
        if call_id.as_ref().is_some_and(|c| c.len() > 200) {
            return Err(field("call_id", "too long"));
        }
        let eligibility = get("eligibility");
        let search = Search {
            words,
            code,
            eligibility,
            near,
            within_km,
            language,
            open,
            call_id,
            limit,
        };
        if search.clauses().is_empty() && search.near.is_none() {
            return Err(field(
                "q",
                "say what to look for: words, a taxonomy code or a place",
            ));
        }
        Ok(search)
    }

    fn clauses(&self) -> Vec<text::Clause> {
        text::query(
            &self.words,
            self.code.as_deref(),
            self.eligibility.as_deref(),
        )
    }
}

fn parse_near(n: &str) -> Result<Near> {
    if let Some(r) = n.strip_prefix("region:") {
        if REGION_PLACES.iter().any(|(id, ..)| *id == r) {
            return Ok(Near::Region(r.to_string()));
        }
        let ids: Vec<&str> = REGION_PLACES.iter().map(|(id, ..)| *id).collect();
        return Err(field(
            "near",
            format!("unknown region {r:?}: use one of {}", ids.join(", ")),
        ));
    }
    if let Some(p) = n.strip_prefix("postal:") {
        let area = super::prepare::postal_area(p);
        return match area {
            Some(a) if p.trim().len() == 3 => Ok(Near::PostalArea(a)),
            _ => Err(field("near", "a postal area is 3 characters like K1N")),
        };
    }
    if let Some((a, b)) = n.split_once(',')
        && let (Ok(lat), Ok(lon)) = (a.trim().parse::<f64>(), b.trim().parse::<f64>())
    {
        if (-90.0..=90.0).contains(&lat) && (-180.0..=180.0).contains(&lon) {
            return Ok(Near::Point(lat, lon));
        }
        return Err(field("near", "latitude -90..90, longitude -180..180"));
    }
    Err(field("near", "region:ID, postal:K1N or LAT,LON"))
}

/// Great-circle distance in km.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (la1, lo1, la2, lo2) = (
        a.0.to_radians(),
        a.1.to_radians(),
        b.0.to_radians(),
        b.1.to_radians(),
    );
    let h = ((la2 - la1) / 2.0).sin().powi(2)
        + la1.cos() * la2.cos() * ((lo2 - lo1) / 2.0).sin().powi(2);
    2.0 * 6371.0 * h.sqrt().asin()
}

/// Where a search measured from.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Place {
    pub label: String,
    pub lat: f64,
    pub lon: f64,
}

/// One service found.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Found {
    pub service_id: String,
    pub location_id: Option<String>,
    pub name: String,
    pub alternate_name: Option<String>,
    pub organization: String,
    pub description: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub hours: Vec<Weekly>,
    pub hours_note: Option<String>,
    pub open: Option<bool>,
    pub languages: Vec<String>,
    pub distance_km: Option<f64>,
    pub codes: Vec<String>,
    pub eligibility: Option<String>,
    pub url: Option<String>,
}

/// What a search answers.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Answer {
    /// The local time `open` refers to, `YYYY-MM-DDTHH:MM`.
    pub at: String,
    pub near: Option<Place>,
    pub results: Vec<Found>,
}

/// Runs a search at `now` (in `tz`, the centres' time zone).
pub async fn search(
    store: &Store,
    s: &Search,
    tz: &TimeZone,
    now: jiff::Timestamp,
) -> Result<Answer> {
    let place = match &s.near {
        None => None,
        Some(Near::Region(r)) => {
            REGION_PLACES
                .iter()
                .find(|(id, ..)| id == r)
                .map(|(id, _, lat, lon)| Place {
                    label: (*id).to_string(),
                    lat: *lat,
                    lon: *lon,
                })
        }
        Some(Near::PostalArea(a)) => match store.postal_area_place(a).await? {
            Some((lat, lon)) => Some(Place {
                label: a.clone(),
                lat,
                lon,
            }),
            None => {
                return Err(field(
                    "near",
                    format!(
                        "no service in the directory is in postal area {a}: try the caller's region"
                    ),
                ));
            }
        },
        Some(Near::Point(lat, lon)) => Some(Place {
            label: format!("{lat:.4},{lon:.4}"),
            lat: *lat,
            lon: *lon,
        }),
    };
    let local = match s.open {
        Some(Open::At(dt)) => dt,
        _ => now.to_zoned(tz.clone()).datetime(),
    };
    let holiday = frontdoor_ivr::schedule::ontario_holiday(local.date()).is_some();
    let worded = !text::query(&s.words, None, None).is_empty();
    let lang_token = s.language.as_ref().map(|l| format!(" {l} "));
    let word_clauses = s.clauses();
    // Near somewhere, ring by ring (see RINGS_KM).
    let rings: Vec<Option<(f64, Grid)>> = match &place {
        None => vec![None],
        Some(_) => {
            let mut rings: Vec<Option<(f64, Grid)>> = RINGS_KM
                .iter()
                .filter(|(km, _)| *km < s.within_km)
                .map(|r| Some(*r))
                .collect();
            let grid = if s.within_km <= RINGS_KM[0].0 {
                Grid::Fine
            } else {
                Grid::Coarse
            };
            rings.push(Some((s.within_km, grid)));
            rings
        }
    };
    struct Scored {
        tier: u8,
        score: f64,
        candidate: Candidate,
        hours: Hours,
        open: Option<bool>,
        distance: Option<f64>,
    }
    let mut best: HashMap<String, Scored> = HashMap::new();
    for ring in rings {
        best.clear();
        let bbox = match (ring, &place) {
            (Some((km, _)), Some(p)) => {
                let dlat = km / 111.0;
                let dlon = km / (111.0 * p.lat.to_radians().cos().max(0.01));
                Some((p.lat - dlat, p.lat + dlat, p.lon - dlon, p.lon + dlon))
            }
            _ => None,
        };
        let within = ring.map_or(s.within_km, |(km, _)| km);
        let mut clauses = word_clauses.clone();
        // The index itself keeps to the map cells around the place.
        if let (Some((_, grid)), Some(b)) = (ring, bbox)
            && !clauses.is_empty()
        {
            clauses.push(text::cells_within(grid, b));
        }
        let (fts5, tsquery) = if clauses.is_empty() {
            (None, None)
        } else {
            (Some(text::fts5(&clauses)), Some(text::tsquery(&clauses)))
        };
        let candidates = store
            .directory_candidates(&CandidateQuery {
                fts5,
                tsquery,
                bbox,
                ranked: worded,
                centre: place.as_ref().map(|p| (p.lat, p.lon)),
                limit: CANDIDATES,
            })
            .await?;
        let best_rank = candidates.iter().map(|c| c.rank).fold(0.0_f64, f64::max);
        for c in candidates {
            let hours: Hours = serde_json::from_str(&c.hours).unwrap_or_default();
            let open = hours.open_at(local, holiday);
            if s.open.is_some() && open != Some(true) {
                continue;
            }
            let distance = match (&place, c.lat, c.lon) {
                (Some(p), Some(lat), Some(lon)) => Some(distance_km((p.lat, p.lon), (lat, lon))),
                _ => None,
            };
            if distance.is_some_and(|d| d > within) {
                continue;
            }
            let text_score = if best_rank > 0.0 {
                c.rank / best_rank
            } else {
                0.0
            };
            let near_score = match (&place, distance) {
                (None, _) => 0.0,
                (Some(_), Some(d)) => (-d / 15.0).exp(),
                (Some(_), None) => (-20.0_f64 / 15.0).exp(),
            };
            let tier = u8::from(
                lang_token
                    .as_ref()
                    .is_some_and(|t| c.languages.contains(t.as_str())),
            );
            let score = text_score + near_score;
            let better = best
                .get(&c.service_id)
                .is_none_or(|b| (tier, score) > (b.tier, b.score));
            if better {
                best.insert(
                    c.service_id.clone(),
                    Scored {
                        tier,
                        score,
                        candidate: c,
                        hours,
                        open,
                        distance,
                    },
                );
            }
        }
        if best.len() >= s.limit {
            break;
        }
    }
    let mut ranked: Vec<Scored> = best.into_values().collect();
    // Ties (the same score) in a stable order: by service id.
    ranked.sort_by(|a, b| {
        b.tier
            .cmp(&a.tier)
            .then(b.score.total_cmp(&a.score))
            .then_with(|| a.candidate.service_id.cmp(&b.candidate.service_id))
    });
    ranked.truncate(s.limit);
    let rows: Vec<i64> = ranked.iter().map(|r| r.candidate.row).collect();
    let mut shown: HashMap<i64, Shown> = store
        .directory_rows(&rows)
        .await?
        .into_iter()
        .map(|r| (r.row, r))
        .collect();
    let results = ranked
        .into_iter()
        .filter_map(|r| {
            let d = shown.remove(&r.candidate.row)?;
            Some(Found {
                service_id: r.candidate.service_id,
                location_id: d.location_id,
                name: d.name,
                alternate_name: d.alternate_name,
                organization: d.organization,
                description: d.description,
                phone: d.phone,
                address: d.address,
                hours: r.hours.weekly(),
                hours_note: r.hours.note.clone(),
                open: r.open,
                languages: r
                    .candidate
                    .languages
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
                distance_km: r.distance.map(|d| (d * 10.0).round() / 10.0),
                codes: d.codes.split_whitespace().map(str::to_string).collect(),
                eligibility: d.eligibility,
                url: d.url,
            })
        })
        .collect();
    Ok(Answer {
        at: local.strftime("%Y-%m-%dT%H:%M").to_string(),
        near: place,
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_in_error_name_themselves() {
        let err = |p: &[(&str, &str)]| Search::from_params(&params(p)).unwrap_err().to_string();
        assert_eq!(
            err(&[("q", "food"), ("near", "postal:K1")]),
            "near: a postal area is 3 characters like K1N"
        );
        assert!(
            err(&[("q", "food"), ("near", "region:mars")])
                .starts_with("near: unknown region \"mars\"")
        );
        assert_eq!(
            err(&[("q", "food"), ("open", "tuesday")]),
            "open: now, or a local time like 2026-12-03T14:30"
        );
        assert_eq!(
            err(&[("q", "food"), ("limit", "500")]),
            "limit: a number from 1 to 50"
        );
        assert_eq!(
            err(&[]),
            "q: say what to look for: words, a taxonomy code or a place"
        );
        assert_eq!(
            err(&[("q", "the of")]),
            "q: say what to look for: words, a taxonomy code or a place"
        );
        assert!(err(&[("q", "food"), ("colour", "red")]).starts_with("colour: unknown parameter"));
    }

    #[test]
    fn a_full_search_reads() {
        let s = Search::from_params(&params(&[
            ("q", "banque alimentaire"),
            ("near", "region:east"),
            ("lang", "FR"),
            ("open", "2026-12-01T10:30"),
            ("code", "BD-1800"),
        ]))
        .unwrap();
        assert_eq!(s.near, Some(Near::Region("east".into())));
        assert_eq!(s.language.as_deref(), Some("fr"));
        assert_eq!(s.open, Some(Open::At("2026-12-01T10:30".parse().unwrap())));
        assert_eq!(s.limit, 20);
        assert_eq!(
            Search::from_params(&params(&[("near", "45.42, -75.69")]))
                .unwrap()
                .near,
            Some(Near::Point(45.42, -75.69))
        );
    }

    #[test]
    fn distances_are_great_circle_km() {
        // Ottawa to Toronto is about 352 km.
        let d = distance_km((45.4215, -75.6972), (43.6532, -79.3832));
        assert!((d - 352.0).abs() < 5.0, "{d}");
    }
}
