//! Server-rendered SVG charts for the usage pages (SPEC §13): the geometry is computed here as
//! plain shapes (rectangles, lines, text) that `templates/chart.html` writes out, escaped by
//! the template engine. No JavaScript and nothing fetched from elsewhere; every chart has a
//! title, a one-sentence description and a table with the same figures for screen readers and
//! text browsers.

use chrono::{Days, NaiveDate};
use tokengate_core::Via;

const WIDTH: u32 = 720;
const LEFT: u32 = 56;
const RIGHT: u32 = 16;
const TOP: u32 = 16;
const BOTTOM: u32 = 36;
const PLOT_HEIGHT: u32 = 200;
const ROW_HEIGHT: u32 = 26;
const LABEL_WIDTH: u32 = 260;

/// The vias drawn, their colours (distinct in lightness too) and legend labels.
pub const SERIES: [(Via, &str, &str); 3] = [
    (Via::Token, "#1d4ed8", "API token"),
    (Via::Password, "#d97706", "Password"),
    (Via::Session, "#047857", "Browser session"),
];

pub struct Rect {
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
    pub fill: &'static str,
    /// Shown as the shape's tooltip (`<title>`).
    pub title: String,
}

pub struct Text {
    pub x: u32,
    pub y: u32,
    /// `start`, `middle` or `end`.
    pub anchor: &'static str,
    pub content: String,
}

pub struct Line {
    pub x1: u32,
    pub y1: u32,
    pub x2: u32,
    pub y2: u32,
}

pub struct LegendItem {
    pub fill: &'static str,
    pub label: &'static str,
}

/// One chart: shapes to draw and the same figures as a table.
pub struct Chart {
    pub id: &'static str,
    pub title: String,
    pub description: String,
    pub width: u32,
    pub height: u32,
    pub rects: Vec<Rect>,
    pub texts: Vec<Text>,
    pub lines: Vec<Line>,
    pub legend: Vec<LegendItem>,
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

/// A round upper bound for an axis: 1, 2 or 5 times a power of ten, at least `max`.
fn axis_top(max: u64) -> u64 {
    let mut step = 1u64;
    loop {
        for factor in [1, 2, 5] {
            let top = step.saturating_mul(factor);
            if top >= max || top == u64::MAX {
                return top.max(1);
            }
        }
        step = step.saturating_mul(10);
    }
}

/// `value` of `top` as a share of `length` pixels.
fn scaled(value: u64, top: u64, length: u32) -> u32 {
    let share = u128::from(value) * u128::from(length) / u128::from(top.max(1));
    u32::try_from(share).unwrap_or(length)
}

/// Requests per day (`days` days from `first`), one stacked column per day, one colour per
/// via. `counts` holds (day, via, requests).
pub fn per_day(
    id: &'static str,
    title: &str,
    first: NaiveDate,
    days: u32,
    counts: &[(NaiveDate, Via, u64)],
) -> Chart {
    let plot_width = WIDTH - LEFT - RIGHT;
    let slot = (plot_width / days.max(1)).max(1);
    let bar_width = (slot * 7 / 10).max(1);
    let dates: Vec<NaiveDate> = (0..days)
        .filter_map(|offset| first.checked_add_days(Days::new(u64::from(offset))))
        .collect();
    let count_of = |day: NaiveDate, via: Via| {
        counts
            .iter()
            .filter(|(on, by, _)| *on == day && *by == via)
            .fold(0u64, |sum, (_, _, count)| sum.saturating_add(*count))
    };
    let totals: Vec<u64> = dates
        .iter()
        .map(|day| {
            SERIES.iter().fold(0u64, |sum, (via, _, _)| {
                sum.saturating_add(count_of(*day, *via))
            })
        })
        .collect();
    let top = axis_top(totals.iter().copied().max().unwrap_or(0));
    let base = TOP + PLOT_HEIGHT;
    let mut chart = empty_chart(id, title, base + BOTTOM);
    chart.legend = SERIES
        .iter()
        .map(|(_, fill, label)| LegendItem { fill, label })
        .collect();
    y_axis(&mut chart, top);
    for (index, day) in dates.iter().enumerate() {
        let x = LEFT + slot * u32::try_from(index).unwrap_or(0) + (slot - bar_width) / 2;
        let mut y = base;
        for (via, fill, label) in SERIES {
            let count = count_of(*day, via);
            let height = scaled(count, top, PLOT_HEIGHT);
            if count == 0 {
                continue;
            }
            y = y.saturating_sub(height.max(1));
            chart.rects.push(Rect {
                x,
                y,
                width: bar_width,
                height: height.max(1),
                fill,
                title: format!("{day}: {count} request(s) by {}", label.to_lowercase()),
            });
        }
        if index % 5 == 0 || index + 1 == dates.len() {
            chart.texts.push(Text {
                x: x + bar_width / 2,
                y: base + 16,
                anchor: "middle",
                content: day.format("%m-%d").to_string(),
            });
        }
    }
    let total: u64 = totals
        .iter()
        .fold(0, |sum, count| sum.saturating_add(*count));
    let busiest = dates.iter().zip(&totals).max_by_key(|(_, count)| **count);
    chart.description = match busiest {
        Some((day, count)) if total > 0 => format!(
            "{total} request(s) in {days} day(s) from {first}; the busiest day was {day} with {count}."
        ),
        _ => format!("No requests recorded in {days} day(s) from {first}."),
    };
    chart.headers = std::iter::once("Day".to_owned())
        .chain(SERIES.iter().map(|(_, _, label)| (*label).to_owned()))
        .chain(std::iter::once("Total".to_owned()))
        .collect();
    chart.rows = dates
        .iter()
        .zip(&totals)
        .filter(|(_, total)| **total > 0)
        .map(|(day, total)| {
            std::iter::once(day.to_string())
                .chain(
                    SERIES
                        .iter()
                        .map(|(via, _, _)| count_of(*day, *via).to_string()),
                )
                .chain(std::iter::once(total.to_string()))
                .collect()
        })
        .collect();
    chart
}

/// One horizontal bar per (label, requests), in the order given; `item` names what a label
/// is ("token", "address"), `header` its table column.
pub fn ranking(
    id: &'static str,
    title: &str,
    (item, header): (&str, &str),
    entries: &[(String, u64)],
) -> Chart {
    let height = TOP + ROW_HEIGHT * u32::try_from(entries.len().max(1)).unwrap_or(1) + 8;
    let mut chart = empty_chart(id, title, height);
    let top = axis_top(entries.iter().map(|(_, count)| *count).max().unwrap_or(0));
    let bar_room = WIDTH - LABEL_WIDTH - RIGHT - 56;
    for (index, (label, count)) in entries.iter().enumerate() {
        let y = TOP + ROW_HEIGHT * u32::try_from(index).unwrap_or(0);
        let width = scaled(*count, top, bar_room).max(1);
        chart.texts.push(Text {
            x: LABEL_WIDTH - 8,
            y: y + 16,
            anchor: "end",
            content: shortened(label, 38),
        });
        chart.rects.push(Rect {
            x: LABEL_WIDTH,
            y: y + 4,
            width,
            height: ROW_HEIGHT - 8,
            fill: SERIES[0].1,
            title: format!("{label}: {count} request(s)"),
        });
        chart.texts.push(Text {
            x: LABEL_WIDTH + width + 6,
            y: y + 16,
            anchor: "start",
            content: count.to_string(),
        });
    }
    chart.description = match entries.first() {
        Some((label, count)) => format!(
            "{} {item}(s) ranked by requests; the busiest is {label} with {count}.",
            entries.len()
        ),
        None => "No requests in this period.".to_owned(),
    };
    chart.headers = vec![header.to_owned(), "Requests".to_owned()];
    chart.rows = entries
        .iter()
        .map(|(label, count)| vec![label.clone(), count.to_string()])
        .collect();
    chart
}

fn empty_chart(id: &'static str, title: &str, height: u32) -> Chart {
    Chart {
        id,
        title: title.to_owned(),
        description: String::new(),
        width: WIDTH,
        height,
        rects: Vec::new(),
        texts: Vec::new(),
        lines: Vec::new(),
        legend: Vec::new(),
        headers: Vec::new(),
        rows: Vec::new(),
    }
}

/// Grid lines and labels at 0, half and the top of the axis.
fn y_axis(chart: &mut Chart, top: u64) {
    for (value, offset) in [(0, 0), (top / 2, PLOT_HEIGHT / 2), (top, PLOT_HEIGHT)] {
        let y = TOP + PLOT_HEIGHT - offset;
        chart.lines.push(Line {
            x1: LEFT,
            y1: y,
            x2: WIDTH - RIGHT,
            y2: y,
        });
        chart.texts.push(Text {
            x: LEFT - 6,
            y: y + 4,
            anchor: "end",
            content: value.to_string(),
        });
    }
}

fn shortened(text: &str, most: usize) -> String {
    if text.chars().count() <= most {
        return text.to_owned();
    }
    let mut short: String = text.chars().take(most.saturating_sub(1)).collect();
    short.push('…');
    short
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").expect("day")
    }

