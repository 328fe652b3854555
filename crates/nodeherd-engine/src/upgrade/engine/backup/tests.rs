//! Backups before a switch through the scripted fake host: refused when the copy does not fit
//! (nothing uploaded, nothing switched), handed to the guard when it does (with the prune list),
//! a failed copy ends the upgrade with nothing switched, a rollback restores the newest backup
//! of the version it goes back to, and the plan names what is backed up and the space it needs.

use super::*;
use crate::testing::{FakeRemote, Match, Reply, fake_pool};
use crate::upgrade::artifact::Artifact;
use crate::upgrade::engine::{self, Status};
use crate::upgrade::tests::{NEW, Node, OLD, SWITCH, host, options, release, targets};
use nodeherd_core::playbook::Playbook;

const EXT4: &str = include_str!("../../../../../../tests/fixtures/backup/space-ext4.txt");
const SPACE: &str = "echo \"--du\"";
const LIST: &str = "\"$1\"/backups/*; do [ -e \"$b\" ] && echo";
const UPLOAD: &str = "incoming/$SHA.part";
const STATE: &str = "echo \"state=$(cat";

fn target(mode: Backup, keep: usize) -> Target {
    let mut t = targets(&["h1"], true, &Playbook::default()).remove(0);
    t.node.backup = mode;
    t.node.data_dir = Some("/var/lib/lodestar".into());
    t.node.backup_keep = keep;
    t
}

