//! The fault matrix (issue #15 item 2), root-gated: faults injected into real upgrades,
//! rollbacks and applies on a shared lab ("nhfault", 10.237.0.0/24), at each step the console
//! reports (upload, unpack, switch, gate, confirm; for quiet key moves and failovers: removed,
//! fence, wait, import, `fault_matrix/quiet.rs`): console SIGKILL and SIGSTOP, the host's link
//! dropped, sshd killed, a disk too small to unpack, broken and crashing releases, a second
//! console at once, the host's clock two hours ahead. The node is "app" (`fault_matrix/app.rs`),
//! a generic node with a declared HTTP probe and tiny script releases from a local feed.
//!
//! Each case asserts: the node ends healthy on exactly one version, the one the console reported
//! (exit 0: the new one; "rolled back": the old one; a bad release: the old one and a non-zero
//! exit), no guarded switch unit running, the lock free, no `*.part`/`*.partial`, and a rerun of
//! the same command completes (exit 0 and healthy on the target; exit 1 on the old version for a
//! bad release). Cases run in parallel, one worker thread per lab host taking cases from a queue.
//!
//! Run: `cargo test --test fault_matrix` (as root): the CI set (see docs/reliability.md).
//! `NODEHERD_FAULTS=all` runs the whole matrix; a name filter argument runs matching cases;
//! `NODEHERD_FAULTS_HOSTS=N` sets the number of hosts (default 7).

use nodeherd_lab::LabConfig;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

#[path = "fault_matrix/app.rs"]
mod app;
#[path = "support/app.rs"]
mod app_common;
#[path = "fault_matrix/cases.rs"]
mod cases;
#[path = "fault_matrix/console.rs"]
mod console;
#[path = "support/feed.rs"]
mod feed;
#[path = "fault_matrix/host.rs"]
mod host;
#[path = "support/interop.rs"]
mod interop;
#[path = "fault_matrix/keys.rs"]
mod keys;
#[path = "support/labsuite.rs"]
mod labsuite;
#[path = "fault_matrix/quiet.rs"]
mod quiet;
#[path = "fault_matrix/run.rs"]
mod run;

/// One row of the closing table.
struct Row {
    case: cases::Case,
    host: usize,
    ok: Option<bool>,
    text: String,
    secs: f64,
}

