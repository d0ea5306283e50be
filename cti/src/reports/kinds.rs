//! Each report's queries and its table. Counts come from `GROUP BY` in the
//! database, by bucket or local day (see [`Periods::bucket_sql`]); the days are rolled up
//! into the report's buckets here.

use std::collections::{BTreeMap, HashMap};

use jiff::civil::Date;
use sqlx::AnyConnection;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::table::{Cell, Chart, ColType, Report};
use super::{Kind, Periods, Query, ReportsConfig, Split};
use crate::error::Result;

use ColType::{Count, Dim, Percent, Seconds, Text};

/// A `WHERE` clause over `call_records r` and its bound values.
struct Filter {
    sql: String,
    binds: Vec<String>,
}

impl Filter {
    /// Rows of table alias `t` (call records `r`, logs `l`, needs `n`:
    /// each has the call's arrival, region, centre and incident) of calls
    /// that arrived in `[lo_ms, hi_ms)`, of the query's centre, region and
    /// incident.
    fn calls(q: &Query, t: &str, lo_ms: i64, hi_ms: i64) -> Filter {
        let mut f = Filter {
            sql: format!("{t}.arrived_ms >= {lo_ms} AND {t}.arrived_ms < {hi_ms}"),
            binds: Vec::new(),
        };
        if let Some(c) = &q.centre {
            f.and(&format!("{t}.centre"), c);
        }
        if let Some(r) = &q.region {
            f.and(&format!("{t}.region"), r);
        }
        if let Some(tag) = &q.tag {
            f.and(&format!("{t}.incident"), tag);
        }
        f
    }

    fn and(&mut self, column: &str, value: &str) {
        self.binds.push(value.to_string());
        self.sql
            .push_str(&format!(" AND {column} = ${}", self.binds.len()));
    }

    async fn fetch(&self, conn: &mut AnyConnection, sql: String) -> Result<Vec<AnyRow>> {
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
        for b in &self.binds {
            query = query.bind(b.clone());
        }
        Ok(query.fetch_all(&mut *conn).await?)
    }
}

fn int(row: &AnyRow, i: usize) -> i64 {
    row.try_get::<Option<i64>, _>(i).ok().flatten().unwrap_or(0)
}

fn text(row: &AnyRow, i: usize) -> String {
    row.try_get::<Option<String>, _>(i)
        .ok()
        .flatten()
        .unwrap_or_default()
}

/// `CAST(SUM(CASE WHEN cond THEN value ELSE 0 END) AS BIGINT)`: a sum both
/// backends give as a 64-bit integer.
fn sum_if(cond: &str, value: &str) -> String {
    format!("CAST(SUM(CASE WHEN {cond} THEN {value} ELSE 0 END) AS BIGINT)")
}

/// The bucket of a local day number read from the database.
fn bucket(p: &Periods, row: &AnyRow, i: usize) -> Option<Date> {
    p.bucket_key(int(row, i))
}

/// Adds `v` into `acc` element-wise.
fn add(acc: &mut Vec<i64>, v: &[i64]) {
    if acc.len() < v.len() {
        acc.resize(v.len(), 0);
    }
    for (a, b) in acc.iter_mut().zip(v) {
        *a += b;
    }
}

fn ratio(num: i64, den: i64, scale: f64) -> Cell {
    if den > 0 {
        Cell::Num(num as f64 * scale / den as f64)
    } else {
        Cell::Null
    }
}

fn period_range(r: &mut Report, p: &Periods, q: &Query) {
    r.from = q.from.to_string();
    r.to = q.to.to_string();
    r.by = p.by.map(super::By::as_str);
    r.tag = q.tag.clone();
}

pub(super) async fn build(
    conn: &mut AnyConnection,
    config: &ReportsConfig,
    p: &Periods,
    today: Date,
    q: &Query,
    suppress_below: u64,
) -> Result<Report> {
    let mut r = match q.kind {
        Kind::Needs => needs(conn, p, q).await?,
        Kind::Unmet => unmet(conn, p, q).await?,
        Kind::ServiceLevel => service_level(conn, config, p, q).await?,
        Kind::Tracked => tracked(conn, p, q).await?,
        Kind::FollowUps => follow_ups(conn, p, today, q).await?,
        Kind::Incident => incident(conn, p, q).await?,
        Kind::Demographics => demographics(conn, p, q, suppress_below).await?,
        Kind::Referrals => referrals(conn, p, q).await?,
        Kind::NoService => no_service(conn, p, q, suppress_below).await?,
    };
    period_range(&mut r, p, q);
    Ok(r)
}

