//! Parse cost of a real Lodestar 1.5.1 beacon-node metrics page (tests/fixtures/metrics), in one run:
//! prometheus-parse on the whole page, a plain line split, prometheus-parse on the pre-filtered lines,
//! and our `extract`. Plain `Instant` loops; medians of several rounds. Run: `cargo bench --bench metrics_parse`.

use std::hint::black_box;
use std::time::Instant;

use nodeherd::metrics::clients::for_client;
use nodeherd::metrics::page::{extract, select_lines};

const PAGE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/metrics/lodestar-1.5.1-bn-metrics.prom"
));

/// Median µs per call over `rounds` rounds of `iters` calls.
fn time(rounds: usize, iters: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..iters.min(20) {
        f(); // warm-up
    }
    let mut per: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..iters {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / iters as f64
        })
        .collect();
    per.sort_by(|a, b| a.total_cmp(b));
    per[per.len() / 2]
}

fn main() {
    let client = for_client("lodestar");
    let wanted = client.families();
    let lines = PAGE.lines().count();
    let kept = select_lines(PAGE, &wanted).count();
    println!(
        "page: {} bytes, {lines} lines; client table keeps {kept} lines of {} families",
        PAGE.len(),
        wanted.len()
    );

    let crate_whole = time(9, 20, || {
        let s = prometheus_parse::Scrape::parse(PAGE.lines().map(|l| Ok(l.to_string())));
        black_box(s.map(|s| s.samples.len()).unwrap_or(0));
    });
    let split = time(9, 500, || {
        let n: usize = black_box(PAGE).split('\n').map(|l| l.len()).sum();
        black_box(n);
    });
    let prefilter = time(9, 500, || {
        black_box(select_lines(black_box(PAGE), &wanted).count());
    });
    let crate_filtered = time(9, 500, || {
        let s =
            prometheus_parse::Scrape::parse(select_lines(PAGE, &wanted).map(|l| Ok(l.to_string())));
        black_box(s.map(|s| s.samples.len()).unwrap_or(0));
    });
    let ours = time(9, 500, || {
        black_box(extract(black_box(PAGE), client));
    });

    println!("prometheus-parse, whole page         {crate_whole:9.1} µs/page");
    println!("plain line split                     {split:9.1} µs/page");
    println!("pre-filter only (select_lines)       {prefilter:9.1} µs/page");
    println!("prometheus-parse on pre-filtered     {crate_filtered:9.1} µs/page");
    println!("extract (pre-filter + parse + table) {ours:9.1} µs/page");
    println!(
        "ratios: whole/extract {:.1}x, extract/split {:.2}x, target <= 100 µs: {}",
        crate_whole / ours,
        ours / split,
        if ours <= 100.0 { "met" } else { "MISSED" }
    );
}
