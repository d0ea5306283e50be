//! A checked dataset to the rows the store keeps: one per organisation,
//! one per service (with its record as imported, to tell what changed),
//! and one search row per service at a location.

use std::collections::HashMap;

use serde_json::json;

use super::hours::Hours;
use super::model::{Address, Dataset, Language, Phone, Schedule, Service};
use super::text::{Document, terms};

/// An organisation as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct OrganizationRow {
    pub id: String,
    pub name: String,
    pub doc: String,
}

/// A service as stored: what a referral points at.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceRow {
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub organization: String,
    pub status: String,
    pub codes: Vec<String>,
    pub doc: String,
}

/// What a search finds: a service at one of its locations.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchRow {
    pub service_id: String,
    pub location_id: Option<String>,
    pub name: String,
    pub alternate_name: Option<String>,
    pub organization: String,
    pub description: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub postal_area: Option<String>,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub languages: Vec<String>,
    pub codes: Vec<String>,
    pub eligibility: Option<String>,
    pub url: Option<String>,
    pub hours: Hours,
    pub terms: String,
}

/// Everything an import writes.
#[derive(Debug, Default)]
pub struct Prepared {
    pub organizations: Vec<OrganizationRow>,
    pub services: Vec<ServiceRow>,
    pub rows: Vec<SearchRow>,
}

/// A language as a two-letter code where one exists (`fra` → `fr`).
pub fn language_code(l: &Language) -> Option<String> {
    let code = l.code.as_deref().map(str::trim).unwrap_or("");
    let name = l.name.as_deref().map(str::trim).unwrap_or("");
    let c = match code.to_ascii_lowercase().as_str() {
        "eng" => "en".to_string(),
        "fra" | "fre" => "fr".to_string(),
        "" => match name.to_lowercase().as_str() {
            "english" | "anglais" => "en".into(),
            "french" | "français" | "francais" => "fr".into(),
            _ => return None,
        },
        c => c.split(['-', '_']).next().unwrap_or(c).to_string(),
    };
    Some(c)
}

/// `K1N 5X1` → `K1N`; `None` for anything not shaped like a Canadian postal code.
pub fn postal_area(code: &str) -> Option<String> {
    let c: String = code
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(3)
        .collect();
    let c = c.to_ascii_uppercase();
    let b = c.as_bytes();
    (b.len() == 3
        && b[0].is_ascii_alphabetic()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_alphabetic())
    .then_some(c)
}

fn address_line(a: &Address) -> String {
    let mut s = a.address_1.clone();
    if let Some(two) = a.address_2.as_deref().filter(|s| !s.is_empty()) {
        s.push_str(", ");
        s.push_str(two);
    }
    format!("{s}, {}, {} {}", a.city, a.state_province, a.postal_code)
        .trim()
        .to_string()
}

fn phone_text(p: &Phone) -> String {
    match &p.extension {
        Some(x) if !x.is_empty() => format!("{} ext. {x}", p.number),
        _ => p.number.clone(),
    }
}

/// Groups `items` by a link column.
fn by<'a, T>(items: &'a [T], key: impl Fn(&T) -> Option<&str>) -> HashMap<&'a str, Vec<&'a T>>
where
    T: 'a,
{
    let mut map: HashMap<&str, Vec<&T>> = HashMap::new();
    for item in items {
        if let Some(k) = key(item) {
            map.entry(k).or_default().push(item);
        }
    }
    map
}

/// The first non-empty list of the candidates, in order of precedence.
fn first<'a, T>(lists: &[Option<&'a Vec<&'a T>>]) -> &'a [&'a T] {
    lists
        .iter()
        .flatten()
        .find(|l| !l.is_empty())
        .map(|l| l.as_slice())
        .unwrap_or(&[])
}