/// The taxonomy's names, by code, in the query's language.
async fn names(conn: &mut AnyConnection, french: bool) -> Result<HashMap<String, String>> {
    let rows = sqlx::query("SELECT code, name_en, name_fr FROM taxonomy")
        .fetch_all(&mut *conn)
        .await?;
    Ok(rows
        .iter()
        .map(|row| (text(row, 0), text(row, if french { 2 } else { 1 })))
        .collect())
}

/// Level 1 (first letter) and level 2 (first two letters) of a code.
fn levels(code: &str) -> (String, String) {
    let l1: String = code.chars().take(1).collect();
    let l2: String = code.chars().take(2).collect();
    (l1, l2)
}

/// The needs of the period's current logs, by level 1 and 2, with the same
/// group's count in the bucket before.
async fn needs(conn: &mut AnyConnection, p: &Periods, q: &Query) -> Result<Report> {
    let f = Filter::calls(q, "n", p.lo_ms, p.hi_ms);
    let split = match q.split {
        Some(Split::Region) => "COALESCE(n.region, '')",
        Some(Split::Centre) => "COALESCE(n.centre, '')",
        None => "''",
    };
    let sql = format!(
        "SELECT {day} AS d, n.code, {split} AS s, COUNT(*) AS needs, {unmet} AS unmet \
         FROM call_log_needs n WHERE {w} AND n.is_current = 1 GROUP BY 1, 2, 3",
        day = p.bucket_sql("n.arrived_ms"),
        unmet = sum_if("n.met = 0", "1"),
        w = f.sql
    );
    let rows = f.fetch(conn, sql).await?;
    // (bucket, l1, l2, split) → [needs, unmet]
    let mut acc: BTreeMap<(Date, String, String, String), Vec<i64>> = BTreeMap::new();
    for row in &rows {
        let Some(b) = bucket(p, row, 0) else { continue };
        let (l1, l2) = levels(&text(row, 1));
        add(
            acc.entry((b, l1, l2, text(row, 2))).or_default(),
            &[int(row, 3), int(row, 4)],
        );
    }
    let names = names(conn, q.french).await?;
    let mut cols = vec![
        ("period", Dim),
        ("l1", Dim),
        ("l1_name", Text),
        ("l2", Dim),
        ("l2_name", Text),
    ];
    match q.split {
        Some(Split::Region) => cols.push(("region", Dim)),
        Some(Split::Centre) => cols.push(("centre", Dim)),
        None => {}
    }
    cols.extend([
        ("needs", Count),
        ("met", Count),
        ("unmet", Count),
        ("previous", Count),
        ("change_pct", Percent),
    ]);
    let mut r = Report::new(
        Kind::Needs.as_str(),
        &cols,
        Chart {
            x: "l2_name",
            y: "needs",
            sum: true,
            group: None,
        },
    );
    let (needs_c, met_c, unmet_c, prev_c, change_c) = (
        r.col("needs"),
        r.col("met"),
        r.col("unmet"),
        r.col("previous"),
        r.col("change_pct"),
    );
    r.sums = vec![(needs_c, vec![met_c, unmet_c])];
    r.derived = vec![(change_c, vec![needs_c, prev_c])];
    let keys = buckets(p, q);
    let groups: std::collections::BTreeSet<(String, String, String)> = acc
        .keys()
        .map(|(_, a, b, c)| (a.clone(), b.clone(), c.clone()))
        .collect();
    let name = |code: &str| names.get(code).cloned().unwrap_or_default();
    let mut total = [0i64; 4];
    // Where each (bucket, group) row is: a row's `previous` is the row of
    // the bucket before, and suppression must hide both or neither.
    let mut at: HashMap<(Date, &(String, String, String)), usize> = HashMap::new();
    for k in &keys {
        let prev = p.previous_key(*k);
        for g in &groups {
            let get = |b: Date| acc.get(&(b, g.0.clone(), g.1.clone(), g.2.clone()));
            let now = get(*k);
            let before = get(prev).map_or(0, |v| v[0]);
            if now.is_none() && before == 0 {
                continue;
            }
            let (n, unmet) = now.map_or((0, 0), |v| (v[0], v[1]));
            let mut row = vec![
                Cell::Text(p.label(*k)),
                Cell::Text(g.0.clone()),
                Cell::Text(name(&g.0)),
                Cell::Text(g.1.clone()),
                Cell::Text(name(&g.1)),
            ];
            if q.split.is_some() {
                row.push(Cell::Text(g.2.clone()));
            }
            row.extend([
                Cell::Count(n),
                Cell::Count(n - unmet),
                Cell::Count(unmet),
                Cell::Count(before),
                change(n, before),
            ]);
            add_total(&mut total, &[n, n - unmet, unmet, before]);
            if let Some(&earlier) = at.get(&(prev, g)) {
                r.links.push(((r.rows.len(), prev_c), (earlier, needs_c)));
            }
            at.insert((*k, g), r.rows.len());
            r.rows.push(row);
        }
    }
    // Cut by period, the rows' previous counts are each their own bucket's
    // before: their sum is no period's, so the total has none.
    let (previous, change_total) = if p.by.is_some() {
        (Cell::Null, Cell::Null)
    } else {
        (Cell::Count(total[3]), change(total[0], total[3]))
    };
    r.total = total_row(
        &r,
        needs_c,
        vec![
            Cell::Count(total[0]),
            Cell::Count(total[1]),
            Cell::Count(total[2]),
            previous,
            change_total,
        ],
    );
    Ok(r)
}

