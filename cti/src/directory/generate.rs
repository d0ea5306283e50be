//! A synthetic, bilingual community resource directory, for trying the
//! directory out and for tests and benchmarks (real inventories are licensed).
//!
//! Organisations across the six regions of [`super::REGION_PLACES`], weighted
//! roughly by population (Toronto, then the East, the Southwest, Central South,
//! Central and the North), each with one to four services of many kinds —
//! food banks and meals, shelters, distress lines, mental health and
//! addictions, housing help and rent banks, legal clinics, income and
//! employment, seniors, newcomers, children and families — keyed to
//! 211 HSIS taxonomy codes of `flows/taxonomy.csv`. Services of francophone or
//! bilingual organisations (about 60 % in the East and the North, fewer
//! elsewhere) have a French `alternate_name` and a description in both
//! languages; Toronto's also offer many other languages. Addresses are on
//! real streets of real towns with real postal areas (FSAs), coordinates
//! within a few kilometres of the town, phone numbers in the town's area
//! codes but in the fictitious 555-01xx range, web sites under `.example`.
//! Hours are HSDS WEEKLY or MONTHLY rules: mostly weekdays, some evenings and
//! Saturdays, 24/7 for shelters and crisis lines, the 1st and 15th for some
//! food banks.
//!
//! The first organisations are always the same handful of French-speaking
//! food banks in Ottawa, open weekdays 9:00 to 17:00, some also on Saturdays,
//! so that a search for "banque alimentaire" near Ottawa has answers.
//!
//! Deterministic: the same options give the same dataset, and so the same
//! files once written. Ids are UUID-shaped and derived from the seed and a
//! counter. (The sequence follows `fastrand`'s generator: a different major
//! version of `fastrand` may give a different, equally valid, directory.)

use super::model::*;

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenerateOptions {
    /// How many services (the organisations, locations and the rest follow).
    pub services: usize,
    /// The same seed gives the same directory.
    pub seed: u64,
}

/// A synthetic, deterministic (same options → same dataset, byte for byte
/// once written) bilingual directory across the six regions of
/// [`super::REGION_PLACES`]. It passes [`super::hsds::check`].
pub fn generate(options: &GenerateOptions) -> Dataset {
    let mut g = Generator {
        rng: fastrand::Rng::with_seed(options.seed),
        ids: Ids {
            seed: options.seed,
            next: 0,
        },
        dataset: Dataset::default(),
        terms: Vec::new(),
    };
    g.taxonomy();
    let mut left = options.services;
    for anchor in ANCHORS {
        if left == 0 {
            break;
        }
        left -= g.anchor(anchor, left);
    }
    while left > 0 {
        left -= g.organization(left);
    }
    distinguish_names(&mut g.dataset);
    g.dataset
}

/// Services that would share a name with one generated before them are
/// named after their street too ("Centretown Food Bank – Bank Street"), as
/// real inventories tell branches apart, so no two look like a duplicate.
fn distinguish_names(d: &mut Dataset) {
    use std::collections::{HashMap, HashSet};
    let streets: HashMap<&str, &str> = d
        .addresses
        .iter()
        .map(|a| {
            let street = a
                .address_1
                .trim_start_matches(|c: char| c.is_ascii_digit() || c == ' ');
            (a.location_id.as_str(), street)
        })
        .collect();
    let mut street_of: HashMap<String, String> = HashMap::new();
    for sal in &d.service_at_locations {
        if let Some(street) = streets.get(sal.location_id.as_str()) {
            street_of
                .entry(sal.service_id.clone())
                .or_insert_with(|| (*street).to_string());
        }
    }
    let mut seen: HashSet<String> = HashSet::new();
    for s in &mut d.services {
        if seen.insert(s.name.clone()) {
            continue;
        }
        let Some(street) = street_of.get(&s.id) else {
            continue;
        };
        let mut named = format!("{} – {street}", s.name);
        let mut n = 2;
        while !seen.insert(named.clone()) {
            named = format!("{} – {street} ({n})", s.name);
            n += 1;
        }
        s.name = named;
        if let Some(alt) = &mut s.alternate_name {
            *alt = format!("{alt} – {street}");
        }
    }
}

// ---------------------------------------------------------------------------
// Places
// ---------------------------------------------------------------------------

/// A town (or a city neighbourhood) services are in.
struct Town {
    /// As it is written in English names ("Lowertown Food Bank").
    name: &'static str,
    /// In French, with its article if it takes one ("la Basse-Ville").
    name_fr: &'static str,
    /// The address's city.
    city: &'static str,
    /// The address's region (county, district or regional municipality).
    county: &'static str,
    lat: f64,
    lon: f64,
    /// Real forward sortation areas (the first three characters of the
    /// postal code) of the town.
    fsas: &'static [&'static str],
    area_codes: &'static [&'static str],
    streets: &'static [&'static str],
    /// Share of the region's organisations.
    weight: u32,
    /// Per cent of organisations serving in French.
    french: u32,
}

struct Region {
    /// As in `REGION_PLACES` and `centres.yaml`.
    id: &'static str,
    description: &'static str,
    /// Share of the province's organisations, roughly by population.
    weight: u32,
    towns: &'static [Town],
    /// Languages other than English and French, with the per cent of
    /// services offering each.
    languages: &'static [(&'static str, u32)],
}

const EAST_613: &[&str] = &["613", "343"];
const NORTH_807: &[&str] = &["807"];
const NORTH_705: &[&str] = &["705", "249"];
const AREA_519: &[&str] = &["519", "226", "548"];
const AREA_905: &[&str] = &["905", "289", "365"];
const TORONTO_416: &[&str] = &["416", "647", "437"];

