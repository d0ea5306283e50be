//! Small-cell suppression: a count under the threshold (and above 0) is
//! hidden, and so is every figure computed from it. Then, wherever counts
//! add up to a figure that is shown (a row's parts to its whole, a column's
//! rows to the total row), one hidden cell alone could be worked out by
//! subtraction: the next smallest non-zero cell there is hidden too, until
//! no sum has exactly one hidden cell (secondary suppression).

use super::table::{Cell, ColType, Report};

/// Hides small counts of `report` in place.
pub(crate) fn apply(report: &mut Report, below: u64) {
    report.suppressed_below = Some(below);
    let below = i64::try_from(below).unwrap_or(i64::MAX);
    let counts: Vec<usize> = (0..report.columns.len())
        .filter(|&i| report.columns[i].ty == ColType::Count)
        .collect();
    let n = report.rows.len();
    // Row n is the total row.
    let mut hidden = vec![vec![false; report.columns.len()]; n + 1];
    let mut small = vec![vec![false; report.columns.len()]; n + 1];
    let value = |r: &Report, row: usize, col: usize| -> i64 {
        let cells = if row == n { &r.total } else { &r.rows[row] };
        match cells.get(col) {
            Some(Cell::Count(v)) => *v,
            _ => 0,
        }
    };
    for (row, flags) in hidden.iter_mut().enumerate() {
        for &col in &counts {
            let v = value(report, row, col);
            flags[col] = v > 0 && v < below;
            small[row][col] = flags[col];
        }
    }
    // The sets of cells that add up: each row's sums, each column's groups
    // with the total row.
    let mut sets: Vec<Vec<(usize, usize)>> = Vec::new();
    for row in 0..=n {
        for (whole, parts) in &report.sums {
            let mut set = vec![(row, *whole)];
            set.extend(parts.iter().map(|&p| (row, p)));
            sets.push(set);
        }
    }
    let groups = if report.groups.len() == n {
        report.groups.clone()
    } else {
        vec![0; n]
    };
    let mut ids: Vec<usize> = groups.clone();
    ids.sort_unstable();
    ids.dedup();
    for &col in &counts {
        for &g in &ids {
            let mut set: Vec<(usize, usize)> = (0..n)
                .filter(|&r| groups[r] == g)
                .map(|r| (r, col))
                .collect();
            set.push((n, col));
            sets.push(set);
        }
    }
    for &(a, b) in &report.links {
        sets.push(vec![a, b]);
    }
    loop {
        let mut changed = false;
        for set in &sets {
            if set.iter().filter(|&&(r, c)| hidden[r][c]).count() != 1 {
                continue;
            }
            let next = set
                .iter()
                .filter(|&&(r, c)| !hidden[r][c] && value(report, r, c) > 0)
                .min_by_key(|&&(r, c)| (value(report, r, c), r == n));
            if let Some(&(r, c)) = next {
                hidden[r][c] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    for row in 0..=n {
        let cells = if row == n {
            &mut report.total
        } else {
            &mut report.rows[row]
        };
        for &col in &counts {
            if small[row][col] {
                cells[col] = Cell::Small;
            } else if hidden[row][col] {
                cells[col] = Cell::Hidden;
            }
        }
        for (col, from) in &report.derived {
            if from.iter().any(|&f| hidden[row][f]) {
                cells[*col] = Cell::Hidden;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reports::table::Chart;

    fn report(rows: &[[i64; 3]], total: [i64; 3]) -> Report {
        let mut r = Report::new(
            "t",
            &[
                ("name", ColType::Dim),
                ("all", ColType::Count),
                ("met", ColType::Count),
                ("unmet", ColType::Count),
                ("pct", ColType::Percent),
            ],
            Chart {
                x: "name",
                y: "all",
                sum: true,
                group: None,
            },
        );
        let row = |name: &str, v: &[i64; 3]| {
            vec![
                Cell::Text(name.into()),
                Cell::Count(v[0]),
                Cell::Count(v[1]),
                Cell::Count(v[2]),
                Cell::Num(50.0),
            ]
        };
        r.rows = rows
            .iter()
            .enumerate()
            .map(|(i, v)| row(&i.to_string(), v))
            .collect();
        r.total = row("total", &total);
        r.sums = vec![(1, vec![2, 3])];
        r.derived = vec![(4, vec![1, 3])];
        r
    }

    fn shown(r: &Report) -> Vec<Vec<String>> {
        r.rows
            .iter()
            .chain(std::iter::once(&r.total))
            .map(|row| {
                row[1..]
                    .iter()
                    .map(|c| match c {
                        Cell::Count(v) => v.to_string(),
                        Cell::Small => "<".into(),
                        Cell::Hidden => "x".into(),
                        Cell::Num(_) => "%".into(),
                        _ => "?".into(),
                    })
                    .collect()
            })
            .collect()
    }

    #[test]
    fn a_small_part_hides_its_complement_in_the_row_and_the_next_smallest_in_its_column() {
        let mut r = report(&[[20, 17, 3], [30, 20, 10], [40, 28, 12]], [90, 65, 25]);
        apply(&mut r, 5);
        // Row 0: unmet 3 hidden, so met 17 too (20 − 17 would give it), and
        // the row's percentage (computed from unmet).
        // Column unmet: 3 hidden alone → the next smallest, 10, hidden; then
        // row 1 has one hidden part → its met (20) hidden; column met now
        // has 17 and 20 hidden: two, stable.
        assert_eq!(
            shown(&r),
            vec![
                vec!["20", "x", "<", "x"],
                vec!["30", "x", "x", "x"],
                vec!["40", "28", "12", "%"],
                vec!["90", "65", "25", "%"],
            ]
        );
    }

    #[test]
    fn zero_is_shown_and_nothing_small_changes_nothing() {
        let mut r = report(&[[20, 20, 0], [30, 20, 10]], [50, 40, 10]);
        apply(&mut r, 5);
        assert_eq!(
            shown(&r),
            vec![
                vec!["20", "20", "0", "%"],
                vec!["30", "20", "10", "%"],
                vec!["50", "40", "10", "%"],
            ]
        );
        assert_eq!(r.suppressed_below, Some(5));
        assert!(
            r.to_csv().ends_with("total,50,40,10,50.0\n"),
            "{}",
            r.to_csv()
        );
    }

    /// A bucket's `previous` is the bucket before's count: when one is
    /// hidden, so is the other (else the total gives a small count back).
    #[test]
    fn a_previous_count_is_hidden_with_the_count_it_repeats() {
        let mut r = Report::new(
            "t",
            &[
                ("group", ColType::Dim),
                ("needs", ColType::Count),
                ("previous", ColType::Count),
            ],
            Chart {
                x: "group",
                y: "needs",
                sum: true,
                group: None,
            },
        );
        // Week 1: A, B, C; week 2: A, B, C.
        for (g, n, p) in [
            ("A", 3, 5),
            ("B", 7, 10),
            ("C", 50, 10),
            ("A", 20, 3),
            ("B", 30, 7),
            ("C", 40, 50),
        ] {
            r.rows
                .push(vec![Cell::Text(g.into()), Cell::Count(n), Cell::Count(p)]);
        }
        r.total = vec![Cell::Text("total".into()), Cell::Count(150), Cell::Null];
        r.links = vec![((3, 2), (0, 1)), ((4, 2), (1, 1)), ((5, 2), (2, 1))];
        apply(&mut r, 5);
        // Week 1's A (3) and B (7, hidden so the total cannot give A back):
        // week 2's previous counts of them are hidden too.
        assert_eq!(r.rows[0][1], Cell::Small);
        assert_eq!(r.rows[1][1], Cell::Hidden);
        assert_eq!(r.rows[3][2], Cell::Small);
        assert_eq!(r.rows[4][2], Cell::Hidden);
        assert_eq!(r.rows[5][2], Cell::Count(50));
    }

    #[test]
    fn a_small_total_is_hidden_with_what_adds_up_to_it() {
        let mut r = report(&[[2, 2, 0], [1, 0, 1]], [3, 2, 1]);
        apply(&mut r, 5);
        let csv = r.to_csv();
        assert!(
            !csv.contains(",2,") && !csv.contains(",3,") && !csv.contains(",1"),
            "{csv}"
        );
        assert!(csv.contains("<5"), "{csv}");
    }
}