fn add_total(total: &mut [i64], v: &[i64]) {
    for (t, x) in total.iter_mut().zip(v) {
        *t += x;
    }
}

/// The change from `before` to `now`, in %; none from nothing.
fn change(now: i64, before: i64) -> Cell {
    if before > 0 {
        Cell::Num((now - before) as f64 * 100.0 / before as f64)
    } else {
        Cell::Null
    }
}

/// The buckets of the period, in order.
fn buckets(p: &Periods, q: &Query) -> Vec<Date> {
    let mut keys: Vec<Date> = Vec::new();
    let mut d = q.from;
    loop {
        let k = p.key(d);
        if keys.last() != Some(&k) {
            keys.push(k);
        }
        match d.tomorrow() {
            Ok(next) if next <= q.to => d = next,
            _ => break,
        }
    }
    keys
}

/// A total row: `total`, then empty words up to the first count.
fn total_row(r: &Report, first_count: usize, values: Vec<Cell>) -> Vec<Cell> {
    let mut t = vec![Cell::Text("total".into())];
    t.resize(first_count, Cell::Text(String::new()));
    t.extend(values);
    debug_assert_eq!(t.len(), r.columns.len());
    t
}

/// Unmet needs by level-2 need and reason.
async fn unmet(conn: &mut AnyConnection, p: &Periods, q: &Query) -> Result<Report> {
    let f = Filter::calls(q, "n", p.from_ms, p.hi_ms);
    let sql = format!(
        "SELECT {day} AS d, n.code, COALESCE(n.unmet_reason, 'other') AS reason, COUNT(*) \
         FROM call_log_needs n WHERE {w} AND n.is_current = 1 AND n.met = 0 GROUP BY 1, 2, 3",
        day = p.bucket_sql("n.arrived_ms"),
        w = f.sql
    );
    let rows = f.fetch(conn, sql).await?;
    let mut acc: BTreeMap<(Date, String, String), i64> = BTreeMap::new();
    for row in &rows {
        let Some(b) = bucket(p, row, 0) else { continue };
        let (_, l2) = levels(&text(row, 1));
        *acc.entry((b, l2, text(row, 2))).or_default() += int(row, 3);
    }
    let names = names(conn, q.french).await?;
    let mut r = Report::new(
        Kind::Unmet.as_str(),
        &[
            ("period", Dim),
            ("l2", Dim),
            ("l2_name", Text),
            ("reason", Dim),
            ("unmet", Count),
        ],
        Chart {
            x: "reason",
            y: "unmet",
            sum: true,
            group: None,
        },
    );
    let mut total = 0;
    for ((b, l2, reason), n) in acc {
        total += n;
        r.rows.push(vec![
            Cell::Text(p.label(b)),
            Cell::Text(l2.clone()),
            Cell::Text(names.get(&l2).cloned().unwrap_or_default()),
            Cell::Text(reason),
            Cell::Count(n),
        ]);
    }
    r.total = total_row(&r, 4, vec![Cell::Count(total)]);
    Ok(r)
}

