//! Charts as SVG: the same drawing in the HTML file and, as images, in the PDF.

use std::fmt::Write;

use crate::model::{Chart, ChartKind};

/// The width every chart is drawn at, in SVG units.
pub const WIDTH: u32 = 720;

/// The colours of the series, in order.
const COLOURS: [&str; 4] = ["#3b6ea8", "#c8553d", "#5c946e", "#8e6c8a"];

/// The fonts of every label: the PDF's embedded serif, else the reader's.
const FONT: &str = "Libertinus Serif, Georgia, serif";

/// Most characters of a bar's label.
const MAX_LABEL: usize = 36;

/// `chart` as a self-contained SVG document.
pub fn svg(chart: &Chart) -> String {
    match chart.kind {
        ChartKind::Columns => columns(chart),
        ChartKind::Bars => bars(chart),
    }
}

/// `text` with the characters XML gives meaning to escaped.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `n` with a comma between each group of three digits.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// The smallest "round" number (1, 2 or 5 times a power of ten) at least `n`.
/// A value axis for values up to `max`: a round step (1, 2 or 5 times a power of ten) that
/// needs at most five ticks above zero, and the top tick, the first multiple of it at or above
/// `max`.
fn axis(max: u64) -> (u64, u64) {
    let max = max.max(1);
    let mut power = 1u64;
    loop {
        for m in [1, 2, 5] {
            let step = power.saturating_mul(m);
            if max.div_ceil(step) <= 5 {
                return (step, max.div_ceil(step) * step);
            }
        }
        power = power.saturating_mul(10);
    }
}

fn open(height: u32, title: &str) -> String {
    format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="{FONT}" font-size="11" role="img"><title>{}</title><rect width="{WIDTH}" height="{height}" fill="#ffffff"/>"##,
        escape(title)
    )
}

/// Columns over the labels, the series stacked, with a value axis and a legend.
fn columns(chart: &Chart) -> String {
    let (left, right, top, bottom) = (64.0, 12.0, 24.0, 36.0);
    let height = 240u32;
    let plot_w = WIDTH as f64 - left - right;
    let plot_h = height as f64 - top - bottom;
    let n = chart.labels.len().max(1);
    let totals: Vec<u64> = (0..n)
        .map(|i| {
            chart
                .series
                .iter()
                .map(|s| s.values.get(i).copied().unwrap_or(0))
                .sum()
        })
        .collect();
    let (step, top_value) = axis(totals.iter().copied().max().unwrap_or(0));
    let mut out = open(height, &chart.title);
    let ticks = top_value / step;
    for tick in 0..=ticks {
        let value = step * tick;
        let y = top + plot_h - plot_h * tick as f64 / ticks as f64;
        let _ = write!(
            out,
            r##"<line x1="{left}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + plot_w,
            left - 6.0,
            y + 4.0,
            thousands(value)
        );
    }
    let slot = plot_w / n as f64;
    let width = (slot * 0.8).max(0.5);
    for i in 0..n {
        let x = left + slot * i as f64 + (slot - width) / 2.0;
        let mut base = top + plot_h;
        for (s, series) in chart.series.iter().enumerate() {
            let value = series.values.get(i).copied().unwrap_or(0);
            if value == 0 {
                continue;
            }
            let h = plot_h * value as f64 / top_value as f64;
            base -= h;
            let _ = write!(
                out,
                r#"<rect x="{x:.2}" y="{base:.2}" width="{width:.2}" height="{h:.2}" fill="{}"><title>{}: {} {}</title></rect>"#,
                COLOURS[s % COLOURS.len()],
                escape(&chart.labels[i]),
                thousands(value),
                escape(&series.name)
            );
        }
    }
    // At most eight labels under the columns, evenly spaced.
    let every = n.div_ceil(8);
    for (i, label) in chart.labels.iter().enumerate().step_by(every) {
        let x = left + slot * i as f64 + slot / 2.0;
        let _ = write!(
            out,
            r#"<text x="{x:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            top + plot_h + 16.0,
            escape(label)
        );
    }
    legend(&mut out, chart, left, 14.0);
    out.push_str("</svg>");
    out
}

/// A bar per label, longest first as given, with its value at its end.
fn bars(chart: &Chart) -> String {
    let (left, right, top) = (250.0, 70.0, 8.0);
    let row = 20.0;
    let n = chart.labels.len();
    let height = (top * 2.0 + row * n.max(1) as f64).ceil() as u32;
    let plot_w = WIDTH as f64 - left - right;
    let values = chart
        .series
        .first()
        .map(|s| s.values.as_slice())
        .unwrap_or(&[]);
    let top_value = values.iter().copied().max().unwrap_or(0).max(1);
    let mut out = open(height, &chart.title);
    for (i, label) in chart.labels.iter().enumerate() {
        let value = values.get(i).copied().unwrap_or(0);
        let y = top + row * i as f64;
        let w = plot_w * value as f64 / top_value as f64;
        let shown: String = if label.chars().count() > MAX_LABEL {
            label.chars().take(MAX_LABEL - 1).chain(['…']).collect()
        } else {
            label.clone()
        };
        let _ = write!(
            out,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{left}" y="{:.1}" width="{w:.2}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            left - 8.0,
            y + 14.0,
            escape(&shown),
            y + 3.0,
            row - 6.0,
            COLOURS[0],
            left + w + 6.0,
            y + 14.0,
            thousands(value)
        );
    }
    out.push_str("</svg>");
    out
}

/// The series' names and colours, from `x` along the line `y`.
fn legend(out: &mut String, chart: &Chart, x: f64, y: f64) {
    if chart.series.len() < 2 {
        return;
    }
    let mut at = x;
    for (s, series) in chart.series.iter().enumerate() {
        let _ = write!(
            out,
            r#"<rect x="{at:.1}" y="{:.1}" width="10" height="10" fill="{}"/><text x="{:.1}" y="{y:.1}">{}</text>"#,
            y - 9.0,
            COLOURS[s % COLOURS.len()],
            at + 14.0,
            escape(&series.name)
        );
        at += 24.0 + 7.0 * series.name.chars().count() as f64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Series;

    #[test]
    fn numbers_are_grouped_by_thousands() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn axes_have_round_steps_and_at_most_five_ticks() {
        // (max, step, top)
        for (max, step, top) in [
            (0, 1, 1),
            (1, 1, 1),
            (3, 1, 3),
            (7, 2, 8),
            (10, 2, 10),
            (11, 5, 15),
            (37, 10, 40),
            (50, 10, 50),
            (1_234, 500, 1_500),
        ] {
            assert_eq!(axis(max), (step, top), "axis({max})");
        }
    }

    #[test]
    fn labels_are_escaped_and_every_value_is_drawn() {
        let chart = Chart {
            id: "c".into(),
            title: "<script>".into(),
            kind: ChartKind::Bars,
            labels: vec!["a&b".into(), "c".into()],
            series: vec![Series {
                name: "Events".into(),
                values: vec![1_500, 3],
            }],
        };
        let svg = svg(&chart);
        assert!(svg.contains("&lt;script&gt;") && !svg.contains("<script>"));
        assert!(svg.contains("a&amp;b") && svg.contains("1,500"));
        assert_eq!(
            svg.matches("<rect").count(),
            3,
            "the background and two bars"
        );
    }
}