    #[test]
    fn axes_end_on_round_numbers() {
        let tops: Vec<u64> = [0, 1, 3, 7, 10, 11, 499, 501, u64::MAX]
            .into_iter()
            .map(axis_top)
            .collect();
        assert_eq!(tops[..8], [1, 1, 5, 10, 10, 20, 500, 1000]);
        assert!(tops[8] >= 10_000_000_000_000_000_000);
    }

    #[test]
    fn columns_stack_each_via_and_the_table_holds_the_same_figures() {
        let counts = [
            (day("2027-03-01"), Via::Token, 30),
            (day("2027-03-01"), Via::Password, 10),
            (day("2027-03-03"), Via::Session, 5),
        ];
        let chart = per_day("c", "Requests", day("2027-03-01"), 3, &counts);
        assert_eq!(chart.rects.len(), 3);
        let token = &chart.rects[0];
        let password = &chart.rects[1];
        assert_eq!(token.y + token.height, TOP + PLOT_HEIGHT, "on the axis");
        assert_eq!(
            password.y + password.height,
            token.y,
            "stacked on the token part"
        );
        assert_eq!(token.height, 3 * password.height);
        assert_eq!(
            chart.rows,
            vec![
                vec!["2027-03-01", "30", "10", "0", "40"],
                vec!["2027-03-03", "0", "0", "5", "5"],
            ]
        );
        assert!(chart.description.contains("45 request(s)"));
        assert!(chart.description.contains("2027-03-01 with 40"));
    }

    #[test]
    fn a_ranking_has_one_bar_per_entry_longest_for_the_most() {
        let entries = vec![("ci (alice)".to_owned(), 90), ("x".repeat(60), 30)];
        let chart = ranking("r", "Top tokens", ("token", "Token"), &entries);
        assert_eq!(chart.rects.len(), 2);
        assert!(chart.rects[0].width > chart.rects[1].width);
        assert!(chart.texts[2].content.ends_with('…'));
        assert_eq!(
            chart.rows[1][0],
            "x".repeat(60),
            "the table keeps the full name"
        );
        let empty = ranking("r", "Top tokens", ("token", "Token"), &[]);
        assert!(empty.rects.is_empty());
        assert_eq!(empty.description, "No requests in this period.");
        assert!(chart.description.starts_with("2 token(s) ranked"));
    }
}
