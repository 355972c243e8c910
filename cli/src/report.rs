//! `preventor report JOURNAL`: the receipt of a feed. Per run: when, what input (name, size,
//! SHA-256), against which target, with which options, and what became of every record; over
//! time: throughput, the concurrency limit, calls in flight, 429s and latency; rejected records
//! grouped by the server's answer; ambiguous and failed records with what can be done; every
//! operator's decision. Text, `--json`, or `--html FILE`: one self-contained page (inline SVG
//! charts drawn with plotters, inline CSS, no script, no network). Ids, codes and counts only.

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use crate::output::pairs;

/// Writes the page for `report` (what [`Store::report`](crate::journal::runs::Store::report)
/// gathered) to `path`.
pub fn write_html(report: &Value, journal: &str, path: &Path) -> std::io::Result<()> {
    std::fs::write(path, html(report, journal))
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn time(unix: Option<f64>) -> String {
    unix.and_then(|t| chrono::DateTime::from_timestamp(t as i64, 0))
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| "not ended (stopped or killed)".into())
}

/// A named, colored line of (x, y) points.
type Series<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// One line chart: `series` of (name, color, points) over seconds since the run's start.
fn chart(title: &str, y_label: &str, series: &[Series]) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (760, 260)).into_drawing_area();
        let _ = root.fill(&WHITE);
        let x_max = series
            .iter()
            .flat_map(|(_, _, p)| p.iter().map(|(x, _)| *x))
            .fold(1.0, f64::max);
        let y_max = series
            .iter()
            .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y))
            .fold(1.0, f64::max)
            * 1.1;
        let chart = ChartBuilder::on(&root)
            .caption(title, ("sans-serif", 16))
            .margin(10)
            .x_label_area_size(30)
            .y_label_area_size(60)
            .build_cartesian_2d(0.0..x_max, 0.0..y_max);
        let Ok(mut chart) = chart else {
            return svg_fallback(title);
        };
        let _ = chart
            .configure_mesh()
            .x_desc("seconds since the run began")
            .y_desc(y_label)
            .draw();
        for (name, color, points) in series {
            let color = *color;
            if let Ok(drawn) = chart.draw_series(LineSeries::new(points.iter().copied(), color)) {
                drawn
                    .label(*name)
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color));
            }
        }
        let _ = chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw();
        let _ = root.present();
    }
    svg
}

fn svg_fallback(title: &str) -> String {
    format!("<p>{}: no data to draw</p>", esc(title))
}

/// The four charts of a run from its samples `[t, ack, rej, amb, 429, in_flight, limit, p50, p99]`.
fn charts(samples: &[Value]) -> String {
    if samples.len() < 2 {
        return "<p>Too few samples to draw (the run lasted under two seconds).</p>".into();
    }
    let col = |i: usize| -> Vec<(f64, f64)> {
        samples
            .iter()
            .filter_map(|s| Some((s[0].as_f64()?, s[i].as_f64()?)))
            .collect()
    };
    // Per-second rates from the cumulative counts.
    let rate = |i: usize| -> Vec<(f64, f64)> {
        col(i)
            .windows(2)
            .map(|w| {
                (
                    w[1].0,
                    (w[1].1 - w[0].1).max(0.0) / (w[1].0 - w[0].0).max(1e-9),
                )
            })
            .collect()
    };
    [
        chart(
            "Throughput",
            "records a second",
            &[
                ("acknowledged", RGBColor(31, 119, 180), rate(1)),
                ("rejected", RGBColor(214, 39, 40), rate(2)),
                ("ambiguous", RGBColor(255, 127, 14), rate(3)),
            ],
        ),
        chart(
            "Concurrency",
            "calls",
            &[
                ("concurrency limit", RGBColor(44, 160, 44), col(6)),
                ("calls in flight", RGBColor(148, 103, 189), col(5)),
            ],
        ),
        chart(
            "Rate limiting",
            "429 answers a second",
            &[("429s", RGBColor(214, 39, 40), rate(4))],
        ),
        chart(
            "Latency",
            "milliseconds",
            &[
                ("p50", RGBColor(31, 119, 180), col(7)),
                ("p99", RGBColor(255, 127, 14), col(8)),
            ],
        ),
    ]
    .join("\n")
}