#[rustfmt::skip]
const REGIONS: &[Region] = &[
    Region {
        id: "toronto",
        description: "Toronto",
        weight: 30,
        languages: &[("es", 12), ("zh", 12), ("ar", 8), ("pa", 6), ("ta", 6), ("tl", 5), ("pt", 6), ("ur", 5), ("so", 3), ("fa", 5), ("ko", 3), ("ru", 3)],
        towns: &[
            Town { name: "Regent Park", name_fr: "Regent Park", city: "Toronto", county: "Toronto", lat: 43.6595, lon: -79.3600,
                fsas: &["M5A"], area_codes: TORONTO_416, weight: 8, french: 12,
                streets: &["Dundas Street East", "Parliament Street", "Gerrard Street East", "River Street", "Shuter Street"] },
            Town { name: "Parkdale", name_fr: "Parkdale", city: "Toronto", county: "Toronto", lat: 43.6400, lon: -79.4370,
                fsas: &["M6K", "M6R"], area_codes: TORONTO_416, weight: 8, french: 10,
                streets: &["Queen Street West", "King Street West", "Jameson Avenue", "Cowan Avenue", "Dunn Avenue"] },
            Town { name: "St. James Town", name_fr: "St. James Town", city: "Toronto", county: "Toronto", lat: 43.6700, lon: -79.3730,
                fsas: &["M4X", "M4Y"], area_codes: TORONTO_416, weight: 6, french: 10,
                streets: &["Wellesley Street East", "Sherbourne Street", "Bleecker Street", "Ontario Street"] },
            Town { name: "Kensington Market", name_fr: "Kensington Market", city: "Toronto", county: "Toronto", lat: 43.6547, lon: -79.4005,
                fsas: &["M5T"], area_codes: TORONTO_416, weight: 5, french: 10,
                streets: &["Spadina Avenue", "College Street", "Augusta Avenue", "Bathurst Street"] },
            Town { name: "Downtown Toronto", name_fr: "centre-ville de Toronto", city: "Toronto", county: "Toronto", lat: 43.6532, lon: -79.3832,
                fsas: &["M5B", "M5C", "M5G", "M5H", "M5S", "M5V"], area_codes: TORONTO_416, weight: 14, french: 20,
                streets: &["Yonge Street", "Jarvis Street", "Church Street", "Bay Street", "University Avenue", "Queen Street East"] },
            Town { name: "Scarborough", name_fr: "Scarborough", city: "Toronto", county: "Toronto", lat: 43.7731, lon: -79.2578,
                fsas: &["M1B", "M1E", "M1H", "M1J", "M1K", "M1P"], area_codes: TORONTO_416, weight: 16, french: 8,
                streets: &["Kingston Road", "Lawrence Avenue East", "Eglinton Avenue East", "Markham Road", "Sheppard Avenue East"] },
            Town { name: "North York", name_fr: "North York", city: "Toronto", county: "Toronto", lat: 43.7615, lon: -79.4111,
                fsas: &["M2M", "M2N", "M3A", "M3C", "M3J"], area_codes: TORONTO_416, weight: 14, french: 8,
                streets: &["Yonge Street", "Finch Avenue West", "Sheppard Avenue West", "Don Mills Road", "Bathurst Street"] },
            Town { name: "Jane and Finch", name_fr: "Jane et Finch", city: "Toronto", county: "Toronto", lat: 43.7580, lon: -79.5190,
                fsas: &["M3N"], area_codes: TORONTO_416, weight: 5, french: 6,
                streets: &["Jane Street", "Finch Avenue West", "Driftwood Avenue", "Eddystone Avenue"] },
            Town { name: "Etobicoke", name_fr: "Etobicoke", city: "Toronto", county: "Toronto", lat: 43.6205, lon: -79.5132,
                fsas: &["M8V", "M8W", "M9B", "M9C", "M9V", "M9W"], area_codes: TORONTO_416, weight: 12, french: 8,
                streets: &["Lake Shore Boulevard West", "Kipling Avenue", "Islington Avenue", "Rexdale Boulevard", "The Queensway"] },
            Town { name: "Thorncliffe Park", name_fr: "Thorncliffe Park", city: "Toronto", county: "Toronto", lat: 43.7050, lon: -79.3460,
                fsas: &["M4H"], area_codes: TORONTO_416, weight: 5, french: 6,
                streets: &["Thorncliffe Park Drive", "Overlea Boulevard", "Leaside Park Drive"] },
            Town { name: "East York", name_fr: "East York", city: "Toronto", county: "Toronto", lat: 43.6910, lon: -79.3280,
                fsas: &["M4C", "M4G", "M4J"], area_codes: TORONTO_416, weight: 7, french: 10,
                streets: &["Danforth Avenue", "Pape Avenue", "Coxwell Avenue", "O'Connor Drive"] },
        ],
    },
    Region {
        id: "east",
        description: "Eastern Ontario: Ottawa, Kingston, Cornwall and area",
        weight: 22,
        languages: &[("ar", 6), ("so", 3), ("zh", 3), ("es", 3), ("iu", 1)],
        towns: &[
            Town { name: "Centretown", name_fr: "Centre-ville", city: "Ottawa", county: "Ottawa", lat: 45.4148, lon: -75.6961,
                fsas: &["K1R", "K2P"], area_codes: EAST_613, weight: 10, french: 60,
                streets: &["Bank Street", "Elgin Street", "Somerset Street West", "Gladstone Avenue", "Bronson Avenue"] },
            Town { name: "Lowertown", name_fr: "la Basse-Ville", city: "Ottawa", county: "Ottawa", lat: 45.4318, lon: -75.6907,
                fsas: &["K1N"], area_codes: EAST_613, weight: 7, french: 75,
                streets: &["Rideau Street", "Dalhousie Street", "Murray Street", "King Edward Avenue", "St. Patrick Street"] },
            Town { name: "Sandy Hill", name_fr: "la Côte-de-Sable", city: "Ottawa", county: "Ottawa", lat: 45.4237, lon: -75.6815,
                fsas: &["K1N"], area_codes: EAST_613, weight: 5, french: 75,
                streets: &["Laurier Avenue East", "Somerset Street East", "Nelson Street", "Chapel Street"] },
            Town { name: "Vanier", name_fr: "Vanier", city: "Ottawa", county: "Ottawa", lat: 45.4393, lon: -75.6614,
                fsas: &["K1L"], area_codes: EAST_613, weight: 7, french: 80,
                streets: &["Montréal Road", "McArthur Avenue", "Beechwood Avenue", "Marier Avenue", "Cummings Avenue"] },
            Town { name: "Overbrook", name_fr: "Overbrook", city: "Ottawa", county: "Ottawa", lat: 45.4290, lon: -75.6500,
                fsas: &["K1K"], area_codes: EAST_613, weight: 4, french: 70,
                streets: &["Donald Street", "Lola Street", "Queen Mary Street", "Presland Road"] },
            Town { name: "Orléans", name_fr: "Orléans", city: "Orléans", county: "Ottawa", lat: 45.4680, lon: -75.5150,
                fsas: &["K1C", "K1E", "K4A"], area_codes: EAST_613, weight: 8, french: 75,
                streets: &["St. Joseph Boulevard", "Tenth Line Road", "Innes Road", "Jeanne d'Arc Boulevard", "Charlemagne Boulevard"] },
            Town { name: "Westboro", name_fr: "Westboro", city: "Ottawa", county: "Ottawa", lat: 45.3916, lon: -75.7535,
                fsas: &["K1Z", "K2A"], area_codes: EAST_613, weight: 5, french: 45,
                streets: &["Richmond Road", "Churchill Avenue", "Carling Avenue", "Kirkwood Avenue"] },
            Town { name: "Alta Vista", name_fr: "Alta Vista", city: "Ottawa", county: "Ottawa", lat: 45.3880, lon: -75.6620,
                fsas: &["K1G", "K1H", "K1V"], area_codes: EAST_613, weight: 6, french: 55,
                streets: &["Alta Vista Drive", "Heron Road", "Walkley Road", "Smyth Road"] },
            Town { name: "Kanata", name_fr: "Kanata", city: "Ottawa", county: "Ottawa", lat: 45.3088, lon: -75.8987,
                fsas: &["K2K", "K2L", "K2M", "K2T"], area_codes: EAST_613, weight: 5, french: 35,
                streets: &["Hazeldean Road", "March Road", "Terry Fox Drive", "Eagleson Road"] },
            Town { name: "Barrhaven", name_fr: "Barrhaven", city: "Ottawa", county: "Ottawa", lat: 45.2750, lon: -75.7400,
                fsas: &["K2G", "K2J"], area_codes: EAST_613, weight: 4, french: 40,
                streets: &["Strandherd Drive", "Greenbank Road", "Woodroffe Avenue", "Fallowfield Road"] },
            Town { name: "Kingston", name_fr: "Kingston", city: "Kingston", county: "Frontenac", lat: 44.2312, lon: -76.4860,
                fsas: &["K7K", "K7L", "K7M", "K7P"], area_codes: EAST_613, weight: 10, french: 35,
                streets: &["Princess Street", "Montreal Street", "Division Street", "Bath Road", "King Street East"] },
            Town { name: "Cornwall", name_fr: "Cornwall", city: "Cornwall", county: "Stormont, Dundas and Glengarry", lat: 45.0213, lon: -74.7303,
                fsas: &["K6H", "K6J", "K6K"], area_codes: EAST_613, weight: 7, french: 70,
                streets: &["Pitt Street", "Second Street East", "Montreal Road", "Brookdale Avenue"] },
            Town { name: "Hawkesbury", name_fr: "Hawkesbury", city: "Hawkesbury", county: "Prescott and Russell", lat: 45.6080, lon: -74.6050,
                fsas: &["K6A"], area_codes: EAST_613, weight: 4, french: 90,
                streets: &["Main Street East", "Cartier Boulevard", "McGill Street", "Spence Avenue"] },
            Town { name: "Pembroke", name_fr: "Pembroke", city: "Pembroke", county: "Renfrew County", lat: 45.8267, lon: -77.1100,
                fsas: &["K8A"], area_codes: EAST_613, weight: 4, french: 35,
                streets: &["Pembroke Street West", "Mackay Street", "Isabella Street"] },
            Town { name: "Belleville", name_fr: "Belleville", city: "Belleville", county: "Hastings County", lat: 44.1628, lon: -77.3832,
                fsas: &["K8N", "K8P"], area_codes: EAST_613, weight: 6, french: 30,
                streets: &["Front Street", "Dundas Street East", "Bridge Street East", "North Front Street"] },
            Town { name: "Brockville", name_fr: "Brockville", city: "Brockville", county: "Leeds and Grenville", lat: 44.5895, lon: -75.6843,
                fsas: &["K6V"], area_codes: EAST_613, weight: 3, french: 35,
                streets: &["King Street West", "Stewart Boulevard", "Parkedale Avenue"] },
        ],
    },
    Region {
        id: "southwest",
        description: "Southwestern Ontario: Windsor, London, Waterloo Region and area",
        weight: 16,
        languages: &[("ar", 10), ("es", 6), ("pt", 4), ("vi", 3), ("zh", 3), ("de", 3)],
        towns: &[
            Town { name: "Windsor", name_fr: "Windsor", city: "Windsor", county: "Essex County", lat: 42.3149, lon: -83.0364,
                fsas: &["N8S", "N8T", "N8W", "N8X", "N8Y", "N9A", "N9B", "N9C"], area_codes: AREA_519, weight: 24, french: 15,
                streets: &["Ouellette Avenue", "Wyandotte Street East", "Tecumseh Road East", "University Avenue West", "Drouillard Road"] },
            Town { name: "Tecumseh", name_fr: "Tecumseh", city: "Tecumseh", county: "Essex County", lat: 42.3100, lon: -82.8900,
                fsas: &["N8N"], area_codes: AREA_519, weight: 3, french: 20,
                streets: &["Tecumseh Road", "Lesperance Road", "Manning Road"] },
            Town { name: "Leamington", name_fr: "Leamington", city: "Leamington", county: "Essex County", lat: 42.0531, lon: -82.5998,
                fsas: &["N8H"], area_codes: AREA_519, weight: 4, french: 5,
                streets: &["Erie Street South", "Talbot Street West", "Oak Street West"] },
            Town { name: "London", name_fr: "London", city: "London", county: "Middlesex County", lat: 42.9849, lon: -81.2453,
                fsas: &["N5V", "N5W", "N5Y", "N5Z", "N6A", "N6B", "N6C", "N6E"], area_codes: AREA_519, weight: 26, french: 6,
                streets: &["Dundas Street", "Richmond Street", "Wellington Road", "Hamilton Road", "Oxford Street East"] },
            Town { name: "Sarnia", name_fr: "Sarnia", city: "Sarnia", county: "Lambton County", lat: 42.9745, lon: -82.4066,
                fsas: &["N7S", "N7T"], area_codes: AREA_519, weight: 7, french: 8,
                streets: &["Christina Street North", "Exmouth Street", "London Road"] },
            Town { name: "Chatham", name_fr: "Chatham", city: "Chatham", county: "Chatham-Kent", lat: 42.4048, lon: -82.1910,
                fsas: &["N7L", "N7M"], area_codes: AREA_519, weight: 6, french: 10,
                streets: &["King Street West", "Grand Avenue West", "Queen Street"] },
            Town { name: "Kitchener", name_fr: "Kitchener", city: "Kitchener", county: "Waterloo Region", lat: 43.4516, lon: -80.4925,
                fsas: &["N2G", "N2H", "N2M"], area_codes: AREA_519, weight: 14, french: 5,
                streets: &["King Street West", "Victoria Street North", "Weber Street East", "Frederick Street"] },
            Town { name: "Waterloo", name_fr: "Waterloo", city: "Waterloo", county: "Waterloo Region", lat: 43.4643, lon: -80.5204,
                fsas: &["N2J", "N2L"], area_codes: AREA_519, weight: 6, french: 5,
                streets: &["King Street North", "Erb Street West", "University Avenue East"] },
            Town { name: "Guelph", name_fr: "Guelph", city: "Guelph", county: "Wellington County", lat: 43.5448, lon: -80.2482,
                fsas: &["N1E", "N1G", "N1H"], area_codes: AREA_519, weight: 7, french: 5,
                streets: &["Wyndham Street North", "Gordon Street", "Woolwich Street"] },
            Town { name: "Stratford", name_fr: "Stratford", city: "Stratford", county: "Perth County", lat: 43.3700, lon: -80.9822,
                fsas: &["N5A"], area_codes: AREA_519, weight: 3, french: 4,
                streets: &["Ontario Street", "Erie Street", "Huron Street"] },
        ],
    },
    Region {
        id: "central_south",
        description: "Central South: Niagara, Hamilton, Halton and Brant",
        weight: 14,
        languages: &[("it", 6), ("ar", 5), ("es", 5), ("pl", 4), ("pt", 3)],
        towns: &[
            Town { name: "St. Catharines", name_fr: "St. Catharines", city: "St. Catharines", county: "Niagara Region", lat: 43.1594, lon: -79.2469,
                fsas: &["L2M", "L2N", "L2P", "L2R", "L2S", "L2T", "L2W"], area_codes: AREA_905, weight: 18, french: 8,
                streets: &["St. Paul Street", "Ontario Street", "Welland Avenue", "Geneva Street", "Queenston Street"] },
            Town { name: "Niagara Falls", name_fr: "Niagara Falls", city: "Niagara Falls", county: "Niagara Region", lat: 43.0896, lon: -79.0849,
                fsas: &["L2E", "L2G", "L2H", "L2J"], area_codes: AREA_905, weight: 12, french: 8,
                streets: &["Queen Street", "Lundy's Lane", "Victoria Avenue", "Main Street"] },
            Town { name: "Welland", name_fr: "Welland", city: "Welland", county: "Niagara Region", lat: 42.9922, lon: -79.2483,
                fsas: &["L3B", "L3C"], area_codes: AREA_905, weight: 7, french: 30,
                streets: &["East Main Street", "King Street", "Niagara Street", "Lincoln Street"] },
            Town { name: "Fort Erie", name_fr: "Fort Erie", city: "Fort Erie", county: "Niagara Region", lat: 42.9018, lon: -78.9721,
                fsas: &["L2A"], area_codes: AREA_905, weight: 3, french: 8,
                streets: &["Jarvis Street", "Garrison Road", "Central Avenue"] },
            Town { name: "Grimsby", name_fr: "Grimsby", city: "Grimsby", county: "Niagara Region", lat: 43.2001, lon: -79.5663,
                fsas: &["L3M"], area_codes: AREA_905, weight: 3, french: 5,
                streets: &["Main Street West", "Livingston Avenue", "Christie Street"] },
            Town { name: "Hamilton", name_fr: "Hamilton", city: "Hamilton", county: "Hamilton", lat: 43.2557, lon: -79.8711,
                fsas: &["L8L", "L8M", "L8N", "L8P", "L8R", "L9A", "L9C"], area_codes: AREA_905, weight: 34, french: 8,
                streets: &["King Street East", "Barton Street East", "James Street North", "Main Street West", "Upper James Street"] },
            Town { name: "Burlington", name_fr: "Burlington", city: "Burlington", county: "Halton Region", lat: 43.3255, lon: -79.7990,
                fsas: &["L7L", "L7M", "L7R", "L7S", "L7T"], area_codes: AREA_905, weight: 12, french: 6,
                streets: &["Brant Street", "Guelph Line", "Fairview Street", "New Street"] },
            Town { name: "Brantford", name_fr: "Brantford", city: "Brantford", county: "Brant County", lat: 43.1394, lon: -80.2644,
                fsas: &["N3R", "N3S", "N3T"], area_codes: AREA_519, weight: 11, french: 5,
                streets: &["Colborne Street", "Dalhousie Street", "King George Road", "Erie Avenue"] },
        ],
    },
    Region {
        id: "central",
        description: "Central Ontario: Simcoe County, Muskoka, Grey and York Region",
        weight: 11,
        languages: &[("pt", 3), ("es", 3), ("de", 2)],
        towns: &[
            Town { name: "Collingwood", name_fr: "Collingwood", city: "Collingwood", county: "Simcoe County", lat: 44.5008, lon: -80.2169,
                fsas: &["L9Y"], area_codes: NORTH_705, weight: 10, french: 10,
                streets: &["Hurontario Street", "First Street", "Hume Street", "Pine Street"] },
            Town { name: "Wasaga Beach", name_fr: "Wasaga Beach", city: "Wasaga Beach", county: "Simcoe County", lat: 44.5206, lon: -80.0166,
                fsas: &["L9Z"], area_codes: NORTH_705, weight: 4, french: 8,
                streets: &["Mosley Street", "River Road West", "Main Street"] },
            Town { name: "Barrie", name_fr: "Barrie", city: "Barrie", county: "Simcoe County", lat: 44.3894, lon: -79.6903,
                fsas: &["L4M", "L4N"], area_codes: NORTH_705, weight: 26, french: 8,
                streets: &["Dunlop Street West", "Bayfield Street", "Essa Road", "Anne Street North"] },
            Town { name: "Orillia", name_fr: "Orillia", city: "Orillia", county: "Simcoe County", lat: 44.6082, lon: -79.4197,
                fsas: &["L3V"], area_codes: NORTH_705, weight: 10, french: 6,
                streets: &["Mississaga Street", "West Street North", "Coldwater Road"] },
            Town { name: "Midland", name_fr: "Midland", city: "Midland", county: "Simcoe County", lat: 44.7501, lon: -79.8863,
                fsas: &["L4R"], area_codes: NORTH_705, weight: 7, french: 15,
                streets: &["King Street", "Yonge Street", "Hugel Avenue"] },
            Town { name: "Penetanguishene", name_fr: "Penetanguishene", city: "Penetanguishene", county: "Simcoe County", lat: 44.7667, lon: -79.9333,
                fsas: &["L9M"], area_codes: NORTH_705, weight: 4, french: 45,
                streets: &["Main Street", "Robert Street West", "Poyntz Street"] },
            Town { name: "Owen Sound", name_fr: "Owen Sound", city: "Owen Sound", county: "Grey County", lat: 44.5690, lon: -80.9406,
                fsas: &["N4K"], area_codes: AREA_519, weight: 9, french: 5,
                streets: &["2nd Avenue East", "10th Street West", "9th Avenue East"] },
            Town { name: "Newmarket", name_fr: "Newmarket", city: "Newmarket", county: "York Region", lat: 44.0592, lon: -79.4613,
                fsas: &["L3X", "L3Y"], area_codes: AREA_905, weight: 22, french: 8,
                streets: &["Main Street South", "Davis Drive", "Yonge Street", "Eagle Street"] },
            Town { name: "Huntsville", name_fr: "Huntsville", city: "Huntsville", county: "Muskoka", lat: 45.3269, lon: -79.2168,
                fsas: &["P1H"], area_codes: NORTH_705, weight: 6, french: 6,
                streets: &["Main Street East", "King William Street", "Centre Street North"] },
        ],
    },
    Region {
        id: "north",
        description: "Northern Ontario: Thunder Bay, Sudbury, Sault Ste. Marie and the North",
        weight: 7,
        languages: &[("oj", 8), ("cr", 4), ("fi", 2), ("it", 2)],
        towns: &[
            Town { name: "Thunder Bay", name_fr: "Thunder Bay", city: "Thunder Bay", county: "Thunder Bay District", lat: 48.3809, lon: -89.2477,
                fsas: &["P7A", "P7B", "P7C", "P7E"], area_codes: NORTH_807, weight: 25, french: 45,
                streets: &["Red River Road", "Victoria Avenue East", "Memorial Avenue", "May Street", "Algoma Street South"] },
            Town { name: "Kenora", name_fr: "Kenora", city: "Kenora", county: "Kenora District", lat: 49.7670, lon: -94.4894,
                fsas: &["P9N"], area_codes: NORTH_807, weight: 5, french: 25,
                streets: &["Main Street South", "Second Street South", "Park Street"] },
            Town { name: "Dryden", name_fr: "Dryden", city: "Dryden", county: "Kenora District", lat: 49.7833, lon: -92.8377,
                fsas: &["P8N"], area_codes: NORTH_807, weight: 3, french: 20,
                streets: &["King Street", "Government Street", "Duke Street"] },
            Town { name: "Sioux Lookout", name_fr: "Sioux Lookout", city: "Sioux Lookout", county: "Kenora District", lat: 50.0975, lon: -91.9217,
                fsas: &["P8T"], area_codes: NORTH_807, weight: 3, french: 20,
                streets: &["Front Street", "King Street", "Fifth Avenue"] },
            Town { name: "Sudbury", name_fr: "Sudbury", city: "Sudbury", county: "Greater Sudbury", lat: 46.4917, lon: -80.9930,
                fsas: &["P3A", "P3B", "P3C", "P3E", "P3N"], area_codes: NORTH_705, weight: 25, french: 70,
                streets: &["Elm Street", "Notre Dame Avenue", "Paris Street", "Lasalle Boulevard", "Larch Street"] },
            Town { name: "Sault Ste. Marie", name_fr: "Sault-Sainte-Marie", city: "Sault Ste. Marie", county: "Algoma District", lat: 46.5219, lon: -84.3461,
                fsas: &["P6A", "P6B", "P6C"], area_codes: NORTH_705, weight: 12, french: 45,
                streets: &["Queen Street East", "Wellington Street West", "Great Northern Road", "Gore Street"] },
            Town { name: "Timmins", name_fr: "Timmins", city: "Timmins", county: "Cochrane District", lat: 48.4758, lon: -81.3305,
                fsas: &["P4N", "P4P", "P4R"], area_codes: NORTH_705, weight: 10, french: 80,
                streets: &["Third Avenue", "Algonquin Boulevard East", "Cedar Street South", "Pine Street South"] },
            Town { name: "North Bay", name_fr: "North Bay", city: "North Bay", county: "Nipissing District", lat: 46.3091, lon: -79.4608,
                fsas: &["P1A", "P1B"], area_codes: NORTH_705, weight: 10, french: 60,
                streets: &["Main Street West", "Algonquin Avenue", "Fraser Street", "McIntyre Street East"] },
            Town { name: "Kapuskasing", name_fr: "Kapuskasing", city: "Kapuskasing", county: "Cochrane District", lat: 49.4169, lon: -82.4331,
                fsas: &["P5N"], area_codes: NORTH_705, weight: 4, french: 90,
                streets: &["Government Road West", "Riverside Drive", "Circle Street"] },
            Town { name: "Hearst", name_fr: "Hearst", city: "Hearst", county: "Cochrane District", lat: 49.6868, lon: -83.6665,
                fsas: &["P0L"], area_codes: NORTH_705, weight: 3, french: 95,
                streets: &["George Street", "Front Street", "Ninth Street"] },
        ],
    },
];