/// Per queue: offered, answered, abandons, service level, speeds, callbacks.
async fn service_level(
    conn: &mut AnyConnection,
    config: &ReportsConfig,
    p: &Periods,
    q: &Query,
) -> Result<Report> {
    let f = Filter::calls(q, "r", p.from_ms, p.hi_ms);
    let short = i64::try_from(config.short_abandon_s).unwrap_or(0) * 1000;
    let ms = |t: super::Target| i64::try_from(t.within_s).unwrap_or(0) * 1000;
    let mut target = format!("CASE WHEN r.crisis = 1 THEN {}", ms(config.crisis_target));
    for (centre, t) in &config.targets {
        // Centre ids are checked ([a-z0-9_]) when the config is read.
        if super::is_id(centre) {
            target.push_str(&format!(" WHEN r.centre = '{centre}' THEN {}", ms(*t)));
        }
    }
    target.push_str(&format!(" ELSE {} END", ms(config.centre_target)));
    // A callback that reached the caller is counted with the callbacks, not
    // as a call answered from the queue (its answer is the callback's).
    let answered = "r.answered_ms IS NOT NULL AND r.callback = 0";
    let abandoned = "r.answered_ms IS NULL AND r.disposition = 'abandoned_in_queue'";
    let waited = "(COALESCE(r.ended_ms, r.queued_ms) - r.queued_ms)";
    let sql = format!(
        "SELECT {day} AS d, CASE WHEN r.crisis = 1 THEN 'crisis' ELSE COALESCE(r.centre, '') END AS q, \
         COUNT(*), {ans}, {ab}, {short_ab}, {in_target}, {wait}, {talk}, \
         {cb}, {made}, {failed}, {over}, {logged}, {wrap}, {talked} \
         FROM call_records r WHERE {w} AND r.queued_ms IS NOT NULL \
         AND (r.route LIKE 'queue:%' OR r.route = 'crisis') GROUP BY 1, 2",
        day = p.bucket_sql("r.arrived_ms"),
        ans = sum_if(answered, "1"),
        ab = sum_if(&format!("{abandoned} AND {waited} >= {short}"), "1"),
        short_ab = sum_if(&format!("{abandoned} AND {waited} < {short}"), "1"),
        in_target = sum_if(
            &format!("{answered} AND r.answered_ms - r.queued_ms <= {target}"),
            "1"
        ),
        wait = sum_if(answered, "r.answered_ms - r.queued_ms"),
        talk = sum_if(
            &format!("{answered} AND r.ended_ms IS NOT NULL"),
            "r.ended_ms - r.answered_ms"
        ),
        cb = sum_if("r.callback = 1", "1"),
        made = sum_if("r.callback_outcome = 'made'", "1"),
        failed = sum_if("r.callback_outcome = 'failed'", "1"),
        over = sum_if("r.overflowed = 1", "1"),
        // Wrap-up: from the call's end to its first log saved.
        logged = sum_if(
            &format!("{answered} AND r.ended_ms IS NOT NULL AND r.logged_ms IS NOT NULL"),
            "1"
        ),
        wrap = sum_if(
            &format!("{answered} AND r.ended_ms IS NOT NULL AND r.logged_ms > r.ended_ms"),
            "r.logged_ms - r.ended_ms"
        ),
        talked = sum_if(&format!("{answered} AND r.ended_ms IS NOT NULL"), "1"),
        w = f.sql
    );
    let rows = f.fetch(conn, sql).await?;
    // (bucket, queue) → sums; the queue sorts crisis last.
    let mut acc: BTreeMap<(Date, bool, String), Vec<i64>> = BTreeMap::new();
    for row in &rows {
        let Some(b) = bucket(p, row, 0) else { continue };
        let queue = text(row, 1);
        let v: Vec<i64> = (2..16).map(|i| int(row, i)).collect();
        add(acc.entry((b, queue == "crisis", queue)).or_default(), &v);
    }
    let mut r = Report::new(
        Kind::ServiceLevel.as_str(),
        &[
            ("period", Dim),
            ("queue", Dim),
            ("offered", Count),
            ("answered", Count),
            ("abandoned", Count),
            ("short_abandoned", Count),
            ("answered_in_target", Count),
            ("service_level_pct", Percent),
            ("target", Text),
            ("asa_s", Seconds),
            ("aht_s", Seconds),
            ("wrap_s", Seconds),
            ("callbacks_asked", Count),
            ("callbacks_made", Count),
            ("callbacks_failed", Count),
            ("overflowed", Count),
        ],
        Chart {
            x: "queue",
            y: "service_level_pct",
            sum: false,
            group: None,
        },
    );
    r.derived = vec![
        (7, vec![3, 4, 6]),
        (9, vec![3]),
        (10, vec![3]),
        (11, vec![3]),
    ];
    let cells = |v: &[i64], target: Cell| -> Vec<Cell> {
        // v: offered, answered, abandoned, short, in_target, wait_ms,
        // talk_ms, asked, made, failed, overflowed, logged, wrap_ms, talked
        // (answered calls that have ended: talk time is theirs).
        let wrap = ratio(v[12], v[11], 0.001);
        let aht = match (&wrap, ratio(v[6], v[13], 0.001)) {
            (Cell::Num(w), Cell::Num(talk)) => Cell::Num(talk + w),
            (_, talk) => talk,
        };
        vec![
            Cell::Count(v[0]),
            Cell::Count(v[1]),
            Cell::Count(v[2]),
            Cell::Count(v[3]),
            Cell::Count(v[4]),
            ratio(v[4], v[1] + v[2], 100.0),
            target,
            ratio(v[5], v[1], 0.001),
            aht,
            wrap,
            Cell::Count(v[7]),
            Cell::Count(v[8]),
            Cell::Count(v[9]),
            Cell::Count(v[10]),
        ]
    };
    let mut total = vec![0i64; 14];
    for ((b, _, queue), v) in &acc {
        add(&mut total, v);
        let t = config.target_of(queue);
        let mut row = vec![Cell::Text(p.label(*b)), Cell::Text(queue.clone())];
        row.extend(cells(
            v,
            Cell::Text(format!("{}% in {}s", t.goal_pct, t.within_s)),
        ));
        r.rows.push(row);
    }
    r.total = total_row(&r, 2, cells(&total, Cell::Text(String::new())));
    Ok(r)
}