fn table(head: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut out = String::from("<table><thead><tr>");
    for h in head {
        out.push_str(&format!("<th>{}</th>", esc(h)));
    }
    out.push_str("</tr></thead><tbody>");
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            out.push_str(&format!("<td>{}</td>", esc(&cell)));
        }
        out.push_str("</tr>");
    }
    out.push_str("</tbody></table>");
    out
}

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The first ids of a list, and how many more.
fn first_ids(ids: &Value, shown: usize) -> String {
    let ids: Vec<String> = ids.as_array().into_iter().flatten().map(text).collect();
    let more = ids.len().saturating_sub(shown);
    let mut line = ids.into_iter().take(shown).collect::<Vec<_>>().join(" ");
    if more > 0 {
        line.push_str(&format!(" and {more} more"));
    }
    line
}

/// Each run's receipt and charts.
fn runs_html(report: &Value) -> String {
    let mut body = String::new();
    for run in report["runs"].as_array().into_iter().flatten() {
        body.push_str(&format!("<h2>Run {}</h2>", text(&run["id"])));
        body.push_str(&table(
            &["", ""],
            [
                ("started", time(run["started"].as_f64())),
                ("ended", time(run["ended"].as_f64())),
                ("host", text(&run["host"])),
                ("input", text(&run["input"])),
                ("input bytes", text(&run["input_bytes"])),
                ("input SHA-256", text(&run["input_sha256"])),
                ("target", text(&run["target"])),
                ("options", pairs(&run["options"])),
                ("outcome", pairs(&run["counts"])),
            ]
            .into_iter()
            .map(|(k, v)| vec![k.to_string(), v]),
        ));
        body.push_str(&charts(
            run["samples"].as_array().map_or(&[][..], Vec::as_slice),
        ));
    }
    body
}