const LANGUAGE_NAMES: &[(&str, &str)] = &[
    ("en", "English"),
    ("fr", "French"),
    ("es", "Spanish"),
    ("zh", "Chinese"),
    ("ar", "Arabic"),
    ("pa", "Punjabi"),
    ("ta", "Tamil"),
    ("tl", "Tagalog"),
    ("pt", "Portuguese"),
    ("ur", "Urdu"),
    ("so", "Somali"),
    ("fa", "Persian"),
    ("ko", "Korean"),
    ("ru", "Russian"),
    ("iu", "Inuktitut"),
    ("vi", "Vietnamese"),
    ("de", "German"),
    ("it", "Italian"),
    ("pl", "Polish"),
    ("oj", "Ojibwe"),
    ("cr", "Cree"),
    ("fi", "Finnish"),
];

// ---------------------------------------------------------------------------
// Taxonomy
// ---------------------------------------------------------------------------

/// The 211 HSIS terms used, as in `flows/taxonomy.csv` (code, English name),
/// each after its parent.
const TERMS: &[(&str, &str)] = &[
    ("B", "Basic Needs"),
    ("BD", "Food"),
    ("BD-1800", "Emergency Food"),
    ("BD-1800.2000", "Food Pantries"),
    ("BD-5000", "Meals"),
    ("BH", "Housing/Shelter"),
    ("BH-1800", "Emergency Shelter"),
    ("BH-1800.8500", "Homeless Shelter"),
    ("BH-3800", "Housing Expense Assistance"),
    ("BH-3800.7000", "Rent Payment Assistance"),
    ("BH-8600", "Transitional Housing/Shelter"),
    ("BM", "Material Goods"),
    ("BM-3000", "Household Goods"),
    ("BM-6500.1500", "Clothing"),
    ("BT", "Transportation"),
    ("BT-4500", "Local Transportation"),
    ("BV", "Utilities"),
    ("BV-8900.9300", "Utility Service Payment Assistance"),
    ("D", "Consumer Services"),
    ("DT", "Tax Organizations and Services"),
    ("F", "Criminal Justice and Legal Services"),
    ("FT", "Legal Services"),
    ("FT-3200", "General Legal Aid"),
    ("FT-4500", "Landlord/Tenant Assistance"),
    ("H", "Education"),
    ("HH", "Educational Programs"),
    ("L", "Health Care"),
    ("LE", "General Medical Care"),
    ("LV", "Specialty Medicine"),
    ("LV-1600", "Dental Care"),
    ("N", "Income Support and Employment"),
    ("ND", "Employment"),
    ("NL", "Public Assistance Programs"),
    ("NT", "Temporary Financial Assistance"),
    ("P", "Individual and Family Life"),
    ("PH", "Individual and Family Support Services"),
    ("PH-1000", "Case/Care Management"),
    ("PH-1250", "Child Care Providers"),
    ("PL", "Leisure Activities/Recreation"),
    ("PN", "Mutual Support"),
    ("PN-8100", "Support Groups"),
    ("PX", "Volunteer Opportunities"),
    ("R", "Mental Health and Substance Use Disorder Services"),
    ("RP", "Mental Health Assessment and Treatment"),
    ("RP-1500", "Crisis Intervention"),
    ("RP-1500.1400", "Crisis Intervention Hotlines/Helplines"),
    ("RR", "Mental Health Support Services"),
    ("RX", "Substance Use Disorder Services"),
    ("RX-1700", "Detoxification"),
    ("T", "Organizational/Community/International Services"),
    ("TJ", "Information Services"),
    ("TJ-3000", "Information and Referral"),
];

/// A term's parent: its code without the last part (`BD-1800.2000` →
/// `BD-1800` → `BD` → `B`).
fn parent_code(code: &str) -> Option<&str> {
    if let Some((parent, _)) = code.rsplit_once('.') {
        Some(parent)
    } else if let Some((parent, _)) = code.split_once('-') {
        Some(parent)
    } else if code.len() > 1 {
        Some(&code[..1])
    } else {
        None
    }
}

// ---------------------------------------------------------------------------
// Services and organisations
// ---------------------------------------------------------------------------

/// How a kind of service keeps its hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Hours {
    Office,
    FoodBank,
    Meals,
    Clinic,
    Evening,
    /// Every day, into the night.
    Extended,
    Always,
    /// Tax season only.
    Season,
}

/// One line of opening hours: `(freq, byday, bymonthday, opens_at, closes_at)`.
type Rule = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
);

const WEEKDAYS: &str = "MO,TU,WE,TH,FR";

/// Weighted choices of hours, per kind of hours.
fn hour_patterns(hours: Hours) -> &'static [(u32, &'static [Rule])] {
    match hours {
        Hours::Office => &[
            (50, &[("WEEKLY", WEEKDAYS, "", "09:00", "17:00")]),
            (18, &[("WEEKLY", WEEKDAYS, "", "08:30", "16:30")]),
            (
                10,
                &[
                    ("WEEKLY", "MO,WE,FR", "", "09:00", "17:00"),
                    ("WEEKLY", "TU,TH", "", "09:00", "20:00"),
                ],
            ),
            (8, &[("WEEKLY", WEEKDAYS, "", "10:00", "16:00")]),
            (
                7,
                &[
                    ("WEEKLY", WEEKDAYS, "", "09:00", "17:00"),
                    ("WEEKLY", "SA", "", "10:00", "14:00"),
                ],
            ),
            (
                7,
                &[
                    ("WEEKLY", "MO,TU,WE,TH", "", "08:30", "16:30"),
                    ("WEEKLY", "FR", "", "08:30", "12:00"),
                ],
            ),
        ],
        Hours::FoodBank => &[
            (30, &[("WEEKLY", WEEKDAYS, "", "09:00", "17:00")]),
            (
                14,
                &[
                    ("WEEKLY", WEEKDAYS, "", "09:00", "17:00"),
                    ("WEEKLY", "SA", "", "10:00", "14:00"),
                ],
            ),
            (14, &[("WEEKLY", "TU,TH", "", "10:00", "15:00")]),
            (10, &[("WEEKLY", "MO,WE,FR", "", "13:00", "16:00")]),
            (
                10,
                &[
                    ("WEEKLY", "WE", "", "16:00", "19:00"),
                    ("WEEKLY", "SA", "", "09:00", "12:00"),
                ],
            ),
            (12, &[("MONTHLY", "", "1,15", "10:00", "14:00")]),
            (10, &[("MONTHLY", "1TU,3TU", "", "13:00", "16:00")]),
        ],
        Hours::Meals => &[
            (45, &[("WEEKLY", WEEKDAYS, "", "11:30", "13:00")]),
            (
                20,
                &[
                    ("WEEKLY", WEEKDAYS, "", "11:30", "13:00"),
                    ("WEEKLY", "SA,SU", "", "12:00", "13:30"),
                ],
            ),
            (15, &[("WEEKLY", "MO,WE,FR", "", "17:00", "18:30")]),
            (10, &[("WEEKLY", "SU", "", "12:00", "14:00")]),
            (
                10,
                &[
                    ("WEEKLY", "MO,TU,WE,TH,FR,SA,SU", "", "07:30", "09:00"),
                    ("WEEKLY", "MO,TU,WE,TH,FR,SA,SU", "", "17:00", "18:30"),
                ],
            ),
        ],
        Hours::Clinic => &[
            (50, &[("WEEKLY", WEEKDAYS, "", "09:00", "17:00")]),
            (
                25,
                &[
                    ("WEEKLY", "MO,TU,WE,TH", "", "08:30", "20:00"),
                    ("WEEKLY", "FR", "", "08:30", "16:30"),
                ],
            ),
            (
                15,
                &[
                    ("WEEKLY", WEEKDAYS, "", "09:00", "17:00"),
                    ("WEEKLY", "SA", "", "09:00", "13:00"),
                ],
            ),
            (
                10,
                &[
                    ("WEEKLY", "MO,WE,FR", "", "09:00", "16:00"),
                    ("WEEKLY", "TU,TH", "", "12:00", "20:00"),
                ],
            ),
        ],
        Hours::Evening => &[
            (20, &[("WEEKLY", "TU", "", "18:30", "20:30")]),
            (20, &[("WEEKLY", "WE", "", "18:30", "20:30")]),
            (15, &[("WEEKLY", "TH", "", "19:00", "21:00")]),
            (25, &[("MONTHLY", "2WE", "", "19:00", "21:00")]),
            (20, &[("WEEKLY", "TU,TH", "", "13:00", "15:00")]),
        ],
        Hours::Extended => &[
            (
                60,
                &[("WEEKLY", "MO,TU,WE,TH,FR,SA,SU", "", "08:00", "24:00")],
            ),
            (
                40,
                &[("WEEKLY", "MO,TU,WE,TH,FR,SA,SU", "", "10:00", "22:00")],
            ),
        ],
        Hours::Always => &[(
            100,
            &[("WEEKLY", "MO,TU,WE,TH,FR,SA,SU", "", "00:00", "24:00")],
        )],
        Hours::Season => &[
            (
                60,
                &[
                    ("WEEKLY", "MO,WE", "", "10:00", "16:00"),
                    ("WEEKLY", "SA", "", "10:00", "14:00"),
                ],
            ),
            (40, &[("WEEKLY", "TU,TH", "", "17:00", "20:00")]),
        ],
    }
}