fn main() {
    let hosts: usize = std::env::var("NODEHERD_FAULTS_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let cases = selected();
    // the key moves need the real Lodestar validator clients: host 1, beside the generic workers
    let lodestar = cases.iter().any(|c| c.op.on_validators());
    let quiet = cases
        .iter()
        .any(|c| matches!(c.op, cases::Op::KeyQuiet | cases::Op::Failover));
    let first = usize::from(lodestar) + 1;
    let Some(mut suite) = labsuite::start("fault_matrix", |dir| LabConfig {
        name: "nhfault".into(),
        hosts,
        subnet: 237,
        lodestar,
        lodestar_hosts: usize::from(lodestar),
        extra_vc: lodestar,
        feed: false,
        inventory_out: Some(dir.join("lab.toml")),
        ..LabConfig::default()
    }) else {
        return;
    };
    let dir = suite.dir.clone();
    let rt = labsuite::runtime();
    let arts = app::build(&dir, feed::lab_cpu());
    let feed_url = rt.block_on(serve(&dir, &arts));
    let lab_inv = std::fs::read_to_string(&suite.report.inventory).expect("lab inventory");
    let defaults = lab_inv
        .split("\n[groups.")
        .next()
        .expect("defaults")
        .to_string();
    let workers: Vec<run::Worker> = (first..=hosts)
        .map(|i| {
            let h = host::Host {
                cfg: suite.cfg.clone(),
                i,
            };
            let inventory = dir.join(format!("inv-{i}.toml"));
            std::fs::write(
                &inventory,
                format!(
                    "{defaults}\n[hosts.{n}]\naddress = \"{a}\"\n\n[hosts.{n}.nodes.{node}]\nclient = \"generic\"\nunit = \"nodeherd-app.service\"\ninstall_dir = \"{d}\"\nprobe = {{ http = \"http://127.0.0.1:8080/health\", status = 200 }}\n",
                    n = h.name(),
                    a = nodeherd_lab::naming::host_address(suite.cfg.subnet, i),
                    node = app::NODE,
                    d = app::DIR,
                ),
            )
            .expect("inventory");
            run::Worker {
                host: h,
                inventory,
                feed: feed_url.clone(),
                dir: dir.clone(),
            }
        })
        .collect();
    let mut key_ctx = None;
    let (lab_cfg, lab_inventory) = (suite.cfg.clone(), suite.report.inventory.clone());
    let ready = suite.always("setup", || {
        std::thread::scope(|s| {
            for w in &workers {
                s.spawn(|| {
                    w.host.must(&app::units());
                    w.host.baseline(&dir, &["1.0.0"]);
                });
            }
            if lodestar {
                let h = host::Host {
                    cfg: lab_cfg.clone(),
                    i: 1,
                };
                let inv = lab_inventory.clone();
                key_ctx = Some(
                    s.spawn(|| {
                        let k = keys::Keys::setup(h.clone(), inv.clone(), &dir);
                        let q = quiet.then(|| quiet::setup(h, inv, &dir));
                        (k, q)
                    })
                    .join()
                    .expect("keys setup"),
                );
            }
        });
    });
    if ready {
        let rows = run_all(&workers, key_ctx.as_ref(), cases);
        print_table(&rows);
        for r in &rows {
            if r.ok.is_some() {
                let ok = r.ok == Some(true);
                suite.always(&r.case.to_string(), || assert!(ok, "{}", r.text));
            }
        }
    }
    drop(rt);
    suite.finish();
}

/// The cases to run: the CI set, or `NODEHERD_FAULTS=all`; a name filter argument narrows.
fn selected() -> Vec<cases::Case> {
    let all = std::env::var("NODEHERD_FAULTS").is_ok_and(|v| v == "all");
    let filter = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let list = if all { cases::all() } else { cases::ci() };
    list.into_iter()
        .filter(|c| filter.as_deref().is_none_or(|f| c.to_string().contains(f)))
        .collect()
}

/// One thread per host, each taking the next case from the queue.
fn run_all(
    workers: &[run::Worker],
    keys: Option<&(keys::Keys, Option<keys::Keys>)>,
    cases: Vec<cases::Case>,
) -> Vec<Row> {
    let (key_cases, cases): (Vec<_>, Vec<_>) =
        cases.into_iter().partition(|c| c.op.on_validators());
    let queue = Arc::new(Mutex::new(cases.into_iter().collect::<VecDeque<_>>()));
    let rows = Arc::new(Mutex::new(Vec::new()));
    println!(
        "{} cases on {} hosts, {} key-move cases on host 1",
        queue.lock().expect("queue").len(),
        workers.len(),
        key_cases.len()
    );
    std::thread::scope(|s| {
        if let Some((k, q)) = keys {
            let rows = rows.clone();
            s.spawn(move || {
                for case in key_cases {
                    let t = Instant::now();
                    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        match (case.step, q) {
                            (cases::Step::After(ms), _) => {
                                k.run(&case, std::time::Duration::from_millis(ms))
                            }
                            (_, Some(q)) => quiet::run(q, &case),
                            (_, None) => panic!("the quiet key was not set up"),
                        }
                    }));
                    let secs = t.elapsed().as_secs_f64();
                    let (ok, text) = match r {
                        Ok(t) => (true, t),
                        Err(e) => (false, run::panic_text(&*e)),
                    };
                    let mark = if ok { "ok" } else { "FAILED" };
                    println!(
                        "case {case} on {} ... {mark} ({secs:.1}s): {text}",
                        k.host.name()
                    );
                    rows.lock().expect("rows").push(Row {
                        case,
                        host: 1,
                        ok: Some(ok),
                        text,
                        secs,
                    });
                }
            });
        }
        for w in workers {
            let queue = queue.clone();
            let rows = rows.clone();
            s.spawn(move || {
                loop {
                    let Some(case) = queue.lock().expect("queue").pop_front() else {
                        break;
                    };
                    let t = Instant::now();
                    let out = run::run(w, &case);
                    let secs = t.elapsed().as_secs_f64();
                    let mark = if out.ok { "ok" } else { "FAILED" };
                    println!(
                        "case {case} on {} ... {mark} ({secs:.1}s): {}",
                        w.host.name(),
                        out.text.lines().next().unwrap_or("")
                    );
                    if !out.ok {
                        println!("{}", out.text);
                    }
                    rows.lock().expect("rows").push(Row {
                        case,
                        host: w.host.i,
                        ok: Some(out.ok),
                        text: out.text,
                        secs,
                    });
                }
            });
        }
    });
    let mut rows = Arc::try_unwrap(rows)
        .ok()
        .expect("workers done")
        .into_inner()
        .expect("rows");
    rows.sort_by_key(|r| r.case.to_string());
    rows
}

