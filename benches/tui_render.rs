//! Render cost of the fleet screen (and of the plan screen) with 1000 nodes of synthetic state on a 200x60 `TestBackend`,
//! and the process's peak RSS (VmHWM). Targets: <= 2 ms a frame, <= 100 MB RSS.
//! Run: `cargo bench --bench tui_render`.

use std::time::Instant;

use nodeherd_tui::{fixture, views};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

fn vm_hwm_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn main() {
    let mut app = fixture::synthetic(1000);
    let now = fixture::now();
    let mut term = match Terminal::new(TestBackend::new(200, 60)) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("cannot create the test backend: {e}");
            std::process::exit(1);
        }
    };
    let frames = 2000usize;
    // warm up
    for _ in 0..50 {
        let _ = term.draw(|f| views::draw(f, &app, now));
    }
    let mut times = Vec::with_capacity(frames);
    for i in 0..frames {
        // move the cursor through the whole table so every window of rows gets drawn
        app.selected = (i * 7) % app.view.len();
        let t = Instant::now();
        let _ = term.draw(|f| views::draw(f, &app, now));
        times.push(t.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<std::time::Duration>() / frames as u32;
    let p50 = times[frames / 2];
    let p99 = times[frames * 99 / 100];
    let max = times[frames - 1];
    // a full filter + sort pass over 1000 rows (what a key in the filter prompt costs)
    let t = Instant::now();
    for i in 0..200 {
        app.filter = ["host-01", "lodestar", "failed", ""][i % 4].to_string();
        app.refresh_view();
    }
    let refresh = t.elapsed() / 200;
    // the plan screen with 1000 nodes: 500 changes (a third switching, with live progress),
    // 400 no-ops, 100 unknown
    let plan_times = {
        use nodeherd_core::plan::apply::{Change, NoOp, Plan, Planned, Unknown};
        let mut p = Plan::default();
        for (i, r) in app.rows.iter().enumerate() {
            let (host, node) = (r.host.clone(), r.node.clone());
            match i % 10 {
                0..=4 => p.changes.push(Planned {
                    host,
                    node,
                    change: match i % 3 {
                        0 => Change::SwitchVersion {
                            from: Some("1.4.2".into()),
                            to: "1.5.1".into(),
                        },
                        1 => Change::Start,
                        _ => Change::Stop,
                    },
                    reason: "declared in playbooks/site.toml".into(),
                }),
                5..=8 => p.noops.push(NoOp {
                    host,
                    node,
                    why: "running as declared".into(),
                }),
                _ => p.unknown.push(Unknown {
                    host,
                    node,
                    error: "ssh: connection refused".into(),
                }),
            }
        }
        for c in p.changes.iter().step_by(3) {
            app.progress
                .insert(format!("{}/{}", c.host, c.node), "switching".into());
        }
        app.screen = nodeherd_tui::state::Screen::Plan;
        app.plan.playbook = Some("playbooks/site.toml".into());
        app.plan.applying = true;
        app.plan.plan.data = Some(p);
        let mut times = Vec::with_capacity(frames);
        for i in 0..frames {
            app.plan.selected = (i * 7) % 1000;
            let t = Instant::now();
            let _ = term.draw(|f| views::draw(f, &app, now));
            times.push(t.elapsed());
        }
        times.sort();
        times
    };
    let hwm = vm_hwm_kib().map_or_else(|| "n/a".into(), |k| format!("{:.1} MB", k as f64 / 1024.0));
    println!("tui_render: fleet screen, 1000 nodes, 200x60, {frames} frames");
    println!(
        "  per frame: mean {mean:?}  p50 {p50:?}  p99 {p99:?}  max {max:?}   (target <= 2 ms)"
    );
    println!("  filter+sort refresh of 1000 rows: {refresh:?}");
    let pmean = plan_times.iter().sum::<std::time::Duration>() / frames as u32;
    println!("tui_render: plan screen, 1000 nodes (500 changes, live progress), 200x60");
    println!(
        "  per frame: mean {pmean:?}  p50 {:?}  p99 {:?}  max {:?}   (target <= 2 ms)",
        plan_times[frames / 2],
        plan_times[frames * 99 / 100],
        plan_times[frames - 1]
    );
    println!("  peak RSS (VmHWM): {hwm}   (target <= 100 MB)");
}