/// Who a service is for: English, French, minimum and maximum age.
type Eligibility = (&'static str, &'static str, Option<f64>, Option<f64>);

const SENIORS: Eligibility = (
    "Seniors aged 65 and older.",
    "Aînés de 65 ans et plus.",
    Some(65.0),
    None,
);
const YOUTH: Eligibility = (
    "Youth aged 16 to 24.",
    "Jeunes de 16 à 24 ans.",
    Some(16.0),
    Some(24.0),
);
const FAMILIES: Eligibility = (
    "Families with children under 18.",
    "Familles avec des enfants de moins de 18 ans.",
    None,
    None,
);
const NEWCOMERS: Eligibility = (
    "Newcomers to Canada: permanent residents, refugees and refugee claimants.",
    "Personnes nouvellement arrivées au Canada : résidents permanents, réfugiés et demandeurs d'asile.",
    None,
    None,
);
const LOW_INCOME: Eligibility = (
    "Individuals and families with low incomes; bring proof of address.",
    "Personnes et familles à faible revenu; apportez une preuve d'adresse.",
    None,
    None,
);
const WOMEN: Eligibility = (
    "Women, and their children, leaving abuse or violence.",
    "Femmes, et leurs enfants, qui fuient la violence.",
    None,
    None,
);
const ADULTS: Eligibility = (
    "Adults 18 and older.",
    "Adultes de 18 ans et plus.",
    Some(18.0),
    None,
);
const RESIDENTS: Eligibility = (
    "Residents of {p} and the surrounding area.",
    "Résidents {de} et des environs.",
    None,
    None,
);

/// A kind of service. `{p}` in a name is the place (the town or
/// neighbourhood in English), `{de}` the French "de" with the place
/// ("de Vanier", "d'Orléans", "de la Basse-Ville").
struct Kind {
    code: &'static str,
    also: Option<&'static str>,
    en: &'static str,
    fr: &'static str,
    about_en: &'static str,
    about_fr: &'static str,
    hours: Hours,
    /// Who it is for; `always`: every service of the kind says so.
    eligibility: &'static [Eligibility],
    always: bool,
    fees: Option<(&'static str, &'static str)>,
}

const FREE: Option<(&str, &str)> = Some(("Free.", "Gratuit."));
const SLIDING: Option<(&str, &str)> = Some((
    "Fees on a sliding scale based on income; no one is turned away.",
    "Tarifs selon le revenu; personne n'est refusé.",
));

const FOOD_BANK: usize = 0;
const FOOD_CUPBOARD: usize = 1;

#[rustfmt::skip]
const KINDS: &[Kind] = &[
    // 0
    Kind {
        code: "BD-1800.2000", also: Some("BD-1800"), hours: Hours::FoodBank,
        en: "{p} Food Bank", fr: "Banque alimentaire {de}",
        about_en: "Emergency food hampers with fresh produce, dairy and pantry staples, once a month per household. Bring ID for each member of the household.",
        about_fr: "Paniers alimentaires d'urgence avec fruits et légumes frais, produits laitiers et denrées non périssables, une fois par mois par ménage. Apportez une pièce d'identité pour chaque membre du ménage.",
        eligibility: &[LOW_INCOME, RESIDENTS], always: false, fees: FREE,
    },
    // 1
    Kind {
        code: "BD-1800.2000", also: None, hours: Hours::FoodBank,
        en: "{p} Food Cupboard", fr: "Dépannage alimentaire {de}",
        about_en: "Walk-in food cupboard for people in urgent need: non-perishable food, baby food and hygiene items.",
        about_fr: "Dépannage alimentaire sans rendez-vous pour les personnes dans le besoin : aliments non périssables, aliments pour bébés et articles d'hygiène.",
        eligibility: &[RESIDENTS], always: false, fees: FREE,
    },
    // 2
    Kind {
        code: "BD-1800", also: None, hours: Hours::Office,
        en: "{p} Emergency Grocery Vouchers", fr: "Bons d'épicerie d'urgence {de}",
        about_en: "Grocery vouchers for individuals and families in a crisis, after a short assessment by phone.",
        about_fr: "Bons d'épicerie pour les personnes et les familles en situation de crise, après une courte évaluation au téléphone.",
        eligibility: &[LOW_INCOME], always: false, fees: FREE,
    },
    // 3
    Kind {
        code: "BD-5000", also: None, hours: Hours::Meals,
        en: "{p} Community Meals", fr: "Repas communautaires {de}",
        about_en: "Free hot meals in a welcoming dining room; no registration needed.",
        about_fr: "Repas chauds gratuits dans une salle à manger accueillante; aucune inscription requise.",
        eligibility: &[], always: false, fees: FREE,
    },
    // 4
    Kind {
        code: "BD-5000", also: Some("PH-1000"), hours: Hours::Office,
        en: "{p} Meals on Wheels", fr: "Popote roulante {de}",
        about_en: "Hot and frozen meals delivered to the homes of seniors and of adults recovering from illness.",
        about_fr: "Repas chauds et surgelés livrés à domicile aux aînés et aux adultes en convalescence.",
        eligibility: &[SENIORS], always: true, fees: Some(( "About $7 a meal; subsidies available.", "Environ 7 $ par repas; subventions offertes." )),
    },
    // 5
    Kind {
        code: "BH-1800", also: None, hours: Hours::Always,
        en: "{p} Emergency Shelter", fr: "Refuge d'urgence {de}",
        about_en: "Emergency overnight shelter with beds, meals, showers and laundry. Open 24 hours; call to check bed availability.",
        about_fr: "Hébergement d'urgence pour la nuit avec lits, repas, douches et buanderie. Ouvert 24 heures sur 24; téléphonez pour vérifier les lits disponibles.",
        eligibility: &[ADULTS], always: false, fees: FREE,
    },
    // 6
    Kind {
        code: "BH-1800.8500", also: None, hours: Hours::Always,
        en: "{p} Men's Shelter", fr: "Refuge pour hommes {de}",
        about_en: "Shelter for single men experiencing homelessness, with case workers on site to help find housing.",
        about_fr: "Refuge pour hommes seuls en situation d'itinérance, avec des intervenants sur place pour aider à trouver un logement.",
        eligibility: &[ADULTS], always: true, fees: FREE,
    },
    // 7
    Kind {
        code: "BH-1800", also: Some("RP-1500.1400"), hours: Hours::Always,
        en: "{p} Women's Shelter", fr: "Maison d'hébergement pour femmes {de}",
        about_en: "Safe, confidential shelter for women and their children leaving abuse, with a 24-hour crisis line.",
        about_fr: "Hébergement sécuritaire et confidentiel pour les femmes et leurs enfants qui fuient la violence, avec une ligne de crise 24 heures sur 24.",
        eligibility: &[WOMEN], always: true, fees: FREE,
    },
    // 8
    Kind {
        code: "BH-1800", also: None, hours: Hours::Always,
        en: "{p} Youth Shelter", fr: "Refuge pour jeunes {de}",
        about_en: "Emergency beds, meals and support for youth aged 16 to 24 with nowhere safe to stay.",
        about_fr: "Lits d'urgence, repas et soutien pour les jeunes de 16 à 24 ans sans endroit sûr où dormir.",
        eligibility: &[YOUTH], always: true, fees: FREE,
    },
    // 9
    Kind {
        code: "BH-8600", also: None, hours: Hours::Office,
        en: "{p} Transitional Housing", fr: "Logement de transition {de}",
        about_en: "Furnished transitional housing for up to a year, with life-skills support, for people leaving shelters.",
        about_fr: "Logement de transition meublé pour une durée maximale d'un an, avec soutien aux habiletés de vie, pour les personnes qui quittent un refuge.",
        eligibility: &[ADULTS, YOUTH], always: false, fees: Some(("Rent geared to income.", "Loyer indexé sur le revenu.")),
    },
    // 10
    Kind {
        code: "BH-3800.7000", also: None, hours: Hours::Office,
        en: "{p} Rent Bank", fr: "Banque d'aide au loyer {de}",
        about_en: "Interest-free loans or grants to cover rent arrears and prevent eviction.",
        about_fr: "Prêts sans intérêt ou subventions pour couvrir les arriérés de loyer et éviter l'expulsion.",
        eligibility: &[LOW_INCOME], always: true, fees: FREE,
    },
    // 11
    Kind {
        code: "BH-3800", also: None, hours: Hours::Office,
        en: "{p} Housing Help", fr: "Aide au logement {de}",
        about_en: "Help to find and keep affordable housing: housing search, applications for subsidized housing, first and last month's rent.",
        about_fr: "Aide pour trouver et garder un logement abordable : recherche de logement, demandes de logement subventionné, premier et dernier mois de loyer.",
        eligibility: &[LOW_INCOME], always: false, fees: FREE,
    },
    // 12
    Kind {
        code: "BV-8900.9300", also: None, hours: Hours::Office,
        en: "{p} Energy Bill Assistance", fr: "Aide pour les factures d'énergie {de}",
        about_en: "Help with overdue hydro, gas and water bills, and with applying to utility assistance programs.",
        about_fr: "Aide pour les factures d'électricité, de gaz et d'eau en retard, et pour les demandes aux programmes d'aide.",
        eligibility: &[LOW_INCOME], always: true, fees: FREE,
    },
    // 13
    Kind {
        code: "BM-3000", also: None, hours: Hours::Office,
        en: "{p} Furniture Bank", fr: "Banque de meubles {de}",
        about_en: "Gently used furniture and household items for people setting up a new home, by referral from a community agency.",
        about_fr: "Meubles et articles ménagers usagés en bon état pour les personnes qui s'installent dans un nouveau logement, sur recommandation d'un organisme.",
        eligibility: &[], always: false, fees: Some(( "A small delivery fee; waived for people on social assistance.", "Petits frais de livraison, annulés pour les personnes à l'aide sociale." )),
    },
    // 14
    Kind {
        code: "BM-6500.1500", also: None, hours: Hours::FoodBank,
        en: "{p} Clothing Bank", fr: "Comptoir vestimentaire {de}",
        about_en: "Free clothing, footwear and winter coats for all ages.",
        about_fr: "Vêtements, chaussures et manteaux d'hiver gratuits pour tous les âges.",
        eligibility: &[], always: false, fees: FREE,
    },
    // 15
    Kind {
        code: "BT-4500", also: None, hours: Hours::Office,
        en: "{p} Community Transportation", fr: "Transport communautaire {de}",
        about_en: "Rides to medical appointments, shopping and day programs for seniors and adults with disabilities; book two days ahead.",
        about_fr: "Transport vers les rendez-vous médicaux, les courses et les programmes de jour pour les aînés et les adultes handicapés; réservez deux jours à l'avance.",
        eligibility: &[SENIORS], always: false, fees: Some(( "Fares by distance; subsidies available.", "Tarifs selon la distance; subventions offertes." )),
    },
    // 16
    Kind {
        code: "FT-3200", also: None, hours: Hours::Clinic,
        en: "{p} Community Legal Clinic", fr: "Clinique juridique communautaire {de}",
        about_en: "Free legal advice and representation for people with low incomes: housing, income support, employment and human rights.",
        about_fr: "Conseils juridiques et représentation gratuits pour les personnes à faible revenu : logement, soutien du revenu, emploi et droits de la personne.",
        eligibility: &[LOW_INCOME], always: true, fees: FREE,
    },
    // 17
    Kind {
        code: "FT-4500", also: None, hours: Hours::Office,
        en: "{p} Tenant Rights Clinic", fr: "Clinique des droits des locataires {de}",
        about_en: "Advice for tenants facing eviction, repairs or rent increases, and help at the Landlord and Tenant Board.",
        about_fr: "Conseils aux locataires qui font face à une expulsion, à des réparations ou à une hausse de loyer, et aide devant la Commission de la location immobilière.",
        eligibility: &[LOW_INCOME], always: false, fees: FREE,
    },
    // 18
    Kind {
        code: "DT", also: None, hours: Hours::Season,
        en: "{p} Free Tax Clinic", fr: "Comptoir d'impôts gratuit {de}",
        about_en: "Volunteers prepare and file simple income tax returns for free for people with modest incomes.",
        about_fr: "Des bénévoles préparent et produisent gratuitement les déclarations de revenus simples des personnes à revenu modeste.",
        eligibility: &[LOW_INCOME], always: true, fees: FREE,
    },
    // 19
    Kind {
        code: "ND", also: None, hours: Hours::Office,
        en: "{p} Employment Services", fr: "Services d'emploi {de}",
        about_en: "Job search help, résumé workshops, hiring events and connections with employers.",
        about_fr: "Aide à la recherche d'emploi, ateliers de CV, salons de l'emploi et liens avec les employeurs.",
        eligibility: &[], always: false, fees: FREE,
    },
    // 20
    Kind {
        code: "NL", also: None, hours: Hours::Office,
        en: "Ontario Works — {p}", fr: "Ontario au travail — {p}",
        about_en: "Financial help with food and housing costs, and help to find work, for people in financial need.",
        about_fr: "Aide financière pour la nourriture et le logement, et aide à trouver un emploi, pour les personnes dans le besoin.",
        eligibility: &[RESIDENTS], always: true, fees: FREE,
    },
    // 21
    Kind {
        code: "NT", also: None, hours: Hours::Office,
        en: "{p} Emergency Assistance Fund", fr: "Fonds d'aide d'urgence {de}",
        about_en: "One-time grants for urgent needs such as prescriptions, transit passes or replacing ID.",
        about_fr: "Subventions ponctuelles pour des besoins urgents comme des médicaments, des laissez-passer de transport ou le remplacement de pièces d'identité.",
        eligibility: &[LOW_INCOME], always: false, fees: FREE,
    },
    // 22
    Kind {
        code: "RP-1500.1400", also: None, hours: Hours::Always,
        en: "{p} Distress Line", fr: "Ligne d'écoute {de}",
        about_en: "Confidential telephone support 24 hours a day from trained volunteers, for anyone in emotional distress or thinking about suicide.",
        about_fr: "Soutien téléphonique confidentiel 24 heures sur 24 par des bénévoles formés, pour toute personne en détresse ou qui pense au suicide.",
        eligibility: &[], always: false, fees: FREE,
    },
    // 23
    Kind {
        code: "RP-1500", also: None, hours: Hours::Extended,
        en: "{p} Mobile Crisis Team", fr: "Équipe mobile d'intervention de crise {de}",
        about_en: "Mental health workers who come to people in a mental health crisis, with police when needed.",
        about_fr: "Intervenants en santé mentale qui se déplacent auprès des personnes en crise, avec la police au besoin.",
        eligibility: &[], always: false, fees: FREE,
    },
    // 24
    Kind {
        code: "RP", also: None, hours: Hours::Clinic,
        en: "{p} Counselling Services", fr: "Services de counseling {de}",
        about_en: "Short-term counselling for individuals, couples and families; walk-in sessions available.",
        about_fr: "Counseling à court terme pour les personnes, les couples et les familles; séances sans rendez-vous offertes.",
        eligibility: &[FAMILIES, ADULTS], always: false, fees: SLIDING,
    },
    // 25
    Kind {
        code: "RR", also: Some("PN-8100"), hours: Hours::Evening,
        en: "{p} Mental Health Peer Support", fr: "Soutien par les pairs en santé mentale {de}",
        about_en: "Drop-in programs and peer support for adults living with mental illness.",
        about_fr: "Programmes sans rendez-vous et soutien par les pairs pour les adultes vivant avec une maladie mentale.",
        eligibility: &[ADULTS], always: false, fees: FREE,
    },
    // 26
    Kind {
        code: "RX-1700", also: None, hours: Hours::Always,
        en: "{p} Withdrawal Management Centre", fr: "Centre de gestion du sevrage {de}",
        about_en: "Safe, supervised withdrawal from alcohol and drugs, with referral to treatment.",
        about_fr: "Sevrage sécuritaire et supervisé de l'alcool et des drogues, avec orientation vers un traitement.",
        eligibility: &[ADULTS], always: true, fees: FREE,
    },
    // 27
    Kind {
        code: "RX", also: None, hours: Hours::Clinic,
        en: "{p} Addiction Services", fr: "Services en dépendances {de}",
        about_en: "Assessment, counselling and day treatment for substance use and gambling.",
        about_fr: "Évaluation, counseling et traitement de jour pour l'usage de substances et le jeu.",
        eligibility: &[YOUTH, ADULTS], always: false, fees: FREE,
    },
    // 28
    Kind {
        code: "LE", also: None, hours: Hours::Clinic,
        en: "{p} Primary Care Clinic", fr: "Clinique de soins primaires {de}",
        about_en: "Doctors and nurse practitioners for people without a family doctor, including people without OHIP.",
        about_fr: "Médecins et infirmières praticiennes pour les personnes sans médecin de famille, y compris celles sans Assurance-santé.",
        eligibility: &[RESIDENTS], always: false, fees: FREE,
    },
    // 29
    Kind {
        code: "LV-1600", also: None, hours: Hours::Clinic,
        en: "{p} Community Dental Clinic", fr: "Clinique dentaire communautaire {de}",
        about_en: "Low-cost dental care for adults and children with no dental insurance.",
        about_fr: "Soins dentaires à faible coût pour les adultes et les enfants sans assurance dentaire.",
        eligibility: &[LOW_INCOME, FAMILIES], always: false, fees: SLIDING,
    },
    // 30
    Kind {
        code: "PH-1000", also: None, hours: Hours::Office,
        en: "{p} Seniors' Case Management", fr: "Gestion de cas pour aînés {de}",
        about_en: "Support workers help seniors stay safely at home: assessments, coordinating services and regular check-ins.",
        about_fr: "Des intervenants aident les aînés à demeurer chez eux en sécurité : évaluations, coordination des services et suivis réguliers.",
        eligibility: &[SENIORS], always: true, fees: FREE,
    },
    // 31
    Kind {
        code: "PH-1250", also: None, hours: Hours::Office,
        en: "{p} Child Care Centre", fr: "Centre de garde d'enfants {de}",
        about_en: "Licensed child care for children from 18 months to 5 years, with subsidized spaces.",
        about_fr: "Services de garde agréés pour les enfants de 18 mois à 5 ans, avec des places subventionnées.",
        eligibility: &[FAMILIES], always: true, fees: SLIDING,
    },
    // 32
    Kind {
        code: "PN-8100", also: None, hours: Hours::Evening,
        en: "{p} Caregiver Support Group", fr: "Groupe de soutien aux proches aidants {de}",
        about_en: "Peer support meetings for family caregivers, with a guest speaker once a month.",
        about_fr: "Rencontres de soutien par les pairs pour les proches aidants, avec une personne invitée une fois par mois.",
        eligibility: &[], always: false, fees: FREE,
    },
    // 33
    Kind {
        code: "PL", also: None, hours: Hours::Office,
        en: "{p} Seniors' Active Living", fr: "Vie active des aînés {de}",
        about_en: "Exercise classes, cards, crafts and outings for adults 55 and over.",
        about_fr: "Cours d'exercice, cartes, bricolage et sorties pour les adultes de 55 ans et plus.",
        eligibility: &[], always: false, fees: Some(( "A yearly membership of $25.", "Une adhésion annuelle de 25 $." )),
    },
    // 34
    Kind {
        code: "TJ-3000", also: None, hours: Hours::Office,
        en: "{p} Newcomer Information Centre", fr: "Centre d'information pour personnes immigrantes {de}",
        about_en: "Information and referral for newcomers: housing, health cards, schools, language classes and jobs.",
        about_fr: "Information et orientation pour les personnes nouvellement arrivées : logement, carte santé, écoles, cours de langue et emploi.",
        eligibility: &[NEWCOMERS], always: true, fees: FREE,
    },
    // 35
    Kind {
        code: "HH", also: None, hours: Hours::Clinic,
        en: "{p} English and French Classes", fr: "Cours d'anglais et de français {de}",
        about_en: "Free English and French classes for adult newcomers, with child minding.",
        about_fr: "Cours d'anglais et de français gratuits pour les adultes nouvellement arrivés, avec halte-garderie.",
        eligibility: &[NEWCOMERS], always: true, fees: FREE,
    },
    // 36
    Kind {
        code: "PX", also: None, hours: Hours::Office,
        en: "{p} Volunteer Centre", fr: "Centre de bénévolat {de}",
        about_en: "Matches volunteers with local non-profit organizations and community events.",
        about_fr: "Jumelage de bénévoles avec des organismes sans but lucratif et des événements de la communauté.",
        eligibility: &[], always: false, fees: FREE,
    },
    // 37
    Kind {
        code: "ND", also: None, hours: Hours::Office,
        en: "{p} Youth Job Connection", fr: "Connexion emploi jeunesse {de}",
        about_en: "Paid pre-employment training and job placements for youth facing barriers to work.",
        about_fr: "Formation préalable à l'emploi rémunérée et stages pour les jeunes qui font face à des obstacles.",
        eligibility: &[YOUTH], always: true, fees: FREE,
    },
];

