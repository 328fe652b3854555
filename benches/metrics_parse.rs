//! Parse cost of a real Lodestar 1.5.1 beacon-node metrics page (tests/fixtures/metrics), in one run:
//! prometheus-parse on the whole page, a plain line split, prometheus-parse on the pre-filtered lines,
//! and our `extract`. Plain `Instant` loops; medians of several rounds. Run: `cargo bench --bench metrics_parse`.

use std::hint::black_box;
use std::time::Instant;

use nodeherd_core::metrics::clients::for_client;
use nodeherd_core::metrics::page::{extract, select_lines};

const PAGE: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/metrics/lodestar-1.5.1-bn-metrics.prom"
));

/// CPU time of this thread in seconds: on a shared, loaded machine wall time also counts waiting for a core.
fn thread_cpu() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &raw mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

/// Median (wall µs, thread-CPU µs) per call over `rounds` rounds of `iters` calls.
fn time(rounds: usize, iters: usize, mut f: impl FnMut()) -> (f64, f64) {
    for _ in 0..iters.min(20) {
        f(); // warm-up
    }
    let mut wall = Vec::with_capacity(rounds);
    let mut cpu = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let (t, c) = (Instant::now(), thread_cpu());
        for _ in 0..iters {
            f();
        }
        cpu.push((thread_cpu() - c) * 1e6 / iters as f64);
        wall.push(t.elapsed().as_secs_f64() * 1e6 / iters as f64);
    }
    wall.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (wall[rounds / 2], cpu[rounds / 2])
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
        black_box(s.map_or(0, |s| s.samples.len()));
    });
    let split = time(9, 500, || {
        let n: usize = black_box(PAGE).split('\n').map(str::len).sum();
        black_box(n);
    });
    let prefilter = time(9, 500, || {
        black_box(select_lines(black_box(PAGE), &wanted).count());
    });
    let crate_filtered = time(9, 500, || {
        let s =
            prometheus_parse::Scrape::parse(select_lines(PAGE, &wanted).map(|l| Ok(l.to_string())));
        black_box(s.map_or(0, |s| s.samples.len()));
    });
    let ours = time(9, 500, || {
        black_box(extract(black_box(PAGE), client));
    });

    println!("                                     wall µs/page   thread-CPU µs/page");
    for (name, (w, c)) in [
        ("prometheus-parse, whole page", crate_whole),
        ("plain line split (str::split)", split),
        ("pre-filter only (select_lines)", prefilter),
        ("prometheus-parse on pre-filtered", crate_filtered),
        ("extract (pre-filter+parse+table)", ours),
    ] {
        println!("{name:<36} {w:10.1} {c:16.1}");
    }
    println!(
        "ratios (CPU): whole/extract {:.1}x, extract/split {:.2}x; target <= 100 µs: {}",
        crate_whole.1 / ours.1,
        ours.1 / split.1,
        if ours.1 <= 100.0 { "met" } else { "MISSED" }
    );
}