fn artifact() -> Artifact {
    let dir = std::env::temp_dir().join(format!("nodeherd-test-bak-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join("a.tar.gz");
    let _ = std::fs::write(&path, b"ARTIFACT");
    Artifact {
        name: "a.tar.gz".into(),
        sha256: "cd".repeat(32),
        path,
        size: 8,
        kind: nodeherd_core::releases::assets::ArchiveKind::TarGz,
        binary: None,
    }
}

/// The captured ext4 answer with the data dir's size set to `kib` and two older backups.
fn space(kib: u64) -> String {
    EXT4.replace(
        "140\t/work/wt-bak/docs",
        &format!("{kib}\t/var/lib/lodestar"),
    ) + "backup=1.4.0-20261101T000000Z\nbackup=1.4.2-20261120T000000Z\n"
}

async fn upgrade(f: &FakeRemote, t: &Target) -> engine::Outcome {
    engine::upgrade_node(&f.session(), t, &release(NEW), &artifact(), &options()).await
}

fn switch_line(f: &FakeRemote) -> String {
    f.lines()
        .into_iter()
        .find(|l| l.contains(SWITCH))
        .unwrap_or_default()
}

#[tokio::test(start_paused = true)]
async fn a_backup_that_does_not_fit_refuses_the_upgrade_before_anything_changes() {
    let f = host("h1", Node::default());
    f.on(Match::contains(SPACE), Reply::ok(space(60 * 1024 * 1024)));
    let o = upgrade(&f, &target(Backup::Copy, 2)).await;
    assert_eq!(o.status, Status::Refused, "{o:?}");
    assert!(
        o.detail.starts_with(
            "backup does not fit: the data dir /var/lib/lodestar holds 60.0 GiB, a copy needs 63.0 GiB free on / but only 43.1 GiB is free"
        ),
        "{}",
        o.detail
    );
    assert_eq!(f.ran(UPLOAD) + f.ran(SWITCH), 0, "{:#?}", f.lines());
    // journaled on the host too
    assert_eq!(f.ran("backup does not fit"), 1);
}

#[tokio::test(start_paused = true)]
async fn a_backup_that_fits_is_handed_to_the_guard_with_what_to_prune() {
    let f = host("h1", Node::default());
    f.on(Match::contains(SPACE), Reply::ok(space(5120)));
    let o = upgrade(&f, &target(Backup::Copy, 2)).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let sw = switch_line(&f);
    // mode, data dir, the new backup's path, then the oldest backup to prune (keep 2)
    assert!(
        sw.contains(" copy /var/lib/lodestar /opt/nh/bn/backups/1.4.2-20"),
        "{sw}"
    );
    assert!(
        sw.ends_with(" /opt/nh/bn/backups/1.4.0-20261101T000000Z"),
        "{sw}"
    );
    assert!(
        !sw.contains("1.4.2-20261120T000000Z"),
        "the newer one stays: {sw}"
    );
    assert!(
        sw.contains(
            r#""action":"backup","node":"h1/bn","from":"1.4.2","to":"1.5.1","result":"ok""#
        ),
        "{sw}"
    );
    assert!(
        sw.contains(r#""action":"restore""#) && sw.contains(HOW),
        "{sw}"
    );
    // the space was read before the upload
    let lines = f.lines();
    let at = |m: &str| lines.iter().position(|l| l.contains(m));
    assert!(at(SPACE) < at(UPLOAD) && at(UPLOAD).is_some(), "{lines:#?}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_copy_ends_the_upgrade_with_nothing_switched() {
    let f = host("h1", Node::default());
    f.on(Match::contains(SPACE), Reply::ok(space(5120)));
    f.on_with(Match::contains(STATE), |_, h| {
        let st = if h.iter().any(|l| l.contains(SWITCH)) {
            "backup-failed"
        } else {
            ""
        };
        Reply::ok(format!("state={st}\nunit=inactive\n"))
    });
    let o = upgrade(&f, &target(Backup::Snapshot, 2)).await;
    assert_eq!(o.status, Status::Failed, "{o:?}");
    assert!(
        o.detail.contains(
            "backup of /var/lib/lodestar failed on the host; nothing switched, 1.4.2 runs again"
        ),
        "{}",
        o.detail
    );
    assert!(switch_line(&f).contains(" snapshot /var/lib/lodestar "));
    // no gate, no confirmation, no abort
    assert_eq!(f.ran(": > \"$D/.nodeherd/$W-$TOK\""), 0, "{:#?}", f.lines());
}

#[tokio::test(start_paused = true)]
async fn a_node_without_backup_reads_no_space() {
    let f = host("h1", Node::default());
    let mut t = target(Backup::None, 2);
    assert_eq!(upgrade(&f, &t).await.status, Status::Ok);
    t.node.backup = Backup::Copy;
    t.node.data_dir = None;
    assert_eq!(upgrade(&f, &t).await.status, Status::Ok);
    assert_eq!(f.ran(SPACE) + f.ran(LIST), 0);
    assert!(
        switch_line(&f).ends_with("'' '' '' '' '' '' ''"),
        "{}",
        switch_line(&f)
    );
}

#[tokio::test(start_paused = true)]
async fn a_rollback_restores_the_newest_backup_of_its_target_version() {
    let f = host("h1", Node::default());
    f.on(
        Match::contains("echo \"current=$(readlink"),
        Reply::ok(format!(
            "current=releases/{NEW}\nprevious=releases/{OLD}\nrelease={OLD}\nrelease={NEW}\nswitch=inactive\n"
        )),
    );
    f.on(
        Match::contains(LIST),
        Reply::ok(
            "1.4.2-20261120T000000Z\n1.4.2-20261206T050000Z\n1.5.1-20261207T000000Z\nlost+found\n",
        ),
    );
    // after the switch the node answers as the version rolled back to
    f.http_with(9596, "/eth/v1/node/version", |_, h| {
        let v = if h.iter().any(|l| l.contains(SWITCH)) {
            OLD
        } else {
            NEW
        };
        crate::testing::HttpReply::Answer(
            200,
            format!(r#"{{"data":{{"version":"Lodestar/v{v}/abc"}}}}"#),
        )
    });
    let t = target(Backup::Copy, 2);
    let o = engine::rollback_node(&f.session(), &t, None, &options()).await;
    assert_eq!(o.status, Status::Ok, "{o:?}");
    let sw = switch_line(&f);
    assert!(
        sw.contains(" restore /var/lib/lodestar /opt/nh/bn/backups/1.4.2-20261206T050000Z "),
        "{sw}"
    );
    assert!(
        sw.contains(
            r#""action":"restore","node":"h1/bn","from":"1.5.1","to":"1.4.2","result":"ok""#
        ),
        "{sw}"
    );
    assert_eq!(f.ran(SPACE), 0, "a rollback does not read du");
}

#[tokio::test(start_paused = true)]
async fn the_plan_names_the_backup_and_its_space() {
    let f = host("h1", Node::default());
    f.on(Match::contains(SPACE), Reply::ok(space(5120)));
    let pool = fake_pool(std::slice::from_ref(&f));
    let p = plan_backup(&pool, &target(Backup::Copy, 2)).await.unwrap();
    assert_eq!(
        p.describe(),
        "copy of /var/lib/lodestar (5.0 MiB) into /opt/nh/bn/backups: needs 21.0 MiB, 43.1 GiB free (full copy)"
    );
    f.on(Match::contains(SPACE), Reply::ok(space(60 * 1024 * 1024)));
    let p = plan_backup(&pool, &target(Backup::Copy, 2)).await.unwrap();
    assert!(
        p.describe()
            .starts_with("copy: REFUSED: backup does not fit"),
        "{}",
        p.describe()
    );
    assert!(plan_backup(&pool, &target(Backup::None, 2)).await.is_none());
}
