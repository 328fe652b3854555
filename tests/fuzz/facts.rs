//! Fuzz targets for what hosts answer: `systemctl show` and the status script, journal lines, the
//! host facts and probes, the console's own history journal, and metrics pages.

use super::harness::{Target, text};
use super::tree::Shape;
use nodeherd_core::facts::{backup, doctor, host, layout, platform, status, systemd};
use nodeherd_core::health::answers;
use nodeherd_core::journal;
use nodeherd_core::metrics::clients::CLIENTS;
use nodeherd_core::metrics::expose::{escape_label_value, format_value};
use nodeherd_core::metrics::page::{parse_labels, split_sample};
use nodeherd_core::metrics::{extract, families};
use nodeherd_core::plan::unitfile;

fn systemd_show(bytes: &[u8]) {
    let t = text(bytes);
    for u in systemd::parse_show(&t) {
        let _ = (u.is_active(), u.is_failed(), u.exists(), u.problem());
    }
    for n in [0, 1, 3, 64] {
        let _ = status::parse_status_output(&t, n);
        for f in status::parse_unit_files(&t, n).into_iter().flatten() {
            // The drift check of `plan` against the host's unit file, and the file against itself.
            let _ = unitfile::compare(
                &f,
                "lodestar-bn.service",
                &format!("{}\n[Unit]\nDescription=x\n", unitfile::MARKER),
            );
            if let status::HostUnitFile::Text(own) = &f {
                let same = unitfile::compare(&f, "x.service", own);
                let managed = own.lines().next().map(str::trim) == Some(unitfile::MARKER);
                assert!(
                    !managed || same == unitfile::UnitDrift::Same,
                    "a managed file differs from itself: {same:?}"
                );
            }
        }
    }
    for word in t.split_whitespace().take(100) {
        let _ = status::version_from_link(word);
    }
}

pub static SYSTEMD_SHOW: Target = Target {
    name: "systemd_show",
    corpus: &[
        "tests/fixtures/systemd/show-mixed.txt",
        "tests/fixtures/systemd/status-unitfile-nhtest-3.txt",
    ],
    dict: &[
        "Id=",
        "ActiveState=",
        "SubState=",
        "LoadState=",
        "MainPID=",
        "ActiveEnterTimestamp=",
        "NRestarts=",
        "Result=",
        "ExecMainStatus=",
        "=\n",
        "\n\n",
        "--- nodeherd",
        "/opt/nodeherd/x/releases/",
        "active",
        "failed",
        "not-found",
        "Thu 2026-01-01 00:00:00 UTC",
    ],
    cases: 2500,
    max_len: 64 << 10,
    shape: Shape::Bytes,
    seeds: None,
    run: systemd_show,
};

fn journal_lines(bytes: &[u8]) {
    for line in text(bytes).lines() {
        let j = systemd::parse_journal_line(line);
        assert!(
            !j.message.chars().any(|c| c.is_control() && c != '\t'),
            "journal message keeps a control character: {:?}",
            j.message
        );
    }
}

pub static JOURNAL_LINES: Target = Target {
    name: "journal_lines",
    corpus: &[
        "tests/fixtures/systemd/journal-lodestar.txt",
        "tests/fixtures/systemd/journal-failed.txt",
    ],
    dict: &[
        "1712345678.123456 ",
        "nhlab-1 ",
        "lodestar[123]: ",
        "systemd[1]: ",
        "[",
        "]",
        ": ",
        "\x1b[0m",
        "\x1b]0;title\x07",
        "\x1b[",
        ".",
    ],
    cases: 3000,
    max_len: 64 << 10,
    shape: Shape::Bytes,
    seeds: None,
    run: journal_lines,
};

fn host_facts(bytes: &[u8]) {
    let t = text(bytes);
    if let Ok(f) = host::parse_host(&t) {
        let _ = (f.mem_used_percent(), f.disk_used_percent());
        if let Some(c) = &f.cpu {
            let _ = host::cpu_percent(c, c);
        }
        let _ = host::host_rates(&f, &f);
    }
    let _ = doctor::parse_probe(&t);
    let _ = layout::parse_inspect(&t);
    let _ = layout::parse_lock_info(&t);
    let _ = layout::parse_switch_state(&t);
    let _ = platform::parse_platform(&t);
    let _ = platform::parse_libc(&t);
    for line in t.lines().take(50) {
        let _ = platform::parse_uname(line);
        let _ = platform::Platform::parse_declared(line);
    }
    let _ = backup::parse_space(&t);
    let _ = backup::parse_du(&t);
    let _ = backup::parse_df(&t);
}

