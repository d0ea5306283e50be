//! Many rows into a table at once: multi-row INSERTs, as the synthetic
//! data generator and the directory import write them.

use sqlx::any::AnyArguments;
use sqlx::{Any, AnyConnection};

use crate::error::Result;

/// The most rows one INSERT carries.
const MAX_ROWS: usize = 256;

/// A value to bind: typed, so that PostgreSQL is told a NULL's type.
pub(crate) enum V {
    I(i64),
    T(String),
    S(&'static str),
    NullI,
    NullT,
    F(f64),
    NullF,
}

pub(crate) fn opt_i(v: Option<i64>) -> V {
    v.map_or(V::NullI, V::I)
}

pub(crate) fn opt_s(v: Option<&'static str>) -> V {
    v.map_or(V::NullT, V::S)
}

/// Rows waiting to be written to one table.
pub(crate) struct Table {
    name: &'static str,
    columns: &'static [&'static str],
    values: Vec<V>,
}

impl Table {
    pub(crate) fn new(name: &'static str, columns: &'static [&'static str]) -> Table {
        Table {
            name,
            columns,
            values: Vec::new(),
        }
    }

    pub(crate) fn push<const N: usize>(&mut self, row: [V; N]) {
        debug_assert_eq!(N, self.columns.len());
        self.values.extend(row);
    }

    /// Writes the rows, in INSERTs of a power-of-two number of rows (so
    /// that few distinct statements are prepared and each is reused).
    ///
    /// SQLite gets `?` placeholders: binding a `$N` makes sqlx look its
    /// name up in a list as long as the statement's parameters, which
    /// turns a statement of a few thousand parameters quadratic (about
    /// three quarters of the run's time). PostgreSQL needs `$N`.
    pub(crate) async fn flush(&mut self, tx: &mut AnyConnection, numbered: bool) -> Result<()> {
        let width = self.columns.len();
        let mut left = self.values.len() / width;
        let mut values = std::mem::take(&mut self.values).into_iter();
        while left > 0 {
            let rows = if left >= MAX_ROWS {
                MAX_ROWS
            } else {
                1 << left.ilog2()
            };
            let mut sql = format!(
                "INSERT INTO {} ({}) VALUES ",
                self.name,
                self.columns.join(", ")
            );
            let mut n = 0;
            for r in 0..rows {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for c in 0..width {
                    n += 1;
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    if numbered {
                        sql.push('$');
                        sql.push_str(&n.to_string());
                    } else {
                        sql.push('?');
                    }
                }
                sql.push(')');
            }
            let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
            for v in values.by_ref().take(rows * width) {
                q = bind(q, v);
            }
            q.execute(&mut *tx).await?;
            left -= rows;
        }
        Ok(())
    }
}

pub(crate) fn bind(
    q: sqlx::query::Query<'_, Any, AnyArguments>,
    v: V,
) -> sqlx::query::Query<'_, Any, AnyArguments> {
    match v {
        V::I(i) => q.bind(i),
        V::T(s) => q.bind(s),
        V::S(s) => q.bind(s),
        V::NullI => q.bind(None::<i64>),
        V::NullT => q.bind(None::<String>),
        V::F(f) => q.bind(f),
        V::NullF => q.bind(None::<f64>),
    }
}