fn html(report: &Value, journal: &str) -> String {
    let mut body = String::new();
    body.push_str(&format!(
        "<h1>Delivery report</h1><p class=\"verdict\"><strong>{}</strong></p>\
         <p>Journal <code>{}</code>, written {}.</p>",
        esc(&text(&report["verdict"])),
        esc(journal),
        esc(&time(Some(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs_f64())
                .unwrap_or_default()
        )))
    ));
    let counts = report["counts"].as_object().cloned().unwrap_or_default();
    body.push_str("<h2>Every record, now</h2>");
    body.push_str(&table(
        &["state", "records"],
        counts.iter().map(|(k, v)| vec![k.clone(), text(v)]),
    ));
    body.push_str(&runs_html(report));
    body.push_str("<h2>Rejected records, by the server's answer</h2>");
    body.push_str(&table(
        &["status", "answer", "records", "ids (first 50)"],
        report["rejected_groups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                vec![
                    text(&g["status"]),
                    text(&g["message"]),
                    text(&g["count"]),
                    g["ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(text)
                        .collect::<Vec<_>>()
                        .join(", "),
                ]
            }),
    ));
    body.push_str("<h2>Records without a final answer</h2>");
    body.push_str(&table(
        &["id", "state", "line", "why", "what you can do"],
        report["unsettled"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|u| {
                vec![
                    text(&u["id"]),
                    text(&u["state"]),
                    text(&u["line"]),
                    text(&u["why"]),
                    text(&u["what_to_do"]),
                ]
            }),
    ));
    body.push_str("<h2>Next steps</h2>");
    for step in report["next_steps"].as_array().into_iter().flatten() {
        body.push_str(&format!(
            "<p>{} {}: {}</p>",
            text(&step["records"]),
            esc(&text(&step["state"])),
            esc(&text(&step["what"]))
        ));
        for command in step["commands"].as_array().into_iter().flatten() {
            body.push_str(&format!("<pre><code>{}</code></pre>", esc(&text(command))));
        }
    }
    body.push_str("<h2>Operators' decisions</h2>");
    body.push_str(&table(
        &["id", "decision", "reason", "by", "when", "state before"],
        report["decisions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| {
                vec![
                    text(&d["id"]),
                    text(&d["decision"]),
                    text(&d["reason"]),
                    text(&d["by"]),
                    time(d["at"].as_f64()),
                    text(&d["previous_state"]),
                ]
            }),
    ));
    format!(
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Preventor delivery report</title>\
         <style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}}th{{background:#f3f3f3}}\
         table{{max-width:100%}}td{{overflow-wrap:break-word;word-break:break-word}}svg{{display:block;margin:1em 0;max-width:100%;height:auto}}\
         code{{background:#f3f3f3;word-break:break-all}}pre{{white-space:pre-wrap;word-break:break-all}}.verdict{{font-size:1.2em}}</style></head><body>{body}</body></html>"
    )
}

/// A cause of records without a final answer: their state, why, and what to do.
type Cause = (String, String, String);

/// Records without a final answer grouped by cause, in the order first seen: one instruction a
/// group, however many records share it.
fn unsettled_groups(report: &Value) -> Vec<(Cause, Vec<Value>)> {
    let mut groups: Vec<(Cause, Vec<Value>)> = Vec::new();
    for u in report["unsettled"].as_array().into_iter().flatten() {
        let cause = (text(&u["state"]), text(&u["why"]), text(&u["what_to_do"]));
        match groups.iter_mut().find(|(c, _)| *c == cause) {
            Some((_, ids)) => ids.push(u["id"].clone()),
            None => groups.push((cause, vec![u["id"].clone()])),
        }
    }
    groups
}

/// The report as text: the verdict, each run's receipt, the counts, and the problems grouped
/// by cause, one instruction a group.
pub fn print_text(report: &Value) {
    out!("{}", text(&report["verdict"]));
    for run in report["runs"].as_array().into_iter().flatten() {
        let facts = match (run["input_bytes"].as_u64(), run["input_sha256"].as_str()) {
            (Some(bytes), Some(sha)) => format!(" ({bytes} bytes, sha256 {sha})"),
            _ => String::new(),
        };
        out!(
            "run {}: {} -> {} on {}\n  input {}{}\n  target {}\n  options {}\n  outcome {}",
            text(&run["id"]),
            time(run["started"].as_f64()),
            time(run["ended"].as_f64()),
            text(&run["host"]),
            text(&run["input"]),
            facts,
            text(&run["target"]),
            pairs(&run["options"]),
            pairs(&run["counts"]),
        );
    }
    out!("records now: {}", pairs(&report["counts"]));
    for g in report["rejected_groups"].as_array().into_iter().flatten() {
        out!(
            "rejected {} x{}: {} ({})",
            text(&g["status"]),
            text(&g["count"]),
            text(&g["message"]),
            first_ids(&g["ids"], 5)
        );
    }
    for ((state, why, what), ids) in unsettled_groups(report) {
        out!(
            "{state} x{}: {why} ({})\n  {what}",
            ids.len(),
            first_ids(&Value::from(ids), 5)
        );
    }
    crate::output::print_next_steps(&report["next_steps"]);
    for d in report["decisions"].as_array().into_iter().flatten() {
        out!(
            "decision on {}: {} by {} at {} ({})",
            text(&d["id"]),
            text(&d["decision"]),
            text(&d["by"]),
            time(d["at"].as_f64()),
            text(&d["reason"])
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn records_without_an_answer_are_grouped_by_cause_with_one_instruction() {
        let lost = |id: &str| json!({"id": id, "state": "ambiguous", "why": "answer lost", "what_to_do": "ask"});
        let report = json!({"unsettled": [lost("t-1"), lost("t-2"),
            {"id": "t-3", "state": "failed", "why": "503 twice", "what_to_do": "rerun"}, lost("t-4")]});
        let groups = unsettled_groups(&report);
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].0 .0, "ambiguous");
        assert_eq!(groups[0].1, vec![json!("t-1"), json!("t-2"), json!("t-4")]);
        assert_eq!(
            first_ids(&Value::from(groups[0].1.clone()), 2),
            "t-1 t-2 and 1 more"
        );
    }

    #[test]
    fn options_and_outcomes_read_as_pairs_without_zeros() {
        let outcome = json!({"acknowledged": 87, "ambiguous": 13, "failed": 0, "max_concurrency": 256,
                             "resend_ambiguous": false, "shard": null, "stopped": true});
        assert_eq!(
            pairs(&outcome),
            "acknowledged 87, ambiguous 13, max concurrency 256, stopped"
        );
    }
}
