//! The Open Referral HSDS 3.0 objects the directory keeps, as flat tables:
//! the tabular form's rows, which the JSON form's nested objects are
//! flattened into (each nested object gets the id of its parent in the
//! link column the tabular form uses). Fields the directory does not use
//! are not kept. Field names are HSDS's.

/// Where a record came from, for messages: `file:row` (the CSV's line
/// number, header being line 1) or `file:path` in a JSON document
/// (`services.json:[3].phones[0]`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub file: String,
    /// A CSV line number (1 is the header) or a JSON path.
    pub at: String,
}

impl std::fmt::Display for Origin {
    /// `file:at`, or `file` alone for a problem with a whole file.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.at.is_empty() {
            write!(f, "{}", self.file)
        } else {
            write!(f, "{}:{}", self.file, self.at)
        }
    }
}

/// One problem found while reading or checking a dataset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub origin: Origin,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.origin, self.message)
    }
}

/// A whole dataset, checked: every reference resolves.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    pub organizations: Vec<Organization>,
    pub services: Vec<Service>,
    pub locations: Vec<Location>,
    pub addresses: Vec<Address>,
    pub service_at_locations: Vec<ServiceAtLocation>,
    pub phones: Vec<Phone>,
    pub schedules: Vec<Schedule>,
    pub languages: Vec<Language>,
    pub service_areas: Vec<ServiceArea>,
    pub taxonomy_terms: Vec<TaxonomyTerm>,
    pub attributes: Vec<Attribute>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Organization {
    pub origin: Origin,
    pub id: String,
    pub name: String,
    pub alternate_name: Option<String>,
    pub description: Option<String>,
    pub email: Option<String>,
    pub website: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Service {
    pub origin: Origin,
    pub id: String,
    pub organization_id: String,
    pub name: String,
    pub alternate_name: Option<String>,
    pub description: Option<String>,
    pub url: Option<String>,
    pub email: Option<String>,
    /// `active`, `inactive`, `defunct` or `temporarily closed`.
    pub status: String,
    pub interpretation_services: Option<String>,
    pub application_process: Option<String>,
    pub fees_description: Option<String>,
    pub eligibility_description: Option<String>,
    pub minimum_age: Option<f64>,
    pub maximum_age: Option<f64>,
    pub alert: Option<String>,
    /// RFC 3339, as given.
    pub last_modified: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Location {
    pub origin: Origin,
    pub id: String,
    /// `physical`, `postal` or `virtual`.
    pub location_type: String,
    pub organization_id: Option<String>,
    pub name: Option<String>,
    pub alternate_name: Option<String>,
    pub description: Option<String>,
    pub transportation: Option<String>,
    /// Degrees, checked to be within -90..=90 and -180..=180.
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Address {
    pub origin: Origin,
    pub id: String,
    pub location_id: String,
    pub attention: Option<String>,
    pub address_1: String,
    pub address_2: Option<String>,
    pub city: String,
    pub region: Option<String>,
    pub state_province: String,
    pub postal_code: String,
    pub country: String,
    /// `physical`, `postal` or `virtual`.
    pub address_type: String,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceAtLocation {
    pub origin: Origin,
    pub id: String,
    pub service_id: String,
    pub location_id: String,
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Phone {
    pub origin: Origin,
    pub id: String,
    pub location_id: Option<String>,
    pub service_id: Option<String>,
    pub organization_id: Option<String>,
    pub contact_id: Option<String>,
    pub service_at_location_id: Option<String>,
    /// As given (quotes some publishers wrap numbers in removed).
    pub number: String,
    pub extension: Option<String>,
    /// `text`, `voice`, `fax`, `cell`, `video`, `pager` or `textphone`.
    pub kind: Option<String>,
    pub description: Option<String>,
}

/// An HSDS schedule: an iCalendar-style recurrence (`freq`, `byday`, …)
/// with opening times, attached to a service, a location or a service at a
/// location.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Schedule {
    pub origin: Origin,
    pub id: String,
    pub service_id: Option<String>,
    pub location_id: Option<String>,
    pub service_at_location_id: Option<String>,
    /// `YYYY-MM-DD`.
    pub valid_from: Option<String>,
    pub valid_to: Option<String>,
    pub dtstart: Option<String>,
    pub until: Option<String>,
    /// `WEEKLY` or `MONTHLY` (upper case after reading).
    pub freq: Option<String>,
    pub interval: Option<i64>,
    /// Comma-separated `MO`..`SU`, for MONTHLY optionally with an ordinal
    /// (`1MO`, `-1FR`); upper case after reading.
    pub byday: Option<String>,
    /// Comma-separated days of the month (`1,15`, `-1`).
    pub bymonthday: Option<String>,
    /// `HH:MM` after reading (seconds dropped).
    pub opens_at: Option<String>,
    pub closes_at: Option<String>,
    pub description: Option<String>,
    pub attending_type: Option<String>,
    pub notes: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Language {
    pub origin: Origin,
    pub id: String,
    pub service_id: Option<String>,
    pub location_id: Option<String>,
    pub phone_id: Option<String>,
    pub name: Option<String>,
    /// ISO 639 code, lower case after reading (`fr`, `en`, `oj`).
    pub code: Option<String>,
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceArea {
    pub origin: Origin,
    pub id: String,
    pub service_id: Option<String>,
    pub service_at_location_id: Option<String>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub extent: Option<String>,
    pub extent_type: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct TaxonomyTerm {
    pub origin: Origin,
    pub id: String,
    pub code: Option<String>,
    pub name: String,
    pub description: Option<String>,
    pub parent_id: Option<String>,
    /// The taxonomy's name (`211 HSIS`, `AIRS`), when given.
    pub taxonomy: Option<String>,
    pub language: Option<String>,
}

/// A taxonomy term applied to an object (`link_entity` is the object's
/// table: `service`, `organization`, `location`, `service_at_location`…).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Attribute {
    pub origin: Origin,
    pub id: String,
    pub link_id: String,
    pub link_type: Option<String>,
    pub link_entity: String,
    pub taxonomy_term_id: String,
    pub value: Option<String>,
}