/// Answered calls with a saved log, per centre and navigator.
async fn tracked(conn: &mut AnyConnection, p: &Periods, q: &Query) -> Result<Report> {
    let f = Filter::calls(q, "r", p.from_ms, p.hi_ms);
    let sql = format!(
        "SELECT {day} AS d, COALESCE(r.centre, ''), COALESCE(r.navigator, ''), COUNT(*), \
         {logged} FROM call_records r WHERE {w} AND r.answered_ms IS NOT NULL GROUP BY 1, 2, 3",
        day = p.bucket_sql("r.arrived_ms"),
        logged = sum_if("r.logged_ms IS NOT NULL", "1"),
        w = f.sql
    );
    let rows = f.fetch(conn, sql).await?;
    let mut acc: BTreeMap<(Date, String, String), Vec<i64>> = BTreeMap::new();
    for row in &rows {
        let Some(b) = bucket(p, row, 0) else { continue };
        add(
            acc.entry((b, text(row, 1), text(row, 2))).or_default(),
            &[int(row, 3), int(row, 4)],
        );
    }
    let mut r = Report::new(
        Kind::Tracked.as_str(),
        &[
            ("period", Dim),
            ("centre", Dim),
            ("navigator", Dim),
            ("answered", Count),
            ("logged", Count),
            ("tracked_pct", Percent),
        ],
        Chart {
            x: "navigator",
            y: "tracked_pct",
            sum: false,
            group: None,
        },
    );
    r.derived = vec![(5, vec![3, 4])];
    let mut total = vec![0i64; 2];
    for ((b, centre, nav), v) in &acc {
        add(&mut total, v);
        r.rows.push(vec![
            Cell::Text(p.label(*b)),
            Cell::Text(centre.clone()),
            Cell::Text(nav.clone()),
            Cell::Count(v[0]),
            Cell::Count(v[1]),
            ratio(v[1], v[0], 100.0),
        ]);
    }
    r.total = total_row(
        &r,
        3,
        vec![
            Cell::Count(total[0]),
            Cell::Count(total[1]),
            ratio(total[1], total[0], 100.0),
        ],
    );
    Ok(r)
}

/// Follow-ups due in the period, by their latest outcome.
async fn follow_ups(
    conn: &mut AnyConnection,
    p: &Periods,
    today: Date,
    q: &Query,
) -> Result<Report> {
    let mut f = Filter {
        sql: format!(
            "l.superseded_ms IS NULL AND l.follow_up_due >= '{}' AND l.follow_up_due <= '{}'",
            q.from, q.to
        ),
        binds: Vec::new(),
    };
    if let Some(c) = &q.centre {
        f.and("l.centre", c);
    }
    if let Some(reg) = &q.region {
        f.and("l.region", reg);
    }
    let sql = format!(
        "SELECT due, c, latest, COUNT(*) FROM (\
           SELECT l.follow_up_due AS due, COALESCE(l.centre, '') AS c, \
             (SELECT o.outcome FROM follow_up_outcomes o WHERE o.log_id = l.id \
              ORDER BY o.at_ms DESC LIMIT 1) AS latest \
           FROM call_logs l WHERE {w}\
         ) x GROUP BY due, c, latest",
        w = f.sql
    );
    let rows = f.fetch(conn, sql).await?;
    let outcomes = ["reached", "no_answer", "left_message", "closed"];
    // (bucket, centre) → scheduled, made, reached, no_answer, left_message,
    // closed, overdue, open
    let mut acc: BTreeMap<(Date, String), Vec<i64>> = BTreeMap::new();
    for row in &rows {
        let Ok(due) = text(row, 0).parse::<Date>() else {
            continue;
        };
        let latest = text(row, 2);
        let n = int(row, 3);
        let mut v = vec![0i64; 8];
        v[0] = n;
        if let Some(i) = outcomes.iter().position(|o| *o == latest) {
            v[1] = n;
            v[2 + i] = n;
        }
        if latest != "reached" && latest != "closed" {
            if due < today {
                v[6] = n;
            } else {
                v[7] = n;
            }
        }
        add(acc.entry((p.key(due), text(row, 1))).or_default(), &v);
    }
    let mut r = Report::new(
        Kind::FollowUps.as_str(),
        &[
            ("period", Dim),
            ("centre", Dim),
            ("scheduled", Count),
            ("made", Count),
            ("reached", Count),
            ("no_answer", Count),
            ("left_message", Count),
            ("closed", Count),
            ("overdue", Count),
            ("open", Count),
        ],
        Chart {
            x: "centre",
            y: "scheduled",
            sum: true,
            group: None,
        },
    );
    // made = its latest outcomes; scheduled = reached + closed + overdue +
    // open.
    r.sums = vec![(3, vec![4, 5, 6, 7]), (2, vec![4, 7, 8, 9])];
    let mut total = vec![0i64; 8];
    for ((b, centre), v) in &acc {
        add(&mut total, v);
        let mut row = vec![Cell::Text(p.label(*b)), Cell::Text(centre.clone())];
        row.extend(v.iter().map(|n| Cell::Count(*n)));
        r.rows.push(row);
    }
    r.total = total_row(&r, 2, total.iter().map(|n| Cell::Count(*n)).collect());
    Ok(r)
}

