//! The backup facts on output captured from real filesystems (a btrfs subvolume and an xfs
//! filesystem, both loop-mounted, and this machine's ext4), and the decisions over them.

use super::*;
use chrono::TimeZone;

const BTRFS: &str = include_str!("../../../../../tests/fixtures/backup/space-btrfs.txt");
const XFS: &str = include_str!("../../../../../tests/fixtures/backup/space-xfs.txt");
const EXT4: &str = include_str!("../../../../../tests/fixtures/backup/space-ext4.txt");

#[test]
fn df_and_du_parse_as_captured() {
    assert_eq!(
        parse_du("5120\t/tmp/nhbak-cap/mnt/data\n"),
        Ok(5120),
        "du -sk"
    );
    assert_eq!(parse_du(""), Err(ParseError::NoDu));
    let row = parse_df(
        "Filesystem     1024-blocks     Used Available Capacity Mounted on\n/dev/vda         264212084 50025232  45260656      53% /\n",
    )
    .unwrap();
    assert_eq!(row.avail_kib, 45_260_656);
    assert_eq!(row.mount, "/");
    // a mount point with a space stays whole
    let spaced = parse_df("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sdb1 100 10 90 10% /mnt/data disk\n").unwrap();
    assert_eq!(spaced.mount, "/mnt/data disk");
    assert!(matches!(
        parse_df("Filesystem x\n/dev/sdb1 a b c 1% /\n"),
        Err(ParseError::BadDf(_))
    ));
}

#[test]
fn the_space_fact_reads_every_filesystem_kind() {
    let b = parse_space(BTRFS).unwrap();
    assert_eq!(b.data_kib, 5120);
    assert_eq!(b.target.avail_kib, 224_256);
    assert_eq!(
        (b.data_fs.as_str(), b.target_fs.as_str()),
        ("btrfs", "btrfs")
    );
    assert!(b.same_fs && b.subvolume, "{b:?}");
    assert_eq!(b.backups.len(), 2);
    let x = parse_space(XFS).unwrap();
    assert!(x.same_fs && !x.subvolume && x.target_fs == "xfs");
    let e = parse_space(EXT4).unwrap();
    assert_eq!(e.data_fs, "ext2/ext3");
    assert_eq!(e.target.mount, "/");
    assert!(parse_space("data_missing=1\n").unwrap().data_missing);
    assert_eq!(parse_space("--du\n--df\n"), Err(ParseError::NoDu));
}

#[test]
fn a_snapshot_is_free_only_where_copy_on_write_is_certain() {
    let b = parse_space(BTRFS).unwrap();
    let n = check(Backup::Snapshot, "/d", &b).unwrap();
    assert_eq!((n.need_kib, n.method), (0, "btrfs snapshot"));
    // a copy on the same btrfs needs the full size plus headroom
    let c = check(Backup::Copy, "/d", &b).unwrap();
    assert_eq!(c.need_kib, 5120 + 16 * 1024);
    // xfs may lack reflinks: the full size must fit
    let x = parse_space(XFS).unwrap();
    let n = check(Backup::Snapshot, "/d", &x).unwrap();
    assert_eq!(n.need_kib, with_headroom(3072));
    assert!(n.method.starts_with("reflink copy if"), "{}", n.method);
    let e = parse_space(EXT4).unwrap();
    assert_eq!(
        check(Backup::Snapshot, "/d", &e).unwrap().method,
        "full copy (no copy-on-write on this filesystem)"
    );
}

#[test]
fn a_backup_that_does_not_fit_is_refused_with_both_numbers() {
    let mut f = parse_space(EXT4).unwrap();
    f.data_kib = 60 * 1024 * 1024; // 60 GiB
    let err = check(Backup::Copy, "/var/lib/lodestar", &f).unwrap_err();
    assert_eq!(
        err.to_string(),
        "backup does not fit: the data dir /var/lib/lodestar holds 60.0 GiB, a copy needs 63.0 GiB free on / but only 43.1 GiB is free; nothing changed"
    );
    f.data_missing = true;
    assert!(matches!(
        check(Backup::Copy, "/x", &f),
        Err(SpaceError::DataDirMissing(_))
    ));
}

#[test]
fn names_sort_by_time_and_prune_keeps_the_newest() {
    let at = chrono::Utc.with_ymd_and_hms(2026, 12, 6, 4, 15, 0).unwrap();
    assert_eq!(backup_name("1.4.2", at), "1.4.2-20261206T041500Z");
    assert_eq!(
        parse_name("1.5.0-rc.1-20261206T041500Z"),
        Some(("1.5.0-rc.1", "20261206T041500Z"))
    );
    assert_eq!(parse_name("1.4.2-partial"), None);
    assert_eq!(parse_name("lost+found"), None);
    let names: Vec<String> = [
        "1.4.2-20261206T043000Z",
        "1.5.1-20261201T000000Z",
        "1.4.2-20261206T041500Z",
        "lost+found",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    assert_eq!(
        newest_for(&names, "1.4.2").as_deref(),
        Some("1.4.2-20261206T043000Z")
    );
    assert_eq!(newest_for(&names, "9.9.9"), None);
    // keep 2 with one being added: the two oldest go, never the odd entry
    assert_eq!(
        prune_list(&names, 2, 1),
        vec!["1.5.1-20261201T000000Z", "1.4.2-20261206T041500Z"]
    );
    assert!(prune_list(&names, 4, 1).is_empty());
}

#[test]
fn the_switch_arguments_are_seven_and_then_the_prune_list() {
    assert_eq!(SwitchBackup::args(None), vec![String::new(); 7]);
    let b = SwitchBackup {
        mode: "copy".into(),
        prune: vec!["/o/backups/a".into()],
        ..SwitchBackup::default()
    };
    let a = SwitchBackup::args(Some(&b));
    assert_eq!(a.len(), 8);
    assert_eq!((a[0].as_str(), a[7].as_str()), ("copy", "/o/backups/a"));
    assert!(
        space_command("/var/lib/x y", "/opt/n;id")
            .to_shell_string()
            .contains("'/opt/n;id'")
    );
    assert_eq!(human_kib(512), "512 KiB");
    assert_eq!(human_kib(1536), "1.5 MiB");
}
