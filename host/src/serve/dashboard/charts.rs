//! Charts as inline SVG drawn on the server: no chart library, nothing to
//! load, readable by screen readers through their titles.

use std::fmt::Write;

use super::html::{duration, esc};
use crate::store::{RunRecord, RunStatus};

/// Colours of the outcomes, the same in every chart (and in the CSS
/// legend).
const ADDED: &str = "#2e7d32";
const UPDATED: &str = "#1565c0";
const SKIPPED: &str = "#9e9e9e";
const FAILED: &str = "#c62828";

fn summary(r: &RunRecord) -> String {
    let c = &r.counts;
    format!(
        "run #{}: {} added, {} updated, {} skipped, {} failed; {}; {}",
        r.id,
        c.added,
        c.updated,
        c.skipped,
        c.failed,
        r.duration().map_or("running".into(), duration),
        r.status.word()
    )
}

/// A run-history strip: one stacked bar per run (added, updated, skipped,
/// failed), oldest on the left; a failed run is a red bar whatever its
/// counts, so a problem shows before any number is read.
pub(crate) fn strip(runs_newest_first: &[RunRecord]) -> String {
    if runs_newest_first.is_empty() {
        return "<p class=\"muted\">No runs yet.</p>".into();
    }
    let runs: Vec<&RunRecord> = runs_newest_first.iter().rev().collect();
    let (bar, gap, height) = (10.0_f64, 3.0_f64, 32.0_f64);
    let width = runs.len() as f64 * (bar + gap);
    let max = runs.iter().map(|r| total(r)).max().unwrap_or(0).max(1) as f64;
    let failed_runs = runs
        .iter()
        .filter(|r| matches!(r.status, RunStatus::Failed(_)))
        .count();
    let mut out = format!(
        "<svg class=\"strip\" viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"Last {} runs, {} failed\">",
        runs.len(),
        failed_runs
    );
    for (n, r) in runs.iter().enumerate() {
        let x = n as f64 * (bar + gap);
        let _ = write!(out, "<g><title>{}</title>", esc(&summary(r)));
        if matches!(r.status, RunStatus::Failed(_)) {
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"0\" width=\"{bar}\" height=\"{height}\" fill=\"{FAILED}\" class=\"failed-run\"/>"
            );
        } else {
            // Every run shows at least a sliver, so "ran, did nothing" is
            // visible too.
            let mut y = height;
            let _ = write!(
                out,
                "<rect x=\"{x}\" y=\"{}\" width=\"{bar}\" height=\"2\" fill=\"#cfd8dc\"/>",
                height - 2.0
            );
            for (count, colour) in [
                (r.counts.added, ADDED),
                (r.counts.updated, UPDATED),
                (r.counts.skipped, SKIPPED),
                (r.counts.failed, FAILED),
            ] {
                if count == 0 {
                    continue;
                }
                let h = (count as f64 / max * (height - 2.0)).max(2.0);
                y -= h;
                let _ = write!(
                    out,
                    "<rect x=\"{x}\" y=\"{y:.1}\" width=\"{bar}\" height=\"{h:.1}\" fill=\"{colour}\"/>"
                );
            }
        }
        out.push_str("</g>");
    }
    out.push_str("</svg>");
    let durations: Vec<u64> = runs.iter().filter_map(|r| r.duration()).collect();
    if let (Some(last), Some(longest)) = (durations.last(), durations.iter().max()) {
        let _ = write!(
            out,
            "<p class=\"legend\">{} run{} · last took {} · longest {}</p>",
            runs.len(),
            if runs.len() == 1 { "" } else { "s" },
            duration(*last),
            duration(*longest)
        );
    }
    out
}

fn total(r: &RunRecord) -> u64 {
    let c = &r.counts;
    c.added + c.updated + c.skipped + c.failed
}