/// The calls and needs of one incident, by day and region.
async fn incident(conn: &mut AnyConnection, p: &Periods, q: &Query) -> Result<Report> {
    let f = Filter::calls(q, "r", p.from_ms, p.hi_ms);
    let day = p.bucket_sql("r.arrived_ms");
    let calls_sql = format!(
        "SELECT {day} AS d, COALESCE(r.region, ''), COUNT(*), {ans}, {ab}, {crisis} \
         FROM call_records r WHERE {w} GROUP BY 1, 2",
        ans = sum_if("r.answered_ms IS NOT NULL", "1"),
        ab = sum_if(
            "r.disposition IN ('abandoned_in_queue', 'abandoned_in_ivr')",
            "1"
        ),
        crisis = sum_if("r.crisis = 1", "1"),
        w = f.sql
    );
    let nf = Filter::calls(q, "n", p.from_ms, p.hi_ms);
    let needs_sql = format!(
        "SELECT {day} AS d, COALESCE(n.region, ''), COUNT(*), {unmet} \
         FROM call_log_needs n WHERE {w} AND n.is_current = 1 GROUP BY 1, 2",
        day = p.bucket_sql("n.arrived_ms"),
        unmet = sum_if("n.met = 0", "1"),
        w = nf.sql
    );
    let mut acc: BTreeMap<(Date, String), Vec<i64>> = BTreeMap::new();
    for row in &f.fetch(conn, calls_sql).await? {
        let Some(b) = bucket(p, row, 0) else { continue };
        let v = [int(row, 2), int(row, 3), int(row, 4), int(row, 5), 0, 0];
        add(acc.entry((b, text(row, 1))).or_default(), &v);
    }
    for row in &nf.fetch(conn, needs_sql).await? {
        let Some(b) = bucket(p, row, 0) else { continue };
        let v = [0, 0, 0, 0, int(row, 2), int(row, 3)];
        add(acc.entry((b, text(row, 1))).or_default(), &v);
    }
    let mut r = Report::new(
        Kind::Incident.as_str(),
        &[
            ("period", Dim),
            ("region", Dim),
            ("calls", Count),
            ("answered", Count),
            ("abandoned", Count),
            ("crisis", Count),
            ("needs", Count),
            ("unmet", Count),
        ],
        Chart {
            x: "period",
            y: "calls",
            sum: true,
            group: None,
        },
    );
    let mut total = vec![0i64; 6];
    for ((b, region), v) in &acc {
        add(&mut total, v);
        let mut row = vec![Cell::Text(p.label(*b)), Cell::Text(region.clone())];
        row.extend(v.iter().map(|n| Cell::Count(*n)));
        r.rows.push(row);
    }
    r.total = total_row(&r, 2, total.iter().map(|n| Cell::Count(*n)).collect());
    Ok(r)
}

/// Who called: inquirer, age band, gender, area; counts of current logs.
/// An area as typed (`k1n `, `Lévis`): a postal area (FSA) in capitals,
/// anything else trimmed; the same on both databases.
fn area(v: &str) -> String {
    let v = v.trim();
    let b = v.as_bytes();
    if b.len() == 3
        && b[0].is_ascii_alphabetic()
        && b[1].is_ascii_digit()
        && b[2].is_ascii_alphabetic()
    {
        v.to_ascii_uppercase()
    } else {
        v.to_string()
    }
}

