use crate::inventory::ProblemKind;
use crate::playbook::*;
use chrono::TimeZone;

#[test]
fn windows_parse_and_match() {
    let w = Window::parse("Mon-Fri 08:00-18:00 UTC").unwrap();
    // 2026-11-20 is a Friday.
    assert!(w.contains(chrono::Utc.with_ymd_and_hms(2026, 11, 20, 9, 0, 0).unwrap()));
    assert!(
        !w.contains(
            chrono::Utc
                .with_ymd_and_hms(2026, 11, 20, 18, 0, 0)
                .unwrap()
        )
    );
    assert!(!w.contains(chrono::Utc.with_ymd_and_hms(2026, 11, 21, 9, 0, 0).unwrap()));
    let night = Window::parse("Sat 22:00-02:00").unwrap();
    assert!(night.contains(chrono::Utc.with_ymd_and_hms(2026, 11, 22, 1, 0, 0).unwrap()));
    assert!(!night.contains(chrono::Utc.with_ymd_and_hms(2026, 11, 23, 1, 0, 0).unwrap()));
    assert!(Window::parse("Someday 8-9").is_err());
    assert!(window::allowed(&[], chrono::Utc::now()));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("14d"), Some(Duration::from_secs(14 * 86400)));
    assert_eq!(parse_duration("0"), Some(Duration::ZERO));
    assert_eq!(parse_duration("90s"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("soon"), None);
}

/// The text a problem's primary label points at.
fn pointed<'a>(text: &'a str, p: &crate::inventory::Problem) -> (usize, usize, &'a str) {
    let (_, line, col) = p.location().unwrap();
    let start = text
        .lines()
        .take(line - 1)
        .map(|l| l.len() + 1)
        .sum::<usize>()
        + col
        - 1;
    let rest = &text[start..];
    (line, col, rest.lines().next().unwrap())
}

#[test]
fn bad_value_points_at_its_span() {
    let text = "[upgrade]\ndelay = \"fortnight\"\n";
    let e = Playbook::parse("p.toml", text).unwrap_err();
    assert_eq!(e.problems.len(), 1);
    let p = &e.problems[0];
    assert!(p.message.contains("fortnight"), "{}", p.message);
    assert_eq!(pointed(text, p), (2, 9, "\"fortnight\""));
    assert_eq!(p.code_name(), "playbook::invalid_value");
    assert!(Playbook::parse("p.toml", "[upgrade]\nunknown_key = 1\n").is_err());
    assert!(Playbook::parse("p.toml", "[upgrade]\npin = \"=x\"\n").is_err());
}

#[test]
fn every_problem_at_once_in_line_order_each_with_a_hint() {
    let text = "\
[upgrade]
delay = \"fortnight\"
chanel = \"stable\"
serial = \"two\"
max_fail_percent = 150
windows = [\"Someday 8-9\"]

[hosts.bn-1.upgrade]
canary = \"bn-1\"
pin = \"=x\"

[upgrad]
x = 1
";
    let e = Playbook::parse("p.toml", text).unwrap_err();
    let lines: Vec<usize> = e.problems.iter().map(|p| p.location().unwrap().1).collect();
    assert_eq!(lines, vec![2, 3, 4, 5, 6, 9, 10, 12], "{}", e.one_line());
    let kinds: Vec<ProblemKind> = e.problems.iter().map(|p| p.kind).collect();
    use ProblemKind::*;
    assert_eq!(
        kinds,
        vec![
            InvalidValue,
            UnknownField,
            WrongType,
            InvalidValue,
            InvalidValue,
            WrongType,
            InvalidValue,
            UnknownField
        ]
    );
    assert!(e.problems.iter().all(|p| p.help.is_some()));
    assert!(
        e.problems[1]
            .help
            .as_deref()
            .unwrap()
            .contains("did you mean \"channel\"?")
    );
    let canary = &e.problems[5];
    assert!(
        canary
            .message
            .contains("a number of nodes or a list of node selectors"),
        "{}",
        canary.message
    );
    assert!(!e.one_line().contains("untagged"), "{}", e.one_line());
    assert!(
        e.problems[7]
            .help
            .as_deref()
            .unwrap()
            .contains("did you mean \"upgrade\"?")
    );
    assert!(
        e.problems[3].message.contains("within 0-100"),
        "{}",
        e.problems[3].message
    );
}

#[test]
fn canary_takes_a_count_or_node_selectors() {
    let pb = "[upgrade]\ncanary = [\"bn-1/lodestar-bn\"]\n";
    assert!(Playbook::parse("p.toml", pb).is_ok());
    assert!(Playbook::parse("p.toml", "[upgrade]\ncanary = 2\n").is_ok());
    let e = Playbook::parse("p.toml", "[upgrade]\ncanary = [1, \"a\"]\n").unwrap_err();
    assert_eq!(e.problems.len(), 1);
    assert!(
        e.problems[0].message.contains("each entry of canary"),
        "{}",
        e.problems[0].message
    );
    let e = Playbook::parse("p.toml", "[upgrade]\ncanary = -1\n").unwrap_err();
    assert!(
        e.problems[0].message.contains("at least 0"),
        "{}",
        e.problems[0].message
    );
}

#[test]
fn syntax_errors_and_unreadable_files_are_problems_too() {
    let e = Playbook::parse("p.toml", "[upgrade\n").unwrap_err();
    assert_eq!(e.problems[0].kind, ProblemKind::Syntax);
    assert_eq!(e.problems[0].location().unwrap().1, 1);
    let e = Playbook::load(std::path::Path::new("/nonexistent/p.toml")).unwrap_err();
    assert_eq!(e.problems[0].kind, ProblemKind::Io);
    assert!(
        e.to_string()
            .contains("1 problem in playbook /nonexistent/p.toml")
    );
}

#[test]
fn shipped_playbooks_load() {
    for f in ["upgrade-policy.toml", "lab.toml"] {
        let p = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .join("playbooks")
            .join(f);
        Playbook::load(&p).unwrap();
    }
}

#[test]
fn state_and_unit_sections_are_checked_for_keys_and_types() {
    let text = "\
[state]
runnig = true

[unit]
timeout_stop_sec = \"30\"

[nodes.\"bn-1/lodestar-bn\".state]
present = \"yes\"
";
    let e = Playbook::parse("p.toml", text).unwrap_err();
    let lines: Vec<usize> = e.problems.iter().map(|p| p.location().unwrap().1).collect();
    assert_eq!(lines, vec![2, 5, 8], "{}", e.one_line());
    assert!(
        e.problems[0]
            .help
            .as_deref()
            .unwrap()
            .contains("did you mean \"running\"?")
    );
    assert!(
        !e.one_line().contains("expected one of"),
        "{}",
        e.one_line()
    );
}
