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

#[test]
fn bad_value_points_at_its_span() {
    let text = "[upgrade]\ndelay = \"fortnight\"\n";
    let e = Playbook::parse("p.toml", text).unwrap_err();
    match e {
        PlaybookError::Invalid { message, span, .. } => {
            assert!(message.contains("fortnight"), "{message}");
            let span = span.unwrap();
            assert_eq!(
                &text[span.offset()..span.offset() + span.len()],
                "\"fortnight\""
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(Playbook::parse("p.toml", "[upgrade]\nunknown_key = 1\n").is_err());
    assert!(Playbook::parse("p.toml", "[upgrade]\npin = \"=x\"\n").is_err());
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