/// Records per run (stacked bars) and API calls per run (a line), over
/// the runs' start times.
pub(crate) fn timeline(runs_newest_first: &[RunRecord], calls: &[Option<u64>]) -> String {
    if runs_newest_first.is_empty() {
        return String::new();
    }
    let runs: Vec<&RunRecord> = runs_newest_first.iter().rev().collect();
    let calls: Vec<Option<u64>> = calls.iter().rev().copied().collect();
    let (w, h, left, bottom, top) = (800.0_f64, 160.0_f64, 40.0_f64, 24.0_f64, 8.0_f64);
    let plot_h = h - bottom - top;
    let slot = (w - left) / runs.len() as f64;
    // Few runs: narrow bars, not one wall of colour.
    let bar = (slot * 0.7).clamp(1.0, 24.0);
    let max_records = runs.iter().map(|r| total(r)).max().unwrap_or(0).max(1) as f64;
    let max_calls = calls.iter().flatten().copied().max().unwrap_or(0).max(1) as f64;
    let mut out = format!(
        "<svg class=\"timeline\" viewBox=\"0 0 {w} {h}\" role=\"img\" aria-label=\"Records and API calls of the last {} runs\">",
        runs.len()
    );
    let _ = write!(
        out,
        "<line x1=\"{left}\" y1=\"{y}\" x2=\"{w}\" y2=\"{y}\" stroke=\"#90a4ae\"/><text x=\"2\" y=\"{t}\" class=\"axis\">{max_records}</text><text x=\"2\" y=\"{y}\" class=\"axis\">0</text>",
        y = h - bottom,
        t = top + 10.0,
    );
    let mut points = Vec::new();
    for (n, r) in runs.iter().enumerate() {
        let x = left + n as f64 * slot + (slot - bar) / 2.0;
        let mut y = h - bottom;
        let _ = write!(out, "<g><title>{}</title>", esc(&summary(r)));
        for (count, colour) in [
            (r.counts.added, ADDED),
            (r.counts.updated, UPDATED),
            (r.counts.skipped, SKIPPED),
            (r.counts.failed, FAILED),
        ] {
            if count == 0 {
                continue;
            }
            let bh = count as f64 / max_records * plot_h;
            y -= bh;
            let _ = write!(
                out,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{bh:.1}\" fill=\"{colour}\"/>"
            );
        }
        out.push_str("</g>");
        if let Some(c) = calls.get(n).copied().flatten() {
            let cy = h - bottom - c as f64 / max_calls * plot_h;
            let cx = x + bar / 2.0;
            let _ = write!(
                out,
                "<circle cx=\"{cx:.1}\" cy=\"{cy:.1}\" r=\"3\" fill=\"#ef6c00\"><title>run #{}: {c} API calls</title></circle>",
                r.id
            );
            points.push(format!("{cx:.1},{cy:.1}"));
        }
    }
    if points.len() > 1 {
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"#ef6c00\" stroke-width=\"2\"><title>API calls per run (most: {max_calls})</title></polyline>",
            points.join(" ")
        );
    }
    if let (Some(first), Some(last)) = (runs.first(), runs.last()) {
        let _ = write!(
            out,
            "<text x=\"{left}\" y=\"{y}\" class=\"axis\">{}</text><text x=\"{w}\" y=\"{y}\" class=\"axis\" text-anchor=\"end\">{}</text>",
            short_time(first.started),
            short_time(last.started),
            y = h - 6.0
        );
    }
    out.push_str("</svg>");
    out.push_str(&format!(
        "<p class=\"legend\"><span class=\"key added\"></span>added <span class=\"key updated\"></span>updated <span class=\"key skipped\"></span>skipped <span class=\"key failed\"></span>failed <span class=\"key calls\"></span>API calls (most {max_calls})</p>"
    ));
    out
}

fn short_time(secs: u64) -> String {
    chrono::DateTime::from_timestamp(secs as i64, 0)
        .unwrap_or_default()
        .format("%m-%d %H:%M")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Counts, RunTrigger};

    fn run(id: u64, status: RunStatus, failed: u64) -> RunRecord {
        RunRecord {
            id,
            sync: "s".into(),
            trigger: RunTrigger::Manual,
            started: 1_700_000_000 + id,
            ended: Some(1_700_000_003 + id),
            status,
            counts: Counts {
                added: 3,
                failed,
                ..Counts::default()
            },
        }
    }

    #[test]
    fn a_strip_marks_failed_runs_and_names_each_run() {
        let svg = strip(&[
            run(2, RunStatus::Failed("token revoked".into()), 0),
            run(1, RunStatus::Completed, 1),
        ]);
        assert_eq!(svg.matches("class=\"failed-run\"").count(), 1);
        assert!(svg.contains("Last 2 runs, 1 failed"));
        assert!(svg.contains("run #1: 3 added, 0 updated, 0 skipped, 1 failed; 3s"));
        assert!(strip(&[]).contains("No runs yet"));
    }
}