pub static HOST_FACTS: Target = Target {
    name: "host_facts",
    corpus: &[
        "tests/fixtures/host",
        "tests/fixtures/backup",
        "tests/fixtures/systemd/systemd-version.txt",
    ],
    dict: &[
        "cpu ",
        "MemTotal:",
        "MemAvailable:",
        "kB",
        "---",
        "Linux x86_64",
        "Linux aarch64",
        "musl",
        "glibc",
        "ldd (GNU libc) 2.36",
        "current -> releases/1.5.1",
        "previous",
        "holder=",
        "lease=",
        "state=",
        "Filesystem",
        "1K-blocks",
        "/dev/sda1",
        "btrfs",
        "\t",
    ],
    cases: 3000,
    max_len: 64 << 10,
    shape: Shape::Bytes,
    seeds: None,
    run: host_facts,
};

/// The history journal (JSON lines): every parsed entry written back as a line parses to itself.
fn history(bytes: &[u8]) {
    let (entries, _) = journal::parse(&text(bytes));
    for e in &entries {
        let line = e.line();
        let (again, bad) = journal::parse(&line);
        assert_eq!(
            (again.as_slice(), bad),
            (std::slice::from_ref(e), 0),
            "journal line round trip"
        );
    }
    let _ = journal::merge(entries);
}

pub static HISTORY: Target = Target {
    name: "history",
    corpus: &[],
    dict: &[
        "{\"time\":\"2026-01-01T00:00:00Z\",\"who\":\"ops@c\",\"action\":\"upgrade\",\"node\":\"h/n\",\"result\":\"ok\"}\n",
        "{\"time\":\"2026-01-01T00:00:00Z\",\"who\":\"\",\"action\":\"rollback\",\"node\":\"h/n\",\"from\":\"1.5.1\",\"to\":\"1.4.2\",\"result\":\"failed\",\"run\":\"r1\"}\n",
        "\"detail\":\"",
        "\"run\":\"",
        "\\u0000",
        "\\ud800",
        "\n",
        "{",
        "}",
    ],
    cases: 3000,
    max_len: 64 << 10,
    shape: Shape::Bytes,
    seeds: None,
    run: history,
};

/// Metrics pages: every client's table read from any page; every sample line re-written with
/// nodeherd's own escaping reads back to the same labels and value.
fn metrics_page(bytes: &[u8]) {
    let page = text(bytes);
    for c in CLIENTS {
        let _ = extract(&page, c);
        let _ = families(&page, &c.families());
    }
    let _ = answers::metrics_version(&page);
    let _ = answers::metrics_alive(&page);
    for line in page.lines().take(2000) {
        let Some(m) = split_sample(line) else {
            continue;
        };
        let labels: Vec<String> = m
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", escape_label_value(v)))
            .collect();
        let written = format!(
            "{}{{{}}} {}",
            m.name,
            labels.join(","),
            format_value(m.value)
        );
        let back = split_sample(&written)
            .unwrap_or_else(|| panic!("{written:?} (from {line:?}) does not read back"));
        assert_eq!(back.labels, m.labels, "labels round trip of {line:?}");
        assert!(
            back.value == m.value || (back.value.is_nan() && m.value.is_nan()),
            "value round trip of {line:?}: {} -> {}",
            m.value,
            back.value
        );
        let inner = labels.join(",");
        assert_eq!(
            parse_labels(&inner).as_ref(),
            Some(&m.labels),
            "parse_labels of {inner:?}"
        );
    }
}

pub static METRICS_PAGE: Target = Target {
    name: "metrics_page",
    corpus: &["tests/fixtures/metrics"],
    dict: &[
        "# HELP ",
        "# TYPE ",
        " counter",
        " gauge",
        " histogram",
        "_bucket{le=\"+Inf\"} ",
        "{",
        "}",
        "=\"",
        "\\\"",
        "\\n",
        "\\\\",
        "\",",
        " NaN",
        " +Inf",
        " -Inf",
        " 1712345678000",
        "beacon_head_slot",
        "libp2p_peers",
        "lodestar_version{version=\"",
    ],
    cases: 600,
    max_len: 128 << 10,
    shape: Shape::Bytes,
    seeds: None,
    run: metrics_page,
};
