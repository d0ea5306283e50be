//! The directory's SQL: an import written in one transaction, the search's
//! candidates from the full-text index (FTS5 on SQLite, a `tsvector` with a
//! GIN index on PostgreSQL), and the searches made during calls.

use std::collections::{HashMap, HashSet};

use sqlx::Row;

use super::bulk::{Table, V};
use super::{Backend, Store};
use crate::directory::prepare::Prepared;
use crate::error::Result;

/// What an import changed.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ImportSummary {
    pub organizations: usize,
    pub services: usize,
    /// Services new to the directory (or listed again after being retired).
    pub added: usize,
    /// Services whose record differs from the last import's.
    pub changed: usize,
    /// Services the dataset no longer lists (kept for the logs that refer to them).
    pub retired: usize,
    /// Services at a location a search can find (active services only).
    pub searchable: usize,
    pub postal_areas: usize,
}

/// A search row the index matched: what ranking needs, no more.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The search row's id, to fetch what is shown of the chosen ones.
    pub row: i64,
    pub service_id: String,
    pub lat: Option<f64>,
    pub lon: Option<f64>,
    pub languages: String,
    pub hours: String,
    /// How well the words matched, higher is better (0 with no words).
    pub rank: f64,
}

/// What a search shows of a row it chose.
#[derive(Debug, Clone)]
pub struct Shown {
    pub row: i64,
    pub location_id: Option<String>,
    pub name: String,
    pub alternate_name: Option<String>,
    pub organization: String,
    pub description: Option<String>,
    pub phone: Option<String>,
    pub address: Option<String>,
    pub codes: String,
    pub eligibility: Option<String>,
    pub url: Option<String>,
}

/// What to ask the index for.
#[derive(Debug, Clone, Default)]
pub struct CandidateQuery {
    /// FTS5 query text (SQLite) and `to_tsquery` text (PostgreSQL); `None`
    /// for no words.
    pub fts5: Option<String>,
    pub tsquery: Option<String>,
    /// Latitude and longitude bounds; rows with no coordinates pass.
    pub bbox: Option<(f64, f64, f64, f64)>,
    /// Whether to rank by how well words matched (bm25, ts_rank): only
    /// when there are words; else nearest to `centre` first.
    pub ranked: bool,
    /// Nearest to this point first, when not ranked by words.
    pub centre: Option<(f64, f64)>,
    pub limit: i64,
}

const COLUMNS: &str = "s.id, s.service_id, s.lat, s.lon, s.languages, s.hours";

/// The records of `table` (`dir_organizations`, `dir_services`) already
/// stored: id → (the record as imported, whether retired).
async fn known_records(
    tx: &mut sqlx::AnyConnection,
    table: &'static str,
) -> Result<HashMap<String, (String, bool)>> {
    let sql = format!("SELECT id, doc, retired_ms FROM {table}");
    sqlx::query(sqlx::AssertSqlSafe(sql))
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<String, _>(0)?,
                (
                    r.try_get::<String, _>(1)?,
                    r.try_get::<Option<i64>, _>(2)?.is_some(),
                ),
            ))
        })
        .collect()
}