/// A kind of organisation: its names, and the services it runs (the first
/// always, then some of the others).
struct OrgKind {
    en: &'static str,
    fr: &'static str,
    about_en: &'static str,
    about_fr: &'static str,
    services: &'static [usize],
    weight: u32,
}

const COMMUNITY_CENTRE: usize = 1;
const COMMUNITY_HEALTH_CENTRE: usize = 2;

const ORG_KINDS: &[OrgKind] = &[
    OrgKind {
        en: "{p} Food Bank",
        fr: "Banque alimentaire {de}",
        about_en: "A volunteer-run food bank feeding neighbours in need since the 1980s.",
        about_fr: "Une banque alimentaire gérée par des bénévoles qui nourrit les gens du quartier depuis les années 1980.",
        services: &[FOOD_BANK, 3, 14, 2, FOOD_CUPBOARD],
        weight: 14,
    },
    OrgKind {
        en: "{p} Community Centre",
        fr: "Centre communautaire {de}",
        about_en: "A neighbourhood community centre with food, family, seniors' and newcomer programs.",
        about_fr: "Un centre communautaire de quartier offrant des programmes d'alimentation, pour les familles, les aînés et les personnes immigrantes.",
        services: &[FOOD_CUPBOARD, 3, 33, 32, 19, 31, 35, 36],
        weight: 12,
    },
    OrgKind {
        en: "{p} Community Health Centre",
        fr: "Centre de santé communautaire {de}",
        about_en: "Primary health care and social services for people who face barriers to care.",
        about_fr: "Soins de santé primaires et services sociaux pour les personnes qui ont difficilement accès aux soins.",
        services: &[28, 29, 24, 27, FOOD_CUPBOARD, 30],
        weight: 10,
    },
    OrgKind {
        en: "{p} Shelter Services",
        fr: "Services d'hébergement {de}",
        about_en: "Emergency shelter and housing support for people experiencing homelessness.",
        about_fr: "Hébergement d'urgence et soutien au logement pour les personnes en situation d'itinérance.",
        services: &[5, 3, 9, 6, 26],
        weight: 3,
    },
    OrgKind {
        en: "{p} Women's Shelter Services",
        fr: "Maison d'hébergement pour femmes {de}",
        about_en: "Shelter, counselling and advocacy for women and children leaving abuse.",
        about_fr: "Hébergement, counseling et défense des droits pour les femmes et les enfants qui fuient la violence.",
        services: &[7, 9, 24],
        weight: 2,
    },
    OrgKind {
        en: "{p} Youth Services",
        fr: "Services à la jeunesse {de}",
        about_en: "Shelter, counselling and job programs for young people.",
        about_fr: "Hébergement, counseling et programmes d'emploi pour les jeunes.",
        services: &[37, 24, 8],
        weight: 3,
    },
    OrgKind {
        en: "Distress Centre of {p}",
        fr: "Centre de détresse {de}",
        about_en: "Trained volunteers answering distress and crisis lines around the clock.",
        about_fr: "Des bénévoles formés répondent aux lignes d'écoute et de crise jour et nuit.",
        services: &[22, 32, 23],
        weight: 2,
    },
    OrgKind {
        en: "{p} Mental Health Services",
        fr: "Services de santé mentale {de}",
        about_en: "Community mental health and addiction services for adults and youth.",
        about_fr: "Services communautaires en santé mentale et en dépendances pour les adultes et les jeunes.",
        services: &[24, 25, 27, 23],
        weight: 6,
    },
    OrgKind {
        en: "{p} Community Legal Clinic",
        fr: "Clinique juridique communautaire {de}",
        about_en: "A community legal clinic funded by Legal Aid Ontario.",
        about_fr: "Une clinique juridique communautaire financée par Aide juridique Ontario.",
        services: &[16, 17, 18],
        weight: 5,
    },
    OrgKind {
        en: "{p} Housing Help Centre",
        fr: "Centre d'aide au logement {de}",
        about_en: "Helping people find, keep and pay for housing.",
        about_fr: "Aide pour trouver un logement, le garder et le payer.",
        services: &[11, 10, 12, 17],
        weight: 6,
    },
    OrgKind {
        en: "{p} Employment Centre",
        fr: "Centre d'emploi {de}",
        about_en: "Employment Ontario services for job seekers and employers.",
        about_fr: "Services d'Emploi Ontario pour les chercheurs d'emploi et les employeurs.",
        services: &[19, 37, 21],
        weight: 5,
    },
    OrgKind {
        en: "{p} Social Services",
        fr: "Services sociaux {de}",
        about_en: "The municipal office for social assistance, child care subsidies and housing.",
        about_fr: "Le bureau municipal de l'aide sociale, des subventions pour la garde d'enfants et du logement.",
        services: &[20, 21, 10, 31],
        weight: 3,
    },
    OrgKind {
        en: "{p} Seniors' Centre",
        fr: "Centre des aînés {de}",
        about_en: "Programs and support at home for older adults.",
        about_fr: "Programmes et soutien à domicile pour les personnes âgées.",
        services: &[33, 4, 15, 30, 32],
        weight: 7,
    },
    OrgKind {
        en: "{p} Newcomer Centre",
        fr: "Centre d'accueil des personnes immigrantes {de}",
        about_en: "Settlement services for immigrants and refugees.",
        about_fr: "Services d'établissement pour les personnes immigrantes et réfugiées.",
        services: &[34, 35, 19, 18],
        weight: 5,
    },
    OrgKind {
        en: "Family Services {p}",
        fr: "Services à la famille {de}",
        about_en: "Counselling and support for individuals, couples and families.",
        about_fr: "Counseling et soutien pour les personnes, les couples et les familles.",
        services: &[24, 32, 31, 10],
        weight: 5,
    },
    OrgKind {
        en: "{p} Furniture Bank",
        fr: "Banque de meubles {de}",
        about_en: "Furniture and household goods for people setting up a home.",
        about_fr: "Meubles et articles ménagers pour les personnes qui s'installent.",
        services: &[13, 14],
        weight: 2,
    },
    OrgKind {
        en: "{p} Volunteer Centre",
        fr: "Centre de bénévolat {de}",
        about_en: "Connecting volunteers with the community.",
        about_fr: "Relier les bénévoles à la communauté.",
        services: &[36, 15],
        weight: 2,
    },
];