fn print_table(rows: &[Row]) {
    println!(
        "\n{:<40} {:<8} {:<9} {:<18} {:<7} {:>6}  outcome",
        "case", "op", "step", "fault", "result", "secs"
    );
    for r in rows {
        let name = r.case.to_string();
        let mut parts = name.splitn(3, '_');
        let (op, step, fault) = (
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
            parts.next().unwrap_or(""),
        );
        let result = match r.ok {
            Some(true) => "ok",
            Some(false) => "FAILED",
            None => "skipped",
        };
        let pending = r
            .case
            .pending()
            .map(|p| format!(" [pending guard fix: {p}]"))
            .unwrap_or_default();
        println!(
            "{name:<40} {op:<8} {step:<9} {fault:<18} {result:<7} {:>6.1}  h{} {}{pending}",
            r.secs,
            r.host,
            r.text.lines().next().unwrap_or("")
        );
    }
    if let Some(p) = std::env::var_os("NODEHERD_FAULTS_REPORT") {
        std::fs::write(&p, markdown(rows)).expect("write NODEHERD_FAULTS_REPORT");
    }
    let ok = rows.iter().filter(|r| r.ok == Some(true)).count();
    let failed = rows.iter().filter(|r| r.ok == Some(false)).count();
    let skipped = rows.iter().filter(|r| r.ok.is_none()).count();
    println!(
        "fault matrix: {ok} ok, {failed} failed, {skipped} skipped of {} cases",
        rows.len()
    );
}

/// The table as Markdown rows (for docs/reliability.md): case, result, seconds, outcome.
fn markdown(rows: &[Row]) -> String {
    let day = chrono::Utc::now().format("%Y-%m-%d");
    let mut t =
        String::from("| case | pending | result | secs | outcome |\n|---|---|---|---|---|\n");
    for r in rows {
        let result = match r.ok {
            Some(true) => "ok",
            Some(false) => "FAILED",
            None => "skipped",
        };
        let first = r.text.lines().next().unwrap_or("").replace('|', "\\|");
        t.push_str(&format!(
            "| `{}` | {} | {result} ({day}) | {:.0} | {first} |\n",
            r.case,
            r.case.pending().unwrap_or(""),
            r.secs
        ));
    }
    t
}

/// Serve the app's feed (every release, GitHub-shaped) and its tarballs; the feed's URL.
async fn serve(dir: &std::path::Path, arts: &[(String, std::path::PathBuf, String)]) -> String {
    let (listener, base) = feed::bind().await;
    let cpu = feed::lab_cpu();
    let releases: Vec<serde_json::Value> = arts
        .iter()
        .enumerate()
        .map(|(n, (v, _, sha))| {
            let days = 60 - i64::try_from(n).unwrap_or(0) * 5;
            feed::release_json(&base, &format!("v{v}"), days, &app::asset(v, cpu), sha)
        })
        .collect();
    let mut files: Vec<(String, std::path::PathBuf)> = arts
        .iter()
        .map(|(v, f, _)| (app::asset(v, cpu), f.clone()))
        .collect();
    files.push(feed::feed_file(dir, "app", &releases));
    feed::spawn_file_server(listener, files);
    format!("{base}/feed/app.json")
}
