//! Pure parts of running a plan.

use super::*;
use nodeherd_core::plan::apply::Planned;

fn ch(node: &str, change: Change) -> Planned {
    Planned {
        host: "h".into(),
        node: node.into(),
        change,
        reason: String::new(),
    }
}

#[test]
fn rewrite_restarts_only_running_units_not_stopped_or_switched() {
    let rw = || Change::RewriteUnit {
        diff_summary: "x".into(),
    };
    let p = Plan {
        changes: vec![
            ch("a", rw()),
            ch("b", rw()),
            ch("b", Change::Stop),
            ch("c", rw()),
            ch(
                "c",
                Change::SwitchVersion {
                    from: None,
                    to: "1.5.1".into(),
                },
            ),
            ch("d", rw()),
            ch("d", Change::Start),
        ],
        ..Default::default()
    };
    assert!(restart_after_rewrite(&p, 0, true));
    assert!(
        !restart_after_rewrite(&p, 0, false),
        "stopped stays stopped"
    );
    assert!(!restart_after_rewrite(&p, 1, true), "the stop follows");
    assert!(
        !restart_after_rewrite(&p, 3, true),
        "the switch restarts it"
    );
    assert!(
        !restart_after_rewrite(&p, 5, false),
        "the start uses the new file"
    );
}