/// The organisations every directory starts with: French-speaking food banks
/// in Ottawa, open weekdays 9:00 to 17:00, some on Saturdays too.
struct Anchor {
    town: &'static str,
    org: usize,
    /// The food bank service first.
    services: &'static [usize],
    saturday: bool,
}

const ANCHORS: &[Anchor] = &[
    Anchor {
        town: "Vanier",
        org: COMMUNITY_CENTRE,
        services: &[FOOD_BANK, 3],
        saturday: true,
    },
    Anchor {
        town: "Lowertown",
        org: 0,
        services: &[FOOD_BANK],
        saturday: false,
    },
    Anchor {
        town: "Orléans",
        org: 0,
        services: &[FOOD_BANK, 14],
        saturday: true,
    },
    Anchor {
        town: "Sandy Hill",
        org: COMMUNITY_HEALTH_CENTRE,
        services: &[FOOD_CUPBOARD, 28],
        saturday: false,
    },
    Anchor {
        town: "Overbrook",
        org: 0,
        services: &[FOOD_BANK],
        saturday: false,
    },
    Anchor {
        town: "Centretown",
        org: 0,
        services: &[FOOD_BANK, 3],
        saturday: true,
    },
];

// ---------------------------------------------------------------------------
// The generator
// ---------------------------------------------------------------------------

/// UUID-shaped ids from the seed and a counter: the last 64 bits are a
/// bijection of the counter (so ids never repeat), the first 64 bits mix in
/// the seed.
struct Ids {
    seed: u64,
    next: u64,
}

impl Ids {
    fn next(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        let high = mix(self.seed ^ mix(n ^ 0x5bd1_e995_5bd1_e995));
        let low = mix(n ^ mix(self.seed));
        format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            high >> 32,
            (high >> 16) & 0xffff,
            high & 0xffff,
            low >> 48,
            low & 0xffff_ffff_ffff
        )
    }
}

/// splitmix64's finaliser: a bijection on u64.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct Generator {
    rng: fastrand::Rng,
    ids: Ids,
    dataset: Dataset,
    /// The id of each of `TERMS`.
    terms: Vec<String>,
}

/// What one organisation will be.
struct Plan {
    region: &'static Region,
    town: &'static Town,
    org: &'static OrgKind,
    services: Vec<usize>,
    french: bool,
    /// For anchors: active, and the food bank's hours fixed.
    anchor: Option<&'static Anchor>,
}

impl Generator {
    fn taxonomy(&mut self) {
        for &(code, name) in TERMS {
            let id = self.ids.next();
            let parent_id = parent_code(code)
                .and_then(|parent| TERMS.iter().position(|&(c, _)| c == parent))
                .map(|i| self.terms[i].clone());
            self.dataset.taxonomy_terms.push(TaxonomyTerm {
                origin: Origin::default(),
                id: id.clone(),
                code: Some(code.into()),
                name: name.into(),
                description: None,
                parent_id,
                taxonomy: Some("211 HSIS".into()),
                language: Some("en".into()),
            });
            self.terms.push(id);
        }
    }

    fn term(&self, code: &str) -> String {
        let i = TERMS.iter().position(|&(c, _)| c == code);
        // Every code of KINDS is in TERMS (tested).
        self.terms[i.expect("a kind's code is in TERMS")].clone()
    }

    fn percent(&mut self, p: u32) -> bool {
        self.rng.u32(0..100) < p
    }

    fn pick<'a, T>(&mut self, items: &'a [T], weight: impl Fn(&T) -> u32) -> &'a T {
        let total: u32 = items.iter().map(&weight).sum();
        let mut r = self.rng.u32(0..total);
        for item in items {
            let w = weight(item);
            if r < w {
                return item;
            }
            r -= w;
        }
        &items[items.len() - 1]
    }

    fn one<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.usize(0..items.len())]
    }

    fn anchor(&mut self, anchor: &'static Anchor, left: usize) -> usize {
        let region = &REGIONS[1];
        let town = region
            .towns
            .iter()
            .find(|t| t.name == anchor.town)
            .expect("anchor towns are in the east");
        let services = anchor.services.iter().copied().take(left).collect();
        self.build(Plan {
            region,
            town,
            org: &ORG_KINDS[anchor.org],
            services,
            french: true,
            anchor: Some(anchor),
        })
    }

    fn organization(&mut self, left: usize) -> usize {
        let region = self.pick(REGIONS, |r| r.weight);
        let town = self.pick(region.towns, |t| t.weight);
        let org = self.pick(ORG_KINDS, |o| o.weight);
        let french = self.percent(town.french);
        let wanted = *self.pick(&[(1, 30), (2, 35), (3, 22), (4, 13)], |&(_, w)| w);
        let count = wanted.0.min(org.services.len()).min(left);
        let mut others = org.services[1..].to_vec();
        self.rng.shuffle(&mut others);
        let mut services = vec![org.services[0]];
        services.extend(others.into_iter().take(count - 1));
        self.build(Plan {
            region,
            town,
            org,
            services,
            french,
            anchor: None,
        })
    }

    /// Makes the organisation, its locations and services; returns how many
    /// services.
    fn build(&mut self, plan: Plan) -> usize {
        let Plan {
            region,
            town,
            org,
            ref services,
            french,
            anchor,
        } = plan;
        // Named after the town, or after the street it is on.
        let street = *self.one(town.streets);
        let by_street = anchor.is_none() && self.percent(30);
        let home = Place {
            en: town.name.to_owned(),
            de: de(town.name_fr),
        };
        let place = match street_name(street).filter(|_| by_street) {
            Some((en, de)) => Place { en, de },
            None => Place {
                en: home.en.clone(),
                de: home.de.clone(),
            },
        };
        let org_id = self.ids.next();
        let name_en = place.fill(org.en);
        let name_fr = place.fill(org.fr);
        let bilingual_name = french && matches!(region.id, "east" | "north") && self.percent(35);
        let (name, alternate_name) = if bilingual_name {
            (format!("{name_fr} / {name_en}"), None)
        } else if french {
            (name_en.clone(), Some(name_fr.clone()))
        } else {
            (name_en.clone(), None)
        };
        let slug = slug(&name_en);
        let website = format!("https://{slug}.example");
        self.dataset.organizations.push(Organization {
            origin: Origin::default(),
            id: org_id.clone(),
            name: name.clone(),
            alternate_name,
            description: Some(bilingual(org.about_en, org.about_fr, french)),
            email: Some(format!("info@{slug}.example")),
            website: Some(website.clone()),
        });
        let area_code = *self.one(town.area_codes);
        let number = self.phone_number(area_code);
        self.dataset.phones.push(Phone {
            origin: Origin::default(),
            id: self.ids.next(),
            organization_id: Some(org_id.clone()),
            number,
            kind: Some("voice".into()),
            description: Some(bilingual("Main line", "Ligne principale", french)),
            ..Phone::default()
        });

        // Sites: the main one in the town, maybe more in the region.
        let sites = if anchor.is_some() {
            1
        } else {
            self.pick(&[(1, 75), (2, 20), (3, 5)], |&(_, w)| w).0
        };
        let mut locations = Vec::with_capacity(sites);
        for site in 0..sites {
            let site_town = if site == 0 || self.percent(50) {
                town
            } else {
                self.pick(region.towns, |t| t.weight)
            };
            let site_street = if site == 0 {
                street
            } else {
                *self.one(site_town.streets)
            };
            locations.push(self.location(&org_id, &name, site_town, site_street, site, french));
        }

        for (i, &kind_index) in services.iter().enumerate() {
            let kind = &KINDS[kind_index];
            let fixed_hours = anchor.filter(|_| i == 0).map(|a| {
                if a.saturday {
                    &[
                        ("WEEKLY", WEEKDAYS, "", "09:00", "17:00"),
                        ("WEEKLY", "SA", "", "10:00", "14:00"),
                    ][..]
                } else {
                    &[("WEEKLY", WEEKDAYS, "", "09:00", "17:00")][..]
                }
            });
            // The main site, and sometimes another.
            let first = i % locations.len();
            let mut at = vec![first];
            if locations.len() > 1 && self.percent(50) {
                at.push((first + 1) % locations.len());
            }
            let service = ServicePlan {
                region,
                place: &place,
                home: &home,
                org_id: &org_id,
                website: &website,
                kind,
                french,
                area_code,
                active: anchor.is_some(),
                hours: fixed_hours,
            };
            self.service(&service, at.iter().map(|&l| locations[l].as_str()));
        }
        services.len()
    }

    fn location(
        &mut self,
        org_id: &str,
        org_name: &str,
        town: &'static Town,
        street: &str,
        site: usize,
        french: bool,
    ) -> String {
        let id = self.ids.next();
        let number = self.rng.u32(10..2400);
        let address_1 = format!("{number} {street}");
        let name = if site == 0 {
            org_name.to_owned()
        } else {
            format!("{org_name} — {street}")
        };
        // Within a few kilometres of the town's centre.
        let lat = round6(town.lat + (self.rng.f64() - 0.5) * 0.05);
        let lon = round6(town.lon + (self.rng.f64() - 0.5) * 0.07);
        let transportation = self.percent(30).then(|| {
            bilingual(
                "Near a bus stop; accessible entrance at the side of the building.",
                "Près d'un arrêt d'autobus; entrée accessible sur le côté de l'édifice.",
                french,
            )
        });
        self.dataset.locations.push(Location {
            origin: Origin::default(),
            id: id.clone(),
            location_type: "physical".into(),
            organization_id: Some(org_id.to_owned()),
            name: Some(name),
            alternate_name: None,
            description: (site > 0)
                .then(|| bilingual("Satellite office.", "Point de service.", french)),
            transportation,
            latitude: Some(lat),
            longitude: Some(lon),
        });
        let address_2 = match self.rng.u32(0..10) {
            0 => Some(format!("Unit {}", self.rng.u32(1..30))),
            1 => Some("2nd floor".to_owned()),
            2 => Some(format!("Suite {}", self.rng.u32(1..6) * 100)),
            _ => None,
        };
        let fsa = *self.one(town.fsas);
        let postal_code = format!(
            "{fsa} {}{}{}",
            self.rng.u32(1..10),
            *self.one(LDU_LETTERS) as char,
            self.rng.u32(0..10)
        );
        self.dataset.addresses.push(Address {
            origin: Origin::default(),
            id: self.ids.next(),
            location_id: id.clone(),
            attention: None,
            address_1,
            address_2,
            city: town.city.into(),
            region: Some(town.county.into()),
            state_province: "ON".into(),
            postal_code,
            country: "CA".into(),
            address_type: "physical".into(),
        });
        id
    }

    fn phone_number(&mut self, area_code: &str) -> String {
        format!("+1 {area_code}-555-01{:02}", self.rng.u32(0..100))
    }

    fn service<'a>(&mut self, plan: &ServicePlan<'_>, locations: impl Iterator<Item = &'a str>) {
        let ServicePlan {
            region,
            place,
            home,
            org_id,
            website,
            kind,
            french,
            area_code,
            active,
            hours,
        } = *plan;
        let id = self.ids.next();
        let name = place.fill(kind.en);
        let eligibility = (!kind.eligibility.is_empty() && (kind.always || self.percent(40)))
            .then(|| *self.one(kind.eligibility));
        let status = if active {
            "active"
        } else {
            match self.rng.u32(0..100) {
                0..=2 => "inactive",
                3..=5 => "temporarily closed",
                _ => "active",
            }
        };
        let alert = (status == "temporarily closed").then(|| {
            bilingual(
                "Temporarily closed for renovations; call for the nearest alternative.",
                "Fermé temporairement pour rénovations; téléphonez pour connaître le service le plus proche.",
                french,
            )
        });
        let interpretation_services = (region.id == "toronto" && self.percent(25)).then(|| {
            "Interpretation in more than 100 languages through a telephone interpreter, on request.".to_owned()
        });
        let month = self.rng.u32(1..11);
        let day = self.rng.u32(1..29);
        let (hour, minute) = (self.rng.u32(8..18), self.rng.u32(0..60));
        let url = self
            .percent(40)
            .then(|| format!("{website}/{}", slug(&name)));
        self.dataset.services.push(Service {
            origin: Origin::default(),
            id: id.clone(),
            organization_id: org_id.to_owned(),
            name: name.clone(),
            alternate_name: french.then(|| place.fill(kind.fr)),
            description: Some(bilingual(kind.about_en, kind.about_fr, french)),
            url,
            email: None,
            status: status.into(),
            interpretation_services,
            application_process: Some(bilingual(
                "Call or walk in during opening hours.",
                "Téléphonez ou présentez-vous pendant les heures d'ouverture.",
                french,
            )),
            fees_description: kind.fees.map(|(en, fr)| bilingual(en, fr, french)),
            eligibility_description: eligibility
                .map(|(en, fr, _, _)| bilingual(&home.fill(en), &home.fill(fr), french)),
            minimum_age: eligibility.and_then(|e| e.2),
            maximum_age: eligibility.and_then(|e| e.3),
            alert,
            last_modified: Some(format!(
                "2026-{month:02}-{day:02}T{hour:02}:{minute:02}:00Z"
            )),
        });

        for location in locations {
            self.dataset.service_at_locations.push(ServiceAtLocation {
                origin: Origin::default(),
                id: self.ids.next(),
                service_id: id.clone(),
                location_id: location.to_owned(),
                description: None,
            });
        }

        // Phones: the service's line, sometimes a fax or a TTY line too.
        let number = self.phone_number(area_code);
        let extension = self.percent(15).then(|| self.rng.u32(100..300).to_string());
        self.dataset.phones.push(Phone {
            origin: Origin::default(),
            id: self.ids.next(),
            service_id: Some(id.clone()),
            number,
            extension,
            kind: Some("voice".into()),
            ..Phone::default()
        });
        if self.percent(15) {
            let (kind, description) = if self.percent(50) {
                ("fax", "Fax")
            } else {
                ("textphone", "TTY")
            };
            let number = self.phone_number(area_code);
            self.dataset.phones.push(Phone {
                origin: Origin::default(),
                id: self.ids.next(),
                service_id: Some(id.clone()),
                number,
                kind: Some(kind.into()),
                description: Some(description.into()),
                ..Phone::default()
            });
        }

        // Languages: English everywhere, French for francophone and bilingual
        // organisations, others by region.
        self.language(&id, "en");
        if french {
            self.language(&id, "fr");
        }
        for &(code, percent) in region.languages {
            if self.percent(percent) {
                self.language(&id, code);
            }
        }

        // Hours.
        let rules = match hours {
            Some(rules) => rules,
            None => {
                // A few services of any kind keep a 24/7 line.
                let hours = if kind.hours != Hours::Always && self.rng.u32(0..200) == 0 {
                    Hours::Always
                } else {
                    kind.hours
                };
                self.pick(hour_patterns(hours), |&(w, _)| w).1
            }
        };
        for &(freq, byday, bymonthday, opens, closes) in rules {
            let season = kind.hours == Hours::Season && hours.is_none();
            self.dataset.schedules.push(Schedule {
                origin: Origin::default(),
                id: self.ids.next(),
                service_id: Some(id.clone()),
                valid_from: season.then(|| "2027-02-22".to_owned()),
                valid_to: season.then(|| "2027-04-30".to_owned()),
                freq: Some(freq.into()),
                byday: (!byday.is_empty()).then(|| byday.to_owned()),
                bymonthday: (!bymonthday.is_empty()).then(|| bymonthday.to_owned()),
                opens_at: Some(opens.into()),
                closes_at: Some(closes.into()),
                ..Schedule::default()
            });
        }

        self.dataset.service_areas.push(ServiceArea {
            origin: Origin::default(),
            id: self.ids.next(),
            service_id: Some(id.clone()),
            name: Some(region.id.into()),
            description: Some(region.description.into()),
            ..ServiceArea::default()
        });

        for code in std::iter::once(kind.code).chain(kind.also) {
            let taxonomy_term_id = self.term(code);
            self.dataset.attributes.push(Attribute {
                origin: Origin::default(),
                id: self.ids.next(),
                link_id: id.clone(),
                link_type: None,
                link_entity: "service".into(),
                taxonomy_term_id,
                value: None,
            });
        }
    }

    fn language(&mut self, service_id: &str, code: &str) {
        let name = LANGUAGE_NAMES
            .iter()
            .find(|&&(c, _)| c == code)
            .map(|&(_, name)| name.to_owned());
        self.dataset.languages.push(Language {
            origin: Origin::default(),
            id: self.ids.next(),
            service_id: Some(service_id.to_owned()),
            name,
            code: Some(code.into()),
            ..Language::default()
        });
    }
}

