//! `nodeherd doctor [SELECTOR]`: can nodeherd work with each selected host; every failed check
//! with what to do. Exit 0 when all pass, 1 when one fails, 2 on bad usage or configuration.

use super::context::{self, Fail};
use super::{Output, exit};
use nodeherd_engine::doctor::{self, HostReport};
use std::fmt::Write as _;
use std::path::Path;

pub async fn run(
    inventory: &Path,
    selector: Option<&str>,
    limit: Option<&str>,
    forks: usize,
    out: Output,
) -> Result<i32, Fail> {
    let inv = context::load_inventory(inventory, out.color)?;
    let hosts = context::select_hosts(&inv, selector, limit)?;
    let pool = context::pool();
    let reports = doctor::run(&pool, &inv, &hosts, forks, &doctor::Feeds::default()).await;
    pool.close_all().await;
    if out.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&reports).unwrap_or_else(|_| "[]".into())
        );
    } else {
        print!("{}", render(&reports, out));
    }
    let failed = reports.iter().any(|r| r.failures() > 0);
    Ok(if failed { exit::FAILED } else { exit::OK })
}

/// One block per host: every check, failures with their fix, then a summary line (pure).
pub fn render(reports: &[HostReport], out: Output) -> String {
    let mut s = String::new();
    for r in reports {
        let _ = writeln!(s, "{} ({}@{})", r.host, r.user, r.address);
        for c in &r.checks {
            let word = if c.failed() {
                out.paint("FAIL", "31")
            } else {
                out.paint("ok  ", "32")
            };
            let what = match &c.node {
                Some(n) => format!("{} {n}", c.name),
                None => c.name.clone(),
            };
            let _ = writeln!(s, "  {word} {what:<18} {}", c.detail);
            if let Some(fix) = &c.fix {
                let _ = writeln!(s, "       fix: {fix}");
            }
        }
    }
    let bad: Vec<&str> = reports
        .iter()
        .filter(|r| r.failures() > 0)
        .map(|r| r.host.as_str())
        .collect();
    if bad.is_empty() {
        let _ = writeln!(s, "{} hosts, every check passed", reports.len());
    } else {
        let _ = writeln!(
            s,
            "{} hosts, {} with failed checks: {}",
            reports.len(),
            bad.len(),
            bad.join(", ")
        );
    }
    s
}
