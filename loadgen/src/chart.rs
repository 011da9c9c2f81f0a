//! The latency chart: p50, p95 and p99 per endpoint of each run, as grouped
//! horizontal bars in an SVG image (no dependencies, any browser shows it).

use std::fmt::Write;

use crate::stats::Report;

const ROW: f64 = 18.0;
const LABEL: f64 = 330.0;
const WIDTH: f64 = 900.0;

/// An SVG chart of `reports`' latency percentiles, on one linear scale.
pub fn svg(title: &str, reports: &[Report]) -> String {
    let rows: Vec<(String, String, [f64; 3])> = reports
        .iter()
        .flat_map(|report| {
            report.endpoints.iter().map(move |e| {
                let cost = report
                    .shop_cpu_s_per_1k
                    .map_or(String::new(), |cpu| format!(", shop CPU {cpu:.3} s / 1k req"));
                (
                    format!("{}: {}", report.label, e.endpoint),
                    format!("{:.0} req/s{cost} ({})", e.requests_per_second, report.generator),
                    [e.p50_ms, e.p95_ms, e.p99_ms],
                )
            })
        })
        .collect();
    let scale_max = rows
        .iter()
        .flat_map(|(_, _, values)| values.iter().copied())
        .fold(1.0_f64, f64::max);
    let bar_space = WIDTH - LABEL - 90.0;
    let height = 60.0 + rows.len() as f64 * ROW * 3.6;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(out, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        out,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        escape(title)
    );
    let _ = writeln!(
        out,
        r##"<text x="10" y="38" fill="#555">latency in ms: p50 (light), p95, p99 (dark); scale 0 to {scale_max:.1} ms</text>"##
    );
    let colours = ["#9ecae1", "#4292c6", "#08306b"];
    for (i, (label, figures, values)) in rows.iter().enumerate() {
        let top = 50.0 + i as f64 * ROW * 3.6;
        let _ = writeln!(
            out,
            r##"<text x="10" y="{:.1}">{}</text><text x="10" y="{:.1}" fill="#555">{}</text>"##,
            top + ROW,
            escape(label),
            top + ROW * 2.0,
            escape(figures)
        );
        for (k, value) in values.iter().enumerate() {
            let y = top + k as f64 * ROW;
            let width = (value / scale_max * bar_space).max(1.0);
            let _ = writeln!(
                out,
                r#"<rect x="{LABEL}" y="{y:.1}" width="{width:.1}" height="{:.1}" fill="{}"/><text x="{:.1}" y="{:.1}">{value:.2}</text>"#,
                ROW - 3.0,
                colours[k],
                LABEL + width + 4.0,
                y + ROW - 6.0
            );
        }
    }
    out.push_str("</svg>\n");
    out
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::EndpointStats;

    #[test]
    fn the_chart_has_three_bars_per_endpoint_and_escapes_labels() {
        let report = Report {
            label: "a<b".into(),
            generator: "wrk".into(),
            shop_cpu_s_per_1k: Some(0.125),
            generator_cpu_s_per_1k: None,
            seconds: 1.0,
            endpoints: vec![EndpointStats {
                endpoint: "GET /x".into(),
                requests: 1,
                errors: 0,
                error_kinds: Default::default(),
                requests_per_second: 1.0,
                p50_ms: 1.0,
                p95_ms: 2.0,
                p99_ms: 4.0,
                max_ms: 5.0,
            }],
        };
        let svg = svg("t", &[report]);
        assert!(svg.starts_with("<svg"));
        assert_eq!(svg.matches("<rect x=").count(), 3);
        assert!(svg.contains("a&lt;b: GET /x"));
        assert!(svg.contains(">4.00</text>"));
        assert!(svg.contains("1 req/s, shop CPU 0.125 s / 1k req (wrk)"));
    }
}