async fn demographics(
    conn: &mut AnyConnection,
    p: &Periods,
    q: &Query,
    suppress_below: u64,
) -> Result<Report> {
    let f = Filter::calls(q, "l", p.from_ms, p.hi_ms);
    let dims = ["inquirer", "age_band", "gender", "area"];
    // Two sorts of the period's logs, not four: the three coded dimensions
    // together (a few hundred combinations a bucket), added up per
    // dimension here, and the area.
    let day = p.bucket_sql("l.arrived_ms");
    let sql = format!(
        "SELECT {day} AS d, CAST(0 AS BIGINT) AS part, l.inquirer, l.age_band, l.gender, \
         COUNT(*) AS n FROM call_logs l WHERE {w} AND l.superseded_ms IS NULL GROUP BY 1, 2, 3, 4, 5 \
         UNION ALL \
         SELECT {day} AS d, CAST(1 AS BIGINT) AS part, l.area, NULL, NULL, \
         COUNT(*) AS n FROM call_logs l WHERE {w} AND l.superseded_ms IS NULL GROUP BY 1, 2, 3",
        w = f.sql
    );
    let rows = f.fetch(conn, sql).await?;
    // (bucket, dimension index, value) → count; (bucket) → logs
    let mut acc: BTreeMap<(Date, usize, String), i64> = BTreeMap::new();
    let mut logs: BTreeMap<Date, i64> = BTreeMap::new();
    for row in &rows {
        let Some(b) = bucket(p, row, 0) else { continue };
        let n = int(row, 5);
        let values: Vec<(usize, String)> = if int(row, 1) == 0 {
            *logs.entry(b).or_default() += n;
            (0..3).map(|i| (i, text(row, 2 + i))).collect()
        } else {
            vec![(3, area(&text(row, 2)))]
        };
        for (i, mut v) in values {
            if v.is_empty() {
                v = "not_recorded".into();
            }
            *acc.entry((b, i, v)).or_default() += n;
        }
    }
    // An area is typed by the navigator: where counts are suppressed, one
    // that few callers gave is not named but counted as `other`.
    if suppress_below > 1 {
        let below = i64::try_from(suppress_below).unwrap_or(i64::MAX);
        let rare: Vec<(Date, usize, String)> = acc
            .iter()
            .filter(|((_, i, v), n)| {
                dims[*i] == "area" && **n < below && v != "not_recorded" && v != "other"
            })
            .map(|(k, _)| k.clone())
            .collect();
        for key in rare {
            if let Some(n) = acc.remove(&key) {
                *acc.entry((key.0, key.1, "other".into())).or_default() += n;
            }
        }
    }
    let mut r = Report::new(
        Kind::Demographics.as_str(),
        &[
            ("period", Dim),
            ("dimension", Dim),
            ("value", Dim),
            ("count", Count),
            ("pct", Percent),
        ],
        Chart {
            x: "value",
            y: "count",
            sum: true,
            group: Some("dimension"),
        },
    );
    r.derived = vec![(4, vec![3])];
    let mut group_of: BTreeMap<(Date, usize), usize> = BTreeMap::new();
    for ((b, i, value), n) in &acc {
        let next = group_of.len();
        let g = *group_of.entry((*b, *i)).or_insert(next);
        let all = logs.get(b).copied().unwrap_or(0);
        r.groups.push(g);
        r.rows.push(vec![
            Cell::Text(p.label(*b)),
            Cell::Text(dims[*i].into()),
            Cell::Text(value.clone()),
            Cell::Count(*n),
            ratio(*n, all, 100.0),
        ]);
    }
    let all: i64 = logs.values().sum();
    r.total = total_row(
        &r,
        3,
        vec![
            Cell::Count(all),
            if all > 0 {
                Cell::Num(100.0)
            } else {
                Cell::Null
            },
        ],
    );
    Ok(r)
}