/// The rows of a checked dataset. `taxonomy` gives each code's English and
/// French names (the store's taxonomy), indexed with the services coded so,
/// so a search in either language finds a service described in one.
pub fn prepare(ds: &Dataset, taxonomy: &HashMap<String, (String, String)>) -> Prepared {
    let orgs: HashMap<&str, &super::model::Organization> = ds
        .organizations
        .iter()
        .map(|o| (o.id.as_str(), o))
        .collect();
    let terms_by_id: HashMap<&str, &super::model::TaxonomyTerm> = ds
        .taxonomy_terms
        .iter()
        .map(|t| (t.id.as_str(), t))
        .collect();
    let locations: HashMap<&str, &super::model::Location> =
        ds.locations.iter().map(|l| (l.id.as_str(), l)).collect();
    let addresses = by(&ds.addresses, |a: &Address| Some(a.location_id.as_str()));
    let sals = by(&ds.service_at_locations, |s| Some(s.service_id.as_str()));
    let phones_s = by(&ds.phones, |p: &Phone| p.service_id.as_deref());
    let phones_l = by(&ds.phones, |p: &Phone| p.location_id.as_deref());
    let phones_sal = by(&ds.phones, |p: &Phone| p.service_at_location_id.as_deref());
    let phones_o = by(&ds.phones, |p: &Phone| p.organization_id.as_deref());
    let sched_s = by(&ds.schedules, |s: &Schedule| s.service_id.as_deref());
    let sched_l = by(&ds.schedules, |s: &Schedule| s.location_id.as_deref());
    let sched_sal = by(&ds.schedules, |s: &Schedule| {
        s.service_at_location_id.as_deref()
    });
    let langs_s = by(&ds.languages, |l: &Language| l.service_id.as_deref());
    let langs_l = by(&ds.languages, |l: &Language| l.location_id.as_deref());
    let attrs = by(&ds.attributes, |a| Some(a.link_id.as_str()));

    let mut out = Prepared::default();
    for o in &ds.organizations {
        out.organizations.push(OrganizationRow {
            id: o.id.clone(),
            name: o.name.clone(),
            doc: json!({
                "name": o.name, "alternate_name": o.alternate_name,
                "description": o.description, "email": o.email, "website": o.website,
            })
            .to_string(),
        });
    }
    for s in &ds.services {
        let org = orgs.get(s.organization_id.as_str());
        let organization = org.map(|o| o.name.clone()).unwrap_or_default();
        let codes_of = |id: &str| -> Vec<String> {
            attrs
                .get(id)
                .into_iter()
                .flatten()
                .filter_map(|a| terms_by_id.get(a.taxonomy_term_id.as_str()))
                .filter_map(|t| t.code.clone())
                .collect()
        };
        let mut codes = codes_of(&s.id);
        codes.sort_unstable();
        codes.dedup();
        let langs = |list: &[&Language]| -> Vec<String> {
            let mut v: Vec<String> = list.iter().filter_map(|l| language_code(l)).collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let service_langs = langs(first(&[langs_s.get(s.id.as_str())]));
        let service_sals = sals.get(s.id.as_str()).cloned().unwrap_or_default();
        let located: Vec<serde_json::Value> = service_sals
            .iter()
            .map(|sal| {
                let l = sal.location_id.as_str();
                let loc = locations.get(l);
                let mut schedules: Vec<&Schedule> =
                    sched_sal.get(sal.id.as_str()).cloned().unwrap_or_default();
                schedules.extend(sched_l.get(l).into_iter().flatten());
                json!({
                    "id": l,
                    "name": loc.and_then(|x| x.name.clone()),
                    "latitude": loc.and_then(|x| x.latitude),
                    "longitude": loc.and_then(|x| x.longitude),
                    "address": addresses.get(l).and_then(|a| a.first()).map(|a| address_line(a)),
                    "schedules": schedules.iter().map(|x| json!([x.freq, x.byday, x.bymonthday, x.opens_at, x.closes_at])).collect::<Vec<_>>(),
                })
            })
            .collect();
        out.services.push(ServiceRow {
            id: s.id.clone(),
            organization_id: s.organization_id.clone(),
            name: s.name.clone(),
            organization: organization.clone(),
            status: s.status.clone(),
            codes: codes.clone(),
            doc: service_doc(
                s,
                &organization,
                &codes,
                &service_langs,
                phones_s
                    .get(s.id.as_str())
                    .map(Vec::as_slice)
                    .unwrap_or(&[]),
                sched_s.get(s.id.as_str()).map(Vec::as_slice).unwrap_or(&[]),
                &located,
            ),
        });
        if s.status != "active" {
            continue;
        }
        let mut places: Vec<Option<&super::model::ServiceAtLocation>> =
            service_sals.iter().map(|s| Some(*s)).collect();
        if places.is_empty() {
            places.push(None);
        }
        for sal in places {
            let loc = sal.and_then(|x| locations.get(x.location_id.as_str()).copied());
            let loc_id = loc.map(|l| l.id.as_str());
            let sal_id = sal.map(|x| x.id.as_str());
            let address = loc_id.and_then(|l| addresses.get(l)).and_then(|list| {
                list.iter()
                    .find(|a| a.address_type == "physical")
                    .or(list.first())
                    .copied()
            });
            let phone = first(&[
                sal_id.and_then(|i| phones_sal.get(i)),
                phones_s.get(s.id.as_str()),
                loc_id.and_then(|i| phones_l.get(i)),
                phones_o.get(s.organization_id.as_str()),
            ])
            .first()
            .map(|p| phone_text(p));
            let schedules = first(&[
                sal_id.and_then(|i| sched_sal.get(i)),
                sched_s.get(s.id.as_str()),
                loc_id.and_then(|i| sched_l.get(i)),
            ]);
            let hours = Hours::compile(schedules.iter().copied());
            let languages = if service_langs.is_empty() {
                langs(first(&[loc_id.and_then(|i| langs_l.get(i))]))
            } else {
                service_langs.clone()
            };
            let mut row_codes = codes.clone();
            if let Some(i) = sal_id {
                row_codes.extend(codes_of(i));
                row_codes.sort_unstable();
                row_codes.dedup();
            }
            // The service's own names weigh more than its organisation's
            // (a food bank's clothing counter is not a food bank).
            let mut text: Vec<&str> = vec![&s.name, &s.name, &organization];
            text.extend(s.alternate_name.as_deref());
            text.extend(s.alternate_name.as_deref());
            text.extend(s.description.as_deref());
            text.extend(loc.and_then(|l| l.name.as_deref()));
            text.extend(address.map(|a| a.city.as_str()));
            let names: Vec<&str> = row_codes
                .iter()
                .filter_map(|c| taxonomy.get(c))
                .flat_map(|(en, fr)| [en.as_str(), fr.as_str()])
                .collect();
            text.extend(names);
            text.extend(
                attrs
                    .get(s.id.as_str())
                    .into_iter()
                    .flatten()
                    .filter_map(|a| terms_by_id.get(a.taxonomy_term_id.as_str()))
                    .map(|t| t.name.as_str()),
            );
            let terms = terms(&Document {
                text,
                codes: row_codes.iter().map(String::as_str).collect(),
                languages: languages.iter().map(String::as_str).collect(),
                eligibility: s.eligibility_description.as_deref(),
                place: loc.and_then(|l| Some((l.latitude?, l.longitude?))),
            });
            out.rows.push(SearchRow {
                service_id: s.id.clone(),
                location_id: loc_id.map(str::to_string),
                name: s.name.clone(),
                alternate_name: s.alternate_name.clone(),
                organization: organization.clone(),
                description: s.description.clone(),
                phone,
                address: address.map(address_line),
                postal_area: address.and_then(|a| postal_area(&a.postal_code)),
                lat: loc.and_then(|l| l.latitude),
                lon: loc.and_then(|l| l.longitude),
                languages,
                codes: row_codes,
                eligibility: s.eligibility_description.clone(),
                url: s.url.clone(),
                hours,
                terms,
            });
        }
    }
    out
}

/// The service as imported, what the store keeps to show a retired
/// service's details and to tell whether a re-import changed it.
fn service_doc(
    s: &Service,
    organization: &str,
    codes: &[String],
    languages: &[String],
    phones: &[&Phone],
    schedules: &[&Schedule],
    locations: &[serde_json::Value],
) -> String {
    let schedules: Vec<_> = schedules
        .iter()
        .map(|x| {
            json!([
                x.freq,
                x.byday,
                x.bymonthday,
                x.opens_at,
                x.closes_at,
                x.valid_from,
                x.valid_to,
                x.description
            ])
        })
        .collect();
    let phones: Vec<String> = phones.iter().map(|p| phone_text(p)).collect();
    json!({
        "name": s.name, "alternate_name": s.alternate_name, "description": s.description,
        "organization": organization, "status": s.status, "url": s.url, "email": s.email,
        "eligibility": s.eligibility_description, "fees": s.fees_description,
        "application_process": s.application_process,
        "codes": codes, "languages": languages, "phones": phones,
        "locations": locations, "schedules": schedules,
    })
    .to_string()
}