/// What one service will be.
#[derive(Clone, Copy)]
struct ServicePlan<'a> {
    region: &'static Region,
    /// What the organisation is named after.
    place: &'a Place,
    /// Its town.
    home: &'a Place,
    org_id: &'a str,
    website: &'a str,
    kind: &'static Kind,
    french: bool,
    area_code: &'static str,
    active: bool,
    hours: Option<&'static [Rule]>,
}

/// Letters of the last three characters of Canadian postal codes (no D, F,
/// I, O, Q or U).
const LDU_LETTERS: &[u8] = b"ABCEGHJKLMNPRSTVWXYZ";

/// What an organisation is named after, for filling in `{p}` and `{de}`:
/// its town ("Vanier Food Bank", "Banque alimentaire de Vanier") or its
/// street ("Rideau Food Bank", "Banque alimentaire Rideau").
struct Place {
    en: String,
    de: String,
}

impl Place {
    fn fill(&self, template: &str) -> String {
        template.replace("{p}", &self.en).replace("{de}", &self.de)
    }
}

/// A street as an organisation's namesake, in English and with the French
/// "de": "Barton Street East" → ("Barton Street", "de la rue Barton");
/// `None` for numbered streets.
fn street_name(street: &str) -> Option<(String, String)> {
    let mut name = street;
    for direction in [" East", " West", " North", " South"] {
        name = name.strip_suffix(direction).unwrap_or(name);
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let kinds = [
        (" Street", "de la rue"),
        (" Avenue", "de l'avenue"),
        (" Road", "du chemin"),
        (" Boulevard", "du boulevard"),
        (" Drive", "de la promenade"),
    ];
    let de = kinds
        .iter()
        .find_map(|(kind, de)| name.strip_suffix(kind).map(|base| format!("{de} {base}")))
        .unwrap_or_else(|| de(name));
    Some((name.to_owned(), de))
}

/// French "de" before a place: "de Vanier", "d'Orléans", "de la Basse-Ville",
/// "du Centre-ville".
fn de(place: &str) -> String {
    if let Some(rest) = place.strip_prefix("le ") {
        format!("du {rest}")
    } else if place.starts_with("la ") {
        format!("de {place}")
    } else if place.starts_with(['A', 'E', 'I', 'O', 'U', 'É', 'Î']) {
        format!("d'{place}")
    } else if let Some(rest) = place.strip_prefix("Centre-ville") {
        format!("du Centre-ville{rest}")
    } else if place.starts_with("centre-ville") {
        format!("du {place}")
    } else {
        format!("de {place}")
    }
}

/// "English / French" when the service is offered in French.
fn bilingual(en: &str, fr: &str, french: bool) -> String {
    if french {
        format!("{en} / {fr}")
    } else {
        en.to_owned()
    }
}

/// A web-address-safe form of a name: "Orléans Food Bank" → "orleans-food-bank".
fn slug(name: &str) -> String {
    let mut slug = String::with_capacity(name.len());
    for c in name.chars() {
        let c = match c {
            'à' | 'â' | 'À' | 'Â' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' => 'e',
            'î' | 'ï' | 'Î' => 'i',
            'ô' | 'Ô' => 'o',
            'ù' | 'û' | 'ü' => 'u',
            'ç' | 'Ç' => 'c',
            c => c.to_ascii_lowercase(),
        };
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') && c != '\'' {
            slug.push('-');
        }
    }
    slug.trim_end_matches('-').to_owned()
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::path::{Path, PathBuf};

    use super::super::{REGION_PLACES, hsds};
    use super::*;

    fn options(services: usize) -> GenerateOptions {
        GenerateOptions {
            services,
            seed: 211,
        }
    }

    fn temp_dir(name: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("frontdoor-generate-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// Without origins, each table sorted by id.
    fn normalised(mut d: Dataset) -> Dataset {
        macro_rules! norm {
            ($($table:ident),*) => {$(
                for row in &mut d.$table {
                    row.origin = Origin::default();
                }
                d.$table.sort_by(|a, b| a.id.cmp(&b.id));
            )*};
        }
        norm!(
            organizations,
            services,
            locations,
            addresses,
            service_at_locations,
            phones,
            schedules,
            languages,
            service_areas,
            taxonomy_terms,
            attributes
        );
        d
    }

    /// Equal, table by table, showing the first record that differs.
    fn same(a: Dataset, b: Dataset) {
        macro_rules! same {
            ($($table:ident),*) => {$(
                assert_eq!(a.$table.len(), b.$table.len(), stringify!($table));
                if let Some((x, y)) = a.$table.iter().zip(&b.$table).find(|(x, y)| x != y) {
                    panic!("{}: {x:?}\n!= {y:?}", stringify!($table));
                }
            )*};
        }
        same!(
            organizations,
            services,
            locations,
            addresses,
            service_at_locations,
            phones,
            schedules,
            languages,
            service_areas,
            taxonomy_terms,
            attributes
        );
    }

    fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
        let mut files: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    fn km(a: (f64, f64), b: (f64, f64)) -> f64 {
        let (la, lb) = (a.0.to_radians(), b.0.to_radians());
        let dlat = lb - la;
        let dlon = (b.1 - a.1).to_radians();
        let h = (dlat / 2.0).sin().powi(2) + la.cos() * lb.cos() * (dlon / 2.0).sin().powi(2);
        2.0 * 6371.0 * h.sqrt().asin()
    }

    #[test]
    fn the_same_options_give_the_same_files_byte_for_byte() {
        let a = generate(&options(400));
        let b = generate(&options(400));
        assert_eq!(a, b);
        let (dir_a, dir_b) = (temp_dir("same-a"), temp_dir("same-b"));
        hsds::write_csv(&a, &dir_a).unwrap();
        hsds::write_csv(&b, &dir_b).unwrap();
        hsds::write_json(&a, &dir_a.join("directory.json")).unwrap();
        hsds::write_json(&b, &dir_b.join("directory.json")).unwrap();
        assert_eq!(files(&dir_a), files(&dir_b));
        let other = generate(&GenerateOptions {
            services: 400,
            seed: 212,
        });
        assert_ne!(other.services[10].id, a.services[10].id);
        assert_ne!(other, a);
        std::fs::remove_dir_all(dir_a).unwrap();
        std::fs::remove_dir_all(dir_b).unwrap();
    }

    #[test]
    fn three_thousand_services_pass_the_checks() {
        let d = generate(&options(3000));
        assert_eq!(d.services.len(), 3000);
        let problems: Vec<String> = hsds::check(&d).iter().map(|p| p.to_string()).collect();
        assert_eq!(problems, Vec::<String>::new());

        // Every service at one or two locations, with hours, English, a
        // taxonomy code and its region; every organisation with 1 to 4.
        let mut per_service: HashMap<&str, [usize; 5]> = HashMap::new();
        for sal in &d.service_at_locations {
            per_service.entry(&sal.service_id).or_default()[0] += 1;
        }
        for s in &d.schedules {
            per_service
                .entry(s.service_id.as_deref().unwrap())
                .or_default()[1] += 1;
        }
        for l in d
            .languages
            .iter()
            .filter(|l| l.code.as_deref() == Some("en"))
        {
            per_service
                .entry(l.service_id.as_deref().unwrap())
                .or_default()[2] += 1;
        }
        for a in &d.attributes {
            per_service.entry(&a.link_id).or_default()[3] += 1;
        }
        for a in &d.service_areas {
            per_service
                .entry(a.service_id.as_deref().unwrap())
                .or_default()[4] += 1;
        }
        for s in &d.services {
            let [at, hours, english, codes, areas] = per_service[s.id.as_str()];
            assert!(
                (1..=2).contains(&at) && hours >= 1 && english == 1 && codes >= 1 && areas == 1,
                "{}",
                s.name
            );
        }
        let mut per_org: HashMap<&str, usize> = HashMap::new();
        for s in &d.services {
            *per_org.entry(&s.organization_id).or_default() += 1;
        }
        assert_eq!(per_org.len(), d.organizations.len());
        assert!(per_org.values().all(|n| (1..=4).contains(n)));
        let two_places = per_service.values().filter(|c| c[0] == 2).count();
        assert!(two_places > 30, "{two_places} services at two locations");

        // Mostly active; 24/7 for about 5 %; a few monthly.
        let active = d.services.iter().filter(|s| s.status == "active").count();
        assert!((2700..3000).contains(&active), "{active} active");
        let always: HashSet<&str> = d
            .schedules
            .iter()
            .filter(|s| {
                s.opens_at.as_deref() == Some("00:00") && s.closes_at.as_deref() == Some("24:00")
            })
            .filter_map(|s| s.service_id.as_deref())
            .collect();
        assert!(
            (90..300).contains(&always.len()),
            "{} open 24/7",
            always.len()
        );
        let monthly = d
            .schedules
            .iter()
            .filter(|s| s.freq.as_deref() == Some("MONTHLY"))
            .count();
        assert!(monthly > 20, "{monthly} monthly");
        let eligibility = d
            .services
            .iter()
            .filter(|s| s.eligibility_description.is_some())
            .count();
        assert!(
            (600..2400).contains(&eligibility),
            "{eligibility} with eligibility"
        );
    }

    #[test]
    fn ottawa_has_open_french_food_banks_on_weekdays_and_some_on_saturdays() {
        for services in [12, 3000] {
            let d = generate(&options(services));
            let pantries = d
                .taxonomy_terms
                .iter()
                .find(|t| t.code.as_deref() == Some("BD-1800.2000"))
                .unwrap();
            let ottawa = (REGION_PLACES[0].2, REGION_PLACES[0].3);
            let near_ottawa: HashSet<&str> = d
                .locations
                .iter()
                .filter(|l| km((l.latitude.unwrap(), l.longitude.unwrap()), ottawa) < 20.0)
                .map(|l| l.id.as_str())
                .collect();
            let found: Vec<&Service> = d
                .services
                .iter()
                .filter(|s| s.status == "active")
                .filter(|s| {
                    d.attributes
                        .iter()
                        .any(|a| a.link_id == s.id && a.taxonomy_term_id == pantries.id)
                })
                .filter(|s| {
                    d.languages.iter().any(|l| {
                        l.service_id.as_deref() == Some(&s.id) && l.code.as_deref() == Some("fr")
                    })
                })
                .filter(|s| {
                    d.service_at_locations.iter().any(|sal| {
                        sal.service_id == s.id && near_ottawa.contains(sal.location_id.as_str())
                    })
                })
                .filter(|s| {
                    d.schedules.iter().any(|h| {
                        h.service_id.as_deref() == Some(&s.id)
                            && h.byday.as_deref() == Some("MO,TU,WE,TH,FR")
                            && h.opens_at.as_deref() == Some("09:00")
                            && h.closes_at.as_deref() == Some("17:00")
                    })
                })
                .collect();
            assert!(
                found.len() >= 6,
                "{services}: {} French food banks open weekdays near Ottawa",
                found.len()
            );
            let saturday = found
                .iter()
                .filter(|s| {
                    d.schedules.iter().any(|h| {
                        h.service_id.as_deref() == Some(&s.id) && h.byday.as_deref() == Some("SA")
                    })
                })
                .count();
            assert!(saturday >= 3, "{services}: {saturday} open on Saturdays");
            let names: Vec<&str> = found
                .iter()
                .filter_map(|s| s.alternate_name.as_deref())
                .collect();
            assert!(names.contains(&"Banque alimentaire de Vanier"), "{names:?}");
            assert!(names.contains(&"Banque alimentaire d'Orléans"), "{names:?}");
            assert!(
                names.contains(&"Banque alimentaire de la Basse-Ville"),
                "{names:?}"
            );
            assert!(
                found[0]
                    .description
                    .as_deref()
                    .unwrap()
                    .contains("Paniers alimentaires d'urgence")
            );
        }
        assert_eq!(generate(&options(3)).services.len(), 3);
        assert_eq!(generate(&options(0)).services.len(), 0);
    }

    #[test]
    fn regions_are_weighted_by_population_and_french_is_strongest_in_the_east_and_north() {
        let d = generate(&options(3000));
        let mut per_region: HashMap<&str, (usize, usize)> = HashMap::new();
        let french: HashSet<&str> = d
            .languages
            .iter()
            .filter(|l| l.code.as_deref() == Some("fr"))
            .filter_map(|l| l.service_id.as_deref())
            .collect();
        for area in &d.service_areas {
            let entry = per_region.entry(area.name.as_deref().unwrap()).or_default();
            entry.0 += 1;
            if french.contains(area.service_id.as_deref().unwrap()) {
                entry.1 += 1;
            }
        }
        let regions: HashSet<&str> = per_region.keys().copied().collect();
        assert_eq!(regions, REGION_PLACES.iter().map(|r| r.0).collect());
        let order = [
            "toronto",
            "east",
            "southwest",
            "central_south",
            "central",
            "north",
        ];
        for pair in order.windows(2) {
            assert!(
                per_region[pair[0]].0 > per_region[pair[1]].0,
                "{per_region:?}"
            );
        }
        let share = |region: &str| per_region[region].1 as f64 / per_region[region].0 as f64;
        for region in ["east", "north"] {
            assert!(
                (0.45..0.75).contains(&share(region)),
                "{region}: {}",
                share(region)
            );
        }
        for region in ["toronto", "southwest", "central_south", "central"] {
            assert!(share(region) < 0.25, "{region}: {}", share(region));
        }
        // Toronto's services speak many languages.
        let toronto: HashSet<&str> = d
            .service_areas
            .iter()
            .filter(|a| a.name.as_deref() == Some("toronto"))
            .filter_map(|a| a.service_id.as_deref())
            .collect();
        let codes: HashSet<&str> = d
            .languages
            .iter()
            .filter(|l| toronto.contains(l.service_id.as_deref().unwrap()))
            .filter_map(|l| l.code.as_deref())
            .collect();
        for code in ["en", "fr", "es", "zh", "ar", "pa"] {
            assert!(codes.contains(code), "{code} in {codes:?}");
        }
    }

    #[test]
    fn taxonomy_terms_are_those_of_flows_taxonomy_csv() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../flows/taxonomy.csv");
        let text = std::fs::read_to_string(path).unwrap();
        let rows: String = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .map(|l| format!("{l}\n"))
            .collect();
        let mut names = HashMap::new();
        for record in csv::Reader::from_reader(rows.as_bytes()).records() {
            let record = record.unwrap();
            names.insert(record[0].to_owned(), record[1].to_owned());
        }
        for &(code, name) in TERMS {
            assert_eq!(names.get(code).map(String::as_str), Some(name), "{code}");
        }
        for kind in KINDS {
            for code in std::iter::once(kind.code).chain(kind.also) {
                assert!(
                    TERMS.iter().any(|&(c, _)| c == code),
                    "{code} of {}",
                    kind.en
                );
            }
        }
        let d = generate(&options(50));
        let by_id: HashMap<&str, &TaxonomyTerm> = d
            .taxonomy_terms
            .iter()
            .map(|t| (t.id.as_str(), t))
            .collect();
        let food_pantries = d
            .taxonomy_terms
            .iter()
            .find(|t| t.code.as_deref() == Some("BD-1800.2000"))
            .unwrap();
        let mut chain = vec![food_pantries.code.as_deref().unwrap()];
        let mut term = food_pantries;
        while let Some(parent) = term.parent_id.as_deref() {
            term = by_id[parent];
            chain.push(term.code.as_deref().unwrap());
        }
        assert_eq!(chain, ["BD-1800.2000", "BD-1800", "BD", "B"]);
        assert!(
            d.taxonomy_terms
                .iter()
                .all(|t| t.taxonomy.as_deref() == Some("211 HSIS"))
        );
    }

    #[test]
    fn addresses_phones_and_ids_look_real() {
        let d = generate(&options(1500));
        let region_of: HashMap<&str, &str> = d
            .service_areas
            .iter()
            .map(|a| (a.service_id.as_deref().unwrap(), a.name.as_deref().unwrap()))
            .collect();
        let area_codes: HashMap<&str, &[&str]> = HashMap::from([
            ("east", &["613", "343"][..]),
            ("north", &["807", "705", "249"][..]),
            (
                "central",
                &["705", "249", "519", "226", "548", "905", "289", "365"][..],
            ),
            (
                "central_south",
                &["905", "289", "365", "519", "226", "548"][..],
            ),
            ("toronto", &["416", "647", "437"][..]),
            ("southwest", &["519", "226", "548"][..]),
        ]);
        for phone in &d.phones {
            let n = phone.number.as_bytes();
            assert!(
                phone.number.len() == 15
                    && phone.number.starts_with("+1 ")
                    && &phone.number[6..12] == "-555-0"
                    && n[12] == b'1',
                "{}",
                phone.number
            );
            if let Some(service) = phone.service_id.as_deref() {
                assert!(
                    area_codes[region_of[service]].contains(&&phone.number[3..6]),
                    "{} in {}",
                    phone.number,
                    region_of[service]
                );
            }
        }
        let first_letters: HashMap<&str, &str> = HashMap::from([
            ("east", "K"),
            ("north", "P"),
            ("central", "LNP"),
            ("central_south", "LN"),
            ("toronto", "M"),
            ("southwest", "N"),
        ]);
        let location_region: HashMap<&str, &str> = d
            .service_at_locations
            .iter()
            .map(|sal| (sal.location_id.as_str(), region_of[sal.service_id.as_str()]))
            .collect();
        for address in &d.addresses {
            let p = address.postal_code.as_bytes();
            let shape = p.len() == 7
                && p[0].is_ascii_uppercase()
                && p[1].is_ascii_digit()
                && p[2].is_ascii_uppercase()
                && p[3] == b' '
                && p[4].is_ascii_digit()
                && LDU_LETTERS.contains(&p[5])
                && p[6].is_ascii_digit();
            assert!(shape, "{}", address.postal_code);
            if let Some(region) = location_region.get(address.location_id.as_str()) {
                assert!(
                    first_letters[region].contains(p[0] as char),
                    "{} in {region}",
                    address.postal_code
                );
            }
            assert_eq!(
                (address.state_province.as_str(), address.country.as_str()),
                ("ON", "CA")
            );
        }
        // Near a town of the region.
        for location in &d.locations {
            let at = (location.latitude.unwrap(), location.longitude.unwrap());
            let near = REGIONS
                .iter()
                .flat_map(|r| r.towns)
                .map(|t| km(at, (t.lat, t.lon)))
                .fold(f64::MAX, f64::min);
            assert!(near < 5.0, "{:?} is {near} km from a town", location.name);
        }
        let uuid_shaped = |id: &str| {
            let parts: Vec<&str> = id.split('-').collect();
            parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
                && parts.iter().all(|p| {
                    p.bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                })
        };
        assert!(d.services.iter().all(|s| uuid_shaped(&s.id)));
        assert!(d.phones.iter().all(|p| uuid_shaped(&p.id)));
        assert!(d.organizations.iter().all(|o| {
            o.website
                .as_deref()
                .is_some_and(|w| w.ends_with(".example"))
        }));
    }

    #[test]
    fn a_generated_directory_round_trips_through_both_forms() {
        let d = generate(&options(300));
        let dir = temp_dir("round-trip");
        hsds::write_csv(&d, &dir).unwrap();
        let from_csv = hsds::read(&dir).unwrap();
        same(normalised(from_csv), normalised(d.clone()));
        let file = dir.join("directory.json");
        hsds::write_json(&d, &file).unwrap();
        let from_json = hsds::read(&file).unwrap();
        // The JSON form nests taxonomy terms in the attributes that use
        // them: the parent terms (BD, B…) have no place in it.
        let mut expected = d;
        let used: HashSet<String> = expected
            .attributes
            .iter()
            .map(|a| a.taxonomy_term_id.clone())
            .collect();
        expected.taxonomy_terms.retain(|t| used.contains(&t.id));
        assert!(expected.taxonomy_terms.len() >= 30);
        same(normalised(from_json), normalised(expected));
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn french_names_take_the_right_form_of_de() {
        assert_eq!(de("Vanier"), "de Vanier");
        assert_eq!(de("Orléans"), "d'Orléans");
        assert_eq!(de("la Basse-Ville"), "de la Basse-Ville");
        assert_eq!(de("Centre-ville"), "du Centre-ville");
        assert_eq!(de("centre-ville de Toronto"), "du centre-ville de Toronto");
        assert_eq!(
            slug("Banque alimentaire d'Orléans"),
            "banque-alimentaire-dorleans"
        );
        assert_eq!(
            slug("Ontario Works — St. James Town"),
            "ontario-works-st-james-town"
        );
        let street = |s| street_name(s).map(|(en, fr)| format!("{en} / {fr}"));
        assert_eq!(
            street("Barton Street East").as_deref(),
            Some("Barton Street / de la rue Barton")
        );
        assert_eq!(
            street("St. Joseph Boulevard").as_deref(),
            Some("St. Joseph Boulevard / du boulevard St. Joseph")
        );
        assert_eq!(
            street("Avenue Road").as_deref(),
            Some("Avenue Road / du chemin Avenue")
        );
        assert_eq!(
            street("Lundy's Lane").as_deref(),
            Some("Lundy's Lane / de Lundy's Lane")
        );
        assert_eq!(street("10th Street West"), None);
    }

    /// `cargo test --release -- --ignored sixty` to time the bench's size.
    #[test]
    #[ignore]
    fn sixty_thousand_services() {
        let start = std::time::Instant::now();
        let d = generate(&GenerateOptions {
            services: 60_000,
            seed: 211,
        });
        let generated = start.elapsed();
        assert_eq!(d.services.len(), 60_000);
        assert!(hsds::check(&d).is_empty());
        let checked = start.elapsed();
        let dir = temp_dir("sixty");
        hsds::write_csv(&d, &dir).unwrap();
        let written = start.elapsed();
        let back = hsds::read(&dir).unwrap();
        let read = start.elapsed();
        hsds::write_json(&d, &dir.join("directory.json")).unwrap();
        let json_written = start.elapsed();
        let from_json = hsds::read(&dir.join("directory.json")).unwrap();
        assert_eq!(
            (back.services.len(), from_json.services.len()),
            (60_000, 60_000)
        );
        println!(
            "60,000 services: generated in {generated:?}, checked in {:?}; CSV written in {:?}, read in {:?}; JSON written in {:?}, read in {:?}",
            checked - generated,
            written - checked,
            read - written,
            json_written - read,
            start.elapsed() - json_written
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