impl Store {
    /// The taxonomy's names by code, indexed with the services coded so.
    pub async fn taxonomy_names(&self) -> Result<HashMap<String, (String, String)>> {
        let rows = sqlx::query("SELECT code, name_en, name_fr FROM taxonomy")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, (r.try_get(1)?, r.try_get(2)?))))
            .collect()
    }

    /// Writes a prepared dataset in one transaction: organisations and
    /// services added or updated (their ids kept), those no longer listed
    /// retired, the search rows and postal areas rebuilt, the import noted.
    pub async fn import_directory(
        &self,
        p: &Prepared,
        actor: &str,
        source: &str,
        now_ms: i64,
    ) -> Result<ImportSummary> {
        let numbered = self.backend == Backend::Postgres;
        let mut tx = self.begin_write().await?;
        let mut summary = ImportSummary {
            organizations: p.organizations.len(),
            services: p.services.len(),
            ..ImportSummary::default()
        };

        // Organisations.
        let known = known_records(&mut tx, "dir_organizations").await?;
        let mut table = Table::new("dir_organizations", &["id", "name", "doc", "imported_ms"]);
        for o in &p.organizations {
            match known.get(&o.id) {
                None => table.push([
                    V::T(o.id.clone()),
                    V::T(o.name.clone()),
                    V::T(o.doc.clone()),
                    V::I(now_ms),
                ]),
                Some((doc, retired)) if *doc != o.doc || *retired => {
                    sqlx::query(
                        "UPDATE dir_organizations SET name = $1, doc = $2, imported_ms = $3, \
                         retired_ms = NULL WHERE id = $4",
                    )
                    .bind(&o.name)
                    .bind(&o.doc)
                    .bind(now_ms)
                    .bind(&o.id)
                    .execute(&mut *tx)
                    .await?;
                }
                Some(_) => {}
            }
        }
        table.flush(&mut tx, numbered).await?;
        let listed: HashSet<&str> = p.organizations.iter().map(|o| o.id.as_str()).collect();
        for (id, (_, retired)) in &known {
            if !retired && !listed.contains(id.as_str()) {
                sqlx::query("UPDATE dir_organizations SET retired_ms = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }

        // Services.
        let known = known_records(&mut tx, "dir_services").await?;
        let mut table = Table::new(
            "dir_services",
            &[
                "id",
                "organization_id",
                "name",
                "organization",
                "status",
                "codes",
                "doc",
                "imported_ms",
            ],
        );
        for s in &p.services {
            match known.get(&s.id) {
                None => {
                    summary.added += 1;
                    table.push([
                        V::T(s.id.clone()),
                        V::T(s.organization_id.clone()),
                        V::T(s.name.clone()),
                        V::T(s.organization.clone()),
                        V::T(s.status.clone()),
                        V::T(s.codes.join(" ")),
                        V::T(s.doc.clone()),
                        V::I(now_ms),
                    ]);
                }
                Some((doc, retired)) if *doc != s.doc || *retired => {
                    if *retired {
                        summary.added += 1;
                    } else {
                        summary.changed += 1;
                    }
                    sqlx::query(
                        "UPDATE dir_services SET organization_id = $1, name = $2, organization = $3, \
                         status = $4, codes = $5, doc = $6, imported_ms = $7, retired_ms = NULL \
                         WHERE id = $8",
                    )
                    .bind(&s.organization_id)
                    .bind(&s.name)
                    .bind(&s.organization)
                    .bind(&s.status)
                    .bind(s.codes.join(" "))
                    .bind(&s.doc)
                    .bind(now_ms)
                    .bind(&s.id)
                    .execute(&mut *tx)
                    .await?;
                }
                Some(_) => {}
            }
        }
        table.flush(&mut tx, numbered).await?;
        let listed: HashSet<&str> = p.services.iter().map(|s| s.id.as_str()).collect();
        for (id, (_, retired)) in &known {
            if !retired && !listed.contains(id.as_str()) {
                summary.retired += 1;
                sqlx::query("UPDATE dir_services SET retired_ms = $1 WHERE id = $2")
                    .bind(now_ms)
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
            }
        }

        // What searches read, rebuilt.
        sqlx::query("DELETE FROM dir_search")
            .execute(&mut *tx)
            .await?;
        let mut table = Table::new(
            "dir_search",
            &[
                "service_id",
                "location_id",
                "name",
                "alternate_name",
                "organization",
                "description",
                "phone",
                "address",
                "postal_area",
                "lat",
                "lon",
                "languages",
                "codes",
                "eligibility",
                "url",
                "hours",
                "terms",
            ],
        );
        let text = |s: &Option<String>| s.clone().map_or(V::NullT, V::T);
        let mut areas: HashMap<&str, (f64, f64, i64)> = HashMap::new();
        for r in &p.rows {
            if let (Some(a), Some(lat), Some(lon)) = (&r.postal_area, r.lat, r.lon) {
                let e = areas.entry(a.as_str()).or_default();
                e.0 += lat;
                e.1 += lon;
                e.2 += 1;
            }
            table.push([
                V::T(r.service_id.clone()),
                text(&r.location_id),
                V::T(r.name.clone()),
                text(&r.alternate_name),
                V::T(r.organization.clone()),
                text(&r.description),
                text(&r.phone),
                text(&r.address),
                text(&r.postal_area),
                r.lat.map_or(V::NullF, V::F),
                r.lon.map_or(V::NullF, V::F),
                V::T(format!(" {} ", r.languages.join(" "))),
                V::T(format!(" {} ", r.codes.join(" "))),
                text(&r.eligibility),
                text(&r.url),
                // Serialising plain data cannot fail.
                V::T(serde_json::to_string(&r.hours).unwrap_or_default()),
                V::T(r.terms.clone()),
            ]);
        }
        table.flush(&mut tx, numbered).await?;
        summary.searchable = p.rows.len();
        sqlx::query("DELETE FROM dir_postal_areas")
            .execute(&mut *tx)
            .await?;
        let mut table = Table::new(
            "dir_postal_areas",
            &["postal_area", "lat", "lon", "locations"],
        );
        let mut sorted: Vec<_> = areas.into_iter().collect();
        sorted.sort_by(|a, b| a.0.cmp(b.0));
        for (area, (lat, lon, n)) in sorted {
            table.push([
                V::T(area.to_string()),
                V::F(lat / n as f64),
                V::F(lon / n as f64),
                V::I(n),
            ]);
            summary.postal_areas += 1;
        }
        table.flush(&mut tx, numbered).await?;
        sqlx::query(
            "INSERT INTO dir_imports (at_ms, actor, source, services, added, changed, retired) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(now_ms)
        .bind(actor)
        .bind(source)
        .bind(summary.services as i64)
        .bind(summary.added as i64)
        .bind(summary.changed as i64)
        .bind(summary.retired as i64)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if self.backend == Backend::Postgres {
            sqlx::query("ANALYZE dir_search")
                .execute(&self.pool)
                .await?;
        } else {
            sqlx::query("ANALYZE").execute(&self.pool).await?;
        }
        Ok(summary)
    }

    /// The search rows the index matches, best first, at most `q.limit`.
    pub async fn directory_candidates(&self, q: &CandidateQuery) -> Result<Vec<Candidate>> {
        let mut sql;
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        let mut binds: Vec<V> = Vec::new();
        match (self.backend, &q.fts5, &q.tsquery) {
            (Backend::Sqlite, Some(fts), _) => {
                // The index ranks and cuts first; only the rows it keeps
                // are read from the table.
                let (rank, order) = if q.ranked {
                    ("-bm25(dir_search_fts)", " ORDER BY rank DESC")
                } else {
                    ("CAST(0 AS DOUBLE PRECISION)", "")
                };
                let inner_limit = if q.bbox.is_none() && q.ranked {
                    format!("{order} LIMIT {}", q.limit)
                } else {
                    String::new()
                };
                sql = format!(
                    "SELECT {COLUMNS}, f.rank FROM (SELECT rowid, {rank} AS rank FROM dir_search_fts \
                     WHERE dir_search_fts MATCH {}{inner_limit}) f JOIN dir_search s ON s.id = f.rowid \
                     WHERE 1 = 1",
                    next()
                );
                binds.push(V::T(fts.clone()));
            }
            (Backend::Postgres, _, Some(tsq)) => {
                let rank = if q.ranked {
                    "CAST(ts_rank(s.tsv, q) AS DOUBLE PRECISION)"
                } else {
                    "CAST(0 AS DOUBLE PRECISION)"
                };
                sql = format!(
                    "SELECT {COLUMNS}, {rank} AS rank \
                     FROM dir_search s, to_tsquery('simple', {}) AS q WHERE s.tsv @@ q",
                    next()
                );
                binds.push(V::T(tsq.clone()));
            }
            _ => {
                sql = format!(
                    "SELECT {COLUMNS}, CAST(0 AS DOUBLE PRECISION) AS rank FROM dir_search s WHERE 1 = 1"
                );
            }
        }
        if let Some((lat0, lat1, lon0, lon1)) = q.bbox {
            sql.push_str(&format!(
                " AND (s.lat IS NULL OR (s.lat BETWEEN {} AND {} AND s.lon BETWEEN {} AND {}))",
                next(),
                next(),
                next(),
                next()
            ));
            binds.extend([V::F(lat0), V::F(lat1), V::F(lon0), V::F(lon1)]);
        }
        if q.ranked {
            sql.push_str(" ORDER BY 7 DESC");
        } else if let Some((lat, lon)) = q.centre {
            // Degrees of longitude are shorter than of latitude here; near
            // enough for ordering.
            let (a, b) = (next(), next());
            sql.push_str(&format!(
                " ORDER BY CASE WHEN s.lat IS NULL THEN 1 ELSE 0 END, \
                 (s.lat - {a}) * (s.lat - {a}) + 0.5 * (s.lon - {b}) * (s.lon - {b})"
            ));
            binds.extend([V::F(lat), V::F(lon)]);
        } else {
            sql.push_str(" ORDER BY s.name");
        }
        sql.push_str(&format!(" LIMIT {}", next()));
        binds.push(V::I(q.limit));
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for v in binds {
            query = super::bulk::bind(query, v);
        }
        let rows = query.fetch_all(&self.pool).await?;
        rows.iter()
            .map(|r| {
                Ok(Candidate {
                    row: r.try_get(0)?,
                    service_id: r.try_get(1)?,
                    lat: r.try_get(2)?,
                    lon: r.try_get(3)?,
                    languages: r.try_get(4)?,
                    hours: r.try_get(5)?,
                    rank: r.try_get(6)?,
                })
            })
            .collect()
    }

    /// What is shown of the search rows `rows`, in no order.
    pub async fn directory_rows(&self, rows: &[i64]) -> Result<Vec<Shown>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let list: Vec<String> = (1..=rows.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT id, location_id, name, alternate_name, organization, description, phone, address, \
             codes, eligibility, url FROM dir_search WHERE id IN ({})",
            list.join(", ")
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
        for r in rows {
            q = q.bind(*r);
        }
        let found = q.fetch_all(&self.pool).await?;
        found
            .iter()
            .map(|r| {
                Ok(Shown {
                    row: r.try_get(0)?,
                    location_id: r.try_get(1)?,
                    name: r.try_get(2)?,
                    alternate_name: r.try_get(3)?,
                    organization: r.try_get(4)?,
                    description: r.try_get(5)?,
                    phone: r.try_get(6)?,
                    address: r.try_get(7)?,
                    codes: r.try_get(8)?,
                    eligibility: r.try_get(9)?,
                    url: r.try_get(10)?,
                })
            })
            .collect()
    }

    /// Where a postal area is, from the directory's locations in it.
    pub async fn postal_area_place(&self, area: &str) -> Result<Option<(f64, f64)>> {
        let row = sqlx::query("SELECT lat, lon FROM dir_postal_areas WHERE postal_area = $1")
            .bind(area)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Notes a search a navigator made (for the unmet-needs report).
    pub async fn record_directory_search(
        &self,
        at_ms: i64,
        call_id: Option<&str>,
        username: &str,
        words: &str,
        code: Option<&str>,
        results: usize,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO dir_searches (at_ms, call_id, username, words, code, results) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(at_ms)
        .bind(call_id)
        .bind(username)
        .bind(words)
        .bind(code)
        .bind(results as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Which of `ids` are services the directory has (retired ones included).
    pub async fn known_services(&self, ids: &[&str]) -> Result<HashSet<String>> {
        let mut out = HashSet::new();
        for id in ids {
            if let Some(r) = sqlx::query("SELECT id FROM dir_services WHERE id = $1")
                .bind(*id)
                .fetch_optional(&self.pool)
                .await?
            {
                out.insert(r.try_get(0)?);
            }
        }
        Ok(out)
    }

    /// How many services the directory holds, searchable and in all.
    pub async fn directory_size(&self) -> Result<(i64, i64)> {
        let r = sqlx::query(
            "SELECT (SELECT COUNT(*) FROM dir_search), (SELECT COUNT(*) FROM dir_services WHERE retired_ms IS NULL)",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok((r.try_get(0)?, r.try_get(1)?))
    }
}

impl Store {
    /// The taxonomy codes of the directory's current services, a row each.
    pub async fn service_codes(&self) -> Result<Vec<String>> {
        let rows = sqlx::query("SELECT DISTINCT codes FROM dir_services WHERE retired_ms IS NULL")
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
    }
}