/// Referrals of current logs by the directory's service (and its
/// organisation); referrals typed by hand, not chosen from the directory,
/// are one row (their names are free text).
async fn referrals(conn: &mut AnyConnection, p: &Periods, q: &Query) -> Result<Report> {
    let f = Filter::calls(q, "l", p.from_ms, p.hi_ms);
    let sql = format!(
        "SELECT {day} AS d, COALESCE(s.organization, ''), COALESCE(s.name, ''), \
         COALESCE(x.service_id, ''), COUNT(*) \
         FROM call_log_referrals x JOIN call_logs l ON l.id = x.log_id \
         LEFT JOIN dir_services s ON s.id = x.service_id \
         WHERE {w} AND l.superseded_ms IS NULL GROUP BY 1, 2, 3, 4",
        day = p.bucket_sql("l.arrived_ms"),
        w = f.sql
    );
    let rows = f.fetch(conn, sql).await?;
    let mut acc: BTreeMap<(Date, String, String, String), i64> = BTreeMap::new();
    for row in &rows {
        let Some(b) = bucket(p, row, 0) else { continue };
        let id = text(row, 3);
        let key = if id.is_empty() {
            (
                b,
                String::new(),
                "not_from_directory".to_string(),
                String::new(),
            )
        } else {
            (b, text(row, 1), text(row, 2), id)
        };
        *acc.entry(key).or_default() += int(row, 4);
    }
    let mut r = Report::new(
        Kind::Referrals.as_str(),
        &[
            ("period", Dim),
            ("organization", Dim),
            ("service", Dim),
            ("service_id", Text),
            ("referrals", Count),
        ],
        Chart {
            x: "organization",
            y: "referrals",
            sum: true,
            group: None,
        },
    );
    let mut total = 0;
    for ((b, organization, service, id), n) in acc {
        total += n;
        r.rows.push(vec![
            Cell::Text(p.label(b)),
            Cell::Text(organization),
            Cell::Text(service),
            Cell::Text(id),
            Cell::Count(n),
        ]);
    }
    r.total = total_row(&r, 4, vec![Cell::Count(total)]);
    Ok(r)
}

/// Needs left unmet because no service was found, by need, with the words
/// navigators searched the directory for during those calls (lower case,
/// accents kept as typed). Where counts are suppressed, words searched in
/// fewer calls than the threshold are not shown but counted as `other`:
/// they are typed freely.
async fn no_service(
    conn: &mut AnyConnection,
    p: &Periods,
    q: &Query,
    suppress_below: u64,
) -> Result<Report> {
    let f = Filter::calls(q, "n", p.from_ms, p.hi_ms);
    let sql = format!(
        "SELECT {day} AS d, n.code, n.log_id, COALESCE(x.words, '') \
         FROM call_log_needs n JOIN call_logs l ON l.id = n.log_id \
         LEFT JOIN dir_searches x ON x.call_id = l.call_id \
         WHERE {w} AND n.is_current = 1 AND n.met = 0 AND n.unmet_reason = 'no_service'",
        day = p.bucket_sql("n.arrived_ms"),
        w = f.sql
    );
    let rows = f.fetch(conn, sql).await?;
    // (bucket, code, words) → the needs (log, code) searched so, once each.
    let mut needs: BTreeMap<(Date, String, String), std::collections::BTreeSet<i64>> =
        BTreeMap::new();
    // A need searched for with several words is in several rows, once in the total.
    let mut every: std::collections::BTreeSet<(i64, String)> = Default::default();
    for row in &rows {
        let Some(b) = bucket(p, row, 0) else { continue };
        let words = text(row, 3)
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .to_lowercase();
        let words = if words.is_empty() {
            "not_searched".to_string()
        } else {
            words
        };
        every.insert((int(row, 2), text(row, 1)));
        needs
            .entry((b, text(row, 1), words))
            .or_default()
            .insert(int(row, 2));
    }
    let mut acc: BTreeMap<(Date, String, String), i64> = needs
        .into_iter()
        .map(|(k, logs)| (k, logs.len() as i64))
        .collect();
    if suppress_below > 1 {
        let below = i64::try_from(suppress_below).unwrap_or(i64::MAX);
        let rare: Vec<(Date, String, String)> = acc
            .iter()
            .filter(|((_, _, w), n)| **n < below && w != "not_searched" && w != "other")
            .map(|(k, _)| k.clone())
            .collect();
        for key in rare {
            if let Some(n) = acc.remove(&key) {
                *acc.entry((key.0, key.1, "other".into())).or_default() += n;
            }
        }
    }
    let names = names(conn, q.french).await?;
    let mut r = Report::new(
        Kind::NoService.as_str(),
        &[
            ("period", Dim),
            ("code", Dim),
            ("code_name", Text),
            ("searched", Dim),
            ("needs", Count),
        ],
        Chart {
            x: "code_name",
            y: "needs",
            sum: true,
            group: None,
        },
    );
    for ((b, code, words), n) in acc {
        r.rows.push(vec![
            Cell::Text(p.label(b)),
            Cell::Text(code.clone()),
            Cell::Text(names.get(&code).cloned().unwrap_or_default()),
            Cell::Text(words),
            Cell::Count(n),
        ]);
    }
    r.total = total_row(&r, 4, vec![Cell::Count(every.len() as i64)]);
    Ok(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn areas_are_postal_areas_in_capitals_or_words_as_typed() {
        assert_eq!(super::area(" k1n "), "K1N");
        assert_eq!(super::area("Lévis"), "Lévis");
        assert_eq!(super::area("not_asked"), "not_asked");
        assert_eq!(super::area(""), "");
    }
}
