//! The SSH transport against real OpenSSH servers on loopback (root-gated: sshd needs root).
#![allow(clippy::unwrap_used)] // a test or bench: a panic is a failure with its location

#[path = "support/sshd.rs"]
mod sshd;

use std::sync::Arc;
use std::time::{Duration, Instant};

use nodeherd_transport::ssh::{
    Command, ConnectOptions, HostKeyPolicy, Phase, Pool, Session, SshError, StreamChunk,
};
use sshd::{Sshd, have_root};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn opts() -> ConnectOptions {
    {
        let mut o = ConnectOptions::default();
        o.use_agent = false;
        o
    }
}

async fn connect(sshd: &Sshd) -> Session {
    Session::connect(&sshd.target("node"), &opts())
        .await
        .unwrap_or_else(|e| panic!("connect: {e}\n{}", sshd.log_text()))
}

#[tokio::test]
async fn exec_reports_stdout_stderr_and_status() {
    if !have_root("exec_reports_stdout_stderr_and_status") {
        return;
    }
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let out = s
        .exec(
            &Command::new("sh")
                .arg("-c")
                .arg("echo out; echo err >&2; exit 3"),
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(out.stdout, b"out\n");
    assert_eq!(out.stderr, b"err\n");
    assert_eq!(out.exit_status, Some(3));
    assert!(!out.success());
    match out.check("node") {
        Err(SshError::CommandFailed {
            host,
            status,
            stderr,
            ..
        }) => {
            assert_eq!(host, "node");
            assert_eq!(status, Some(3));
            assert_eq!(stderr, "err");
        }
        other => panic!("expected CommandFailed, got {other:?}"),
    }
    let ok = s
        .exec(&Command::new("echo").arg("hi"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(ok.success());
    assert_eq!(ok.stdout_str(), "hi\n");
    // a killed command reports the signal, not a status
    let killed = s
        .exec(&Command::new("sh").arg("-c").arg("kill -9 $$"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(killed.exit_status, None);
    assert_eq!(killed.exit_signal.as_deref(), Some("KILL"));
    s.close().await;
}

#[tokio::test]
async fn hostile_arguments_arrive_as_single_literal_arguments() {
    if !have_root("hostile_arguments_arrive_as_single_literal_arguments") {
        return;
    }
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let marker = sshd.dir.path().join("pwned");
    let m = marker.display().to_string();
    let hostile = vec![
        "it's \"quoted\"".to_string(),
        format!("$(touch {m})"),
        format!("`touch {m}`"),
        format!("a\nb; touch {m}"),
        format!("; touch {m}; #"),
        "*".to_string(),
        String::new(),
        "${PATH}".to_string(),
        "héllo ✓".to_string(),
        format!("' ; touch {m} ; '"),
        "\\".to_string(),
    ];
    let out = s
        .exec(&Command::new("printf").arg("%s\\0").args(&hostile))
        .await
        .and_then(|o| o.check("node"))
        .unwrap_or_else(|e| panic!("{e}"));
    let want: Vec<u8> = hostile
        .iter()
        .flat_map(|h| h.bytes().chain([0u8]))
        .collect();
    assert_eq!(out.stdout, want);
    assert!(
        !marker.exists(),
        "a hostile argument was executed by the remote shell"
    );
}

/// An artifact-sized upload streamed from a file (`exec_with_stdin_file`): the host gets the same
/// bytes (sha256 computed there), and the console never holds the file whole (peak RSS growth is
/// printed: it stays near the channel window, far below the file size).
#[tokio::test]
async fn file_upload_streams_and_arrives_intact() {
    use sha2::Digest;
    if !have_root("file_upload_streams_and_arrives_intact") {
        return;
    }
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let src = sshd.dir.path().join("artifact.bin");
    // written and hashed 1 MiB at a time, so the test itself never holds the file either
    let want: String = {
        use std::io::Write;
        let mut f = std::fs::File::create(&src).unwrap_or_else(|e| panic!("{e}"));
        let mut h = sha2::Sha256::new();
        let chunk: Vec<u8> = (0..1_048_576u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
            .collect();
        for i in 0..48u8 {
            let mut c = chunk.clone();
            c[0] = i;
            h.update(&c);
            f.write_all(&c).unwrap_or_else(|e| panic!("{e}"));
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    };
    let hwm = || -> u64 {
        std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("VmHWM:"))
                    .and_then(|l| l.split_whitespace().nth(1).map(str::to_string))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let before = hwm();
    let file = tokio::fs::File::open(&src)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let dst = sshd.dir.path().join("received.bin");
    let out = s
        .exec_with_stdin_file(
            &Command::new("sh")
                .arg("-c")
                .arg(r#"cat > "$1" && sha256sum "$1""#)
                .arg("sh")
                .arg(dst.display().to_string()),
            file,
        )
        .await
        .and_then(|o| o.check("node"))
        .unwrap_or_else(|e| panic!("{e}"));
    let got = out.stdout_str();
    assert!(got.starts_with(&want), "host sha256 {got} != {want}");
    assert_eq!(
        std::fs::metadata(&dst).map_or(0, |m| m.len()),
        48 * 1_048_576
    );
    let streamed = hwm().saturating_sub(before);
    // same-run baseline: the same upload from memory (what staging did before)
    let before = hwm();
    let bytes = std::fs::read(&src).unwrap_or_default();
    s.exec_with_stdin(&Command::new("sh").arg("-c").arg("cat > /dev/null"), &bytes)
        .await
        .and_then(|o| o.check("node"))
        .unwrap_or_else(|e| panic!("{e}"));
    drop(bytes);
    println!(
        "48 MiB upload: peak RSS grew by {streamed} KiB streamed from the file, by {} KiB from memory",
        hwm().saturating_sub(before)
    );
}

#[tokio::test]
async fn stdin_upload_round_trips_large_data() {
    if !have_root("stdin_upload_round_trips_large_data") {
        return;
    }
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let file = sshd.dir.path().join("upload with space.bin");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let up = s
        .exec_with_stdin(
            &Command::new("cat").raw(">").arg(file.display().to_string()),
            &data,
        )
        .await
        .and_then(|o| o.check("node"))
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(up.stdout.is_empty());
    let back = s
        .exec(&Command::new("cat").arg(file.display().to_string()))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(back.stdout.len(), data.len());
    assert!(back.stdout == data);
}

#[tokio::test]
async fn unknown_key_is_refused_under_strict_with_its_fingerprint() {
    if !have_root("unknown_key_is_refused_under_strict_with_its_fingerprint") {
        return;
    }
    let sshd = Sshd::start();
    let mut t = sshd.target("fresh");
    let empty = sshd.dir.path().join("empty_known_hosts");
    t.known_hosts_files = vec![empty.clone()];
    match Session::connect(&t, &opts()).await {
        Err(SshError::HostKeyUnknown {
            host,
            fingerprint,
            key_type,
            files,
        }) => {
            assert_eq!(host, "fresh");
            assert_eq!(fingerprint, sshd.host_fingerprint());
            assert_eq!(key_type, "ssh-ed25519");
            assert_eq!(files, vec![empty.clone()]);
        }
        other => panic!("expected HostKeyUnknown, got {other:?}"),
    }
    assert!(!empty.exists(), "strict mode must not record anything");
    assert_eq!(sshd.accepted_logins(), 0);
}

#[tokio::test]
async fn unknown_key_question_is_asked_and_answer_respected() {
    if !have_root("unknown_key_question_is_asked_and_answer_respected") {
        return;
    }
    let sshd = Sshd::start();
    let mut t = sshd.target("asked");
    let kh = sshd.dir.path().join("asked_known_hosts");
    t.known_hosts_files = vec![kh.clone()];
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let mk = |answer: bool| {
        let seen = seen.clone();
        let mut o = opts();
        o.on_unknown_key = Some(Arc::new(move |k: nodeherd_transport::ssh::UnknownKey| {
            if let Ok(mut s) = seen.lock() {
                s.push(k.fingerprint.clone());
            }
            Box::pin(async move { answer })
        }));
        o
    };
    let no = Session::connect(&t, &mk(false)).await;
    assert!(matches!(no, Err(SshError::HostKeyUnknown { .. })), "{no:?}");
    let yes = Session::connect(&t, &mk(true))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    yes.close().await;
    // recorded: a third connect does not ask again
    let again = Session::connect(&t, &mk(false))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    again.close().await;
    let asked = seen.lock().map(|s| s.clone()).unwrap_or_default();
    assert_eq!(
        asked,
        vec![sshd.host_fingerprint(), sshd.host_fingerprint()]
    );
}

#[tokio::test]
async fn changed_key_is_refused_naming_file_and_line() {
    if !have_root("changed_key_is_refused_naming_file_and_line") {
        return;
    }
    let sshd = Sshd::start();
    let wrong = sshd::keygen(sshd.dir.path(), "impostor", "ed25519");
    let wrong_pub = wrong.with_extension("pub");
    let kh = sshd.dir.path().join("changed_known_hosts");
    std::fs::write(
        &kh,
        format!(
            "# managed by hand\nother.example {w}\n[127.0.0.1]:{p} {w}\n",
            w = sshd::pub_key_text(&wrong_pub),
            p = sshd.port
        ),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut t = sshd.target("moved");
    t.known_hosts_files = vec![sshd.dir.path().join("missing_file"), kh.clone()];
    for policy in [HostKeyPolicy::Strict, HostKeyPolicy::AcceptNew] {
        t.host_key_policy = policy;
        match Session::connect(&t, &opts()).await {
            Err(e @ SshError::HostKeyChanged { .. }) => {
                let msg = e.to_string();
                let SshError::HostKeyChanged {
                    host,
                    fingerprint,
                    stored_fingerprint,
                    file,
                    line,
                } = e
                else {
                    unreachable!()
                };
                assert_eq!(host, "moved");
                assert_eq!(file, kh);
                assert_eq!(line, 3);
                assert_eq!(fingerprint, sshd.host_fingerprint());
                assert_eq!(stored_fingerprint, sshd::fingerprint_of(&wrong_pub));
                assert!(msg.contains(&format!("{}:3", kh.display())), "{msg}");
            }
            other => panic!("expected HostKeyChanged under {policy:?}, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn revoked_key_is_refused() {
    if !have_root("revoked_key_is_refused") {
        return;
    }
    let sshd = Sshd::start();
    let kh = sshd.dir.path().join("revoked_known_hosts");
    let line = sshd::pub_key_text(&sshd.host_pub);
    std::fs::write(
        &kh,
        format!("[127.0.0.1]:{} {line}\n@revoked * {line}\n", sshd.port),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut t = sshd.target("revoked");
    t.known_hosts_files = vec![kh.clone()];
    match Session::connect(&t, &opts()).await {
        Err(SshError::HostKeyRevoked { file, line, .. }) => {
            assert_eq!(file, kh);
            assert_eq!(line, 2);
        }
        other => panic!("expected HostKeyRevoked, got {other:?}"),
    }
}

#[tokio::test]
async fn accept_new_records_then_strict_accepts() {
    if !have_root("accept_new_records_then_strict_accepts") {
        return;
    }
    let sshd = Sshd::start();
    let kh = sshd.dir.path().join("new/dir/known_hosts");
    let mut t = sshd.target("newbie");
    t.known_hosts_files = vec![kh.clone()];
    t.host_key_policy = HostKeyPolicy::AcceptNew;
    let s = Session::connect(&t, &opts())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.close().await;
    let text = std::fs::read_to_string(&kh).unwrap_or_default();
    assert_eq!(
        text,
        format!(
            "[127.0.0.1]:{} {}\n",
            sshd.port,
            sshd::pub_key_text(&sshd.host_pub)
        )
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&kh).map_or(0, |m| m.permissions().mode() & 0o777);
    assert_eq!(mode, 0o600);
    t.host_key_policy = HostKeyPolicy::Strict;
    let s2 = Session::connect(&t, &opts())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        s2.exec(&Command::new("true"))
            .await
            .is_ok_and(|o| o.success())
    );
    // not recorded twice
    assert_eq!(std::fs::read_to_string(&kh).unwrap_or_default(), text);
}

#[tokio::test]
async fn connection_info_names_the_key_used_and_the_known_hosts_line() {
    if !have_root("connection_info_names_the_key_used_and_the_known_hosts_line") {
        return;
    }
    let sshd = Sshd::start();
    // the server's key on line 3, after a comment and another host's line
    let listed = std::fs::read_to_string(&sshd.known_hosts).unwrap();
    let other = sshd::keygen(sshd.dir.path(), "other", "ed25519");
    let kh = sshd.dir.path().join("known_hosts_3");
    std::fs::write(
        &kh,
        format!(
            "# fleet\n10.9.9.9 {}\n{listed}",
            sshd::pub_key_text(&other.with_extension("pub"))
        ),
    )
    .unwrap();
    let mut t = sshd.target("info");
    t.known_hosts_files = vec![sshd.dir.path().join("absent"), kh.clone()];
    let s = Session::connect(&t, &opts()).await.unwrap();
    let info = s
        .connection_info()
        .expect("an SSH session knows how it connected");
    assert_eq!(info.known_host, Some((kh, 3)));
    assert_eq!(info.host_key, sshd.host_fingerprint());
    assert!(
        info.auth
            .starts_with(&format!("key file {} (ssh-", sshd.client_key.display())),
        "{info:?}"
    );
    assert!(info.auth.contains("SHA256:"), "{info:?}");
    s.close().await;

    // accepted as new: no line matched, the key was recorded instead
    let mut t = sshd.target("fresh");
    t.known_hosts_files = vec![sshd.dir.path().join("fresh_known_hosts")];
    t.host_key_policy = HostKeyPolicy::AcceptNew;
    let s = Session::connect(&t, &opts()).await.unwrap();
    let info = s.connection_info().expect("info");
    assert_eq!(info.known_host, None);
    assert_eq!(info.host_key, sshd.host_fingerprint());
}

#[tokio::test]
async fn wrong_client_key_is_auth_refused_listing_what_was_tried() {
    if !have_root("wrong_client_key_is_auth_refused_listing_what_was_tried") {
        return;
    }
    let sshd = Sshd::start();
    let stranger = sshd::keygen(sshd.dir.path(), "stranger", "ed25519");
    let mut t = sshd.target("locked");
    let missing = sshd.dir.path().join("no_such_key");
    t.identity_files = vec![missing.clone(), stranger.clone()];
    match Session::connect(&t, &opts()).await {
        Err(SshError::AuthRefused { host, user, tried }) => {
            assert_eq!(host, "locked");
            assert_eq!(user, "root");
            assert_eq!(tried.len(), 2, "{tried:?}");
            assert!(
                tried[0].contains("no_such_key") && tried[0].contains("missing"),
                "{tried:?}"
            );
            assert!(
                tried[1].contains("stranger") && tried[1].contains("ssh-ed25519 SHA256:"),
                "{tried:?}"
            );
        }
        other => panic!("expected AuthRefused, got {other:?}"),
    }
}

#[tokio::test]
async fn unreachable_port_fails_fast() {
    let port = sshd::free_port();
    let mut t = nodeherd_core::remote::Target::new("gone", "127.0.0.1", "root");
    t.port = port;
    let start = Instant::now();
    let r = Session::connect(&t, &opts()).await;
    assert!(start.elapsed() < Duration::from_secs(2));
    match r {
        Err(e @ SshError::Unreachable { .. }) => {
            assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
        }
        other => panic!("expected Unreachable, got {other:?}"),
    }
}

#[tokio::test]
async fn silent_server_times_out_in_connect_phase() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .map_or_else(|e| panic!("{e}"), |a| a.port());
    let holder = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock); // accept and say nothing
        }
    });
    let mut t = nodeherd_core::remote::Target::new("mute", "127.0.0.1", "root");
    t.port = port;
    t.connect_timeout = Duration::from_millis(500);
    let start = Instant::now();
    let r = Session::connect(&t, &opts()).await;
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(450) && took < Duration::from_secs(2),
        "{took:?}"
    );
    match r {
        Err(SshError::Timeout {
            host,
            phase: Phase::Connect,
            after,
        }) => {
            assert_eq!(host, "mute");
            assert_eq!(after, Duration::from_millis(500));
        }
        other => panic!("expected Timeout in Connect, got {other:?}"),
    }
    holder.abort();
}

#[tokio::test]
async fn jump_host_chain_reaches_inner_host() {
    if !have_root("jump_host_chain_reaches_inner_host") {
        return;
    }
    let bastion = Sshd::start();
    let inner = Sshd::start();
    let mut t = inner.target("inner");
    t.jump = Some(Box::new(bastion.target("bastion")));
    let s = Session::connect(&t, &opts())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let out = s
        .exec(&Command::new("sh").arg("-c").arg("echo $SSH_CONNECTION"))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    // the inner sshd sees a connection to its own port
    let conn = out.stdout_str().to_string();
    assert!(
        conn.trim_end().ends_with(&format!(" {}", inner.port)),
        "{conn}"
    );
    assert_eq!(inner.accepted_logins(), 1);
    assert_eq!(bastion.accepted_logins(), 1);
    s.close().await;

    // a failure behind the jump host is wrapped, naming both hosts
    let mut bad = inner.target("inner");
    bad.known_hosts_files = vec![inner.dir.path().join("nothing")];
    bad.jump = Some(Box::new(bastion.target("bastion")));
    match Session::connect(&bad, &opts()).await {
        Err(SshError::HostKeyUnknown { host, .. }) => assert_eq!(host, "inner"),
        other => panic!("expected HostKeyUnknown for the inner host, got {other:?}"),
    }
    let mut bad_jump = inner.target("inner");
    let mut b = bastion.target("bastion");
    b.known_hosts_files = vec![inner.dir.path().join("nothing")];
    bad_jump.jump = Some(Box::new(b));
    match Session::connect(&bad_jump, &opts()).await {
        Err(SshError::Jump { host, via, source }) => {
            assert_eq!(host, "inner");
            assert_eq!(via, "bastion");
            assert!(
                matches!(*source, SshError::HostKeyUnknown { .. }),
                "{source:?}"
            );
        }
        other => panic!("expected Jump, got {other:?}"),
    }
}

#[tokio::test]
async fn forward_reaches_a_local_echo_listener() {
    if !have_root("forward_reaches_a_local_echo_listener") {
        return;
    }
    let sshd = Sshd::start();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let port = listener
        .local_addr()
        .map_or_else(|e| panic!("{e}"), |a| a.port());
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = sock.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    let s = connect(&sshd).await;
    let mut stream = s.forward(port).await.unwrap_or_else(|e| panic!("{e}"));
    let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let (mut rd, mut wr) = tokio::io::split(&mut stream);
    let send = async {
        wr.write_all(&payload).await?;
        wr.flush().await?;
        Ok::<_, std::io::Error>(())
    };
    let recv = async {
        let mut got = vec![0u8; payload.len()];
        rd.read_exact(&mut got).await?;
        Ok::<_, std::io::Error>(got)
    };
    let (sent, got) = tokio::join!(send, recv);
    sent.unwrap_or_else(|e| panic!("{e}"));
    assert!(got.unwrap_or_else(|e| panic!("{e}")) == payload);
    // a closed port is a channel error, not a hang
    let closed = sshd::free_port();
    match s.forward(closed).await {
        Err(SshError::Channel { host, message }) => {
            assert_eq!(host, "node");
            assert!(message.contains(&closed.to_string()), "{message}");
        }
        Err(other) => panic!("expected Channel error, got {other:?}"),
        Ok(_) => panic!("forward to a closed port succeeded"),
    }
}

#[tokio::test]
async fn thirty_concurrent_execs_share_one_session() {
    if !have_root("thirty_concurrent_execs_share_one_session") {
        return;
    }
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let tasks: Vec<_> = (0..30)
        .map(|i| {
            let s = s.clone();
            tokio::spawn(async move {
                s.exec(
                    &Command::new("sh")
                        .arg("-c")
                        .arg(format!("sleep 0.2; echo {i}")),
                )
                .await
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let out = t
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .and_then(|o| o.check("node"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.stdout_str(), format!("{i}\n"));
    }
    assert_eq!(sshd.accepted_logins(), 1);
}

#[tokio::test]
async fn exec_stream_delivers_lines_incrementally() {
    if !have_root("exec_stream_delivers_lines_incrementally") {
        return;
    }
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(16);
    let start = Instant::now();
    let cmd = Command::new("sh")
        .arg("-c")
        .arg("for i in 1 2 3; do echo $i; sleep 0.2; done; echo done >&2; exit 4");
    let run = tokio::spawn({
        let s = s.clone();
        async move { s.exec_stream(&cmd, tx).await }
    });
    let mut arrivals = Vec::new();
    while let Some(chunk) = rx.recv().await {
        arrivals.push((start.elapsed(), chunk));
    }
    let status = run
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|e| panic!("{e}"));
    let end = start.elapsed();
    assert_eq!(status, Some(4));
    let stdout: Vec<u8> = arrivals
        .iter()
        .filter_map(|(_, c)| match c {
            StreamChunk::Stdout(d) => Some(d.clone()),
            _ => None,
        })
        .flatten()
        .collect();
    assert_eq!(stdout, b"1\n2\n3\n");
    assert!(
        arrivals
            .iter()
            .any(|(_, c)| *c == StreamChunk::Stderr(b"done\n".to_vec()))
    );
    let first = arrivals.first().map_or(end, |(t, _)| *t);
    assert!(
        end.checked_sub(first).unwrap() >= Duration::from_millis(350),
        "first chunk at {first:?}, end at {end:?}: not incremental"
    );

    // closing the receiver stops the stream and frees the channel
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    let endless = tokio::spawn({
        let s = s.clone();
        async move {
            s.exec_stream(
                &Command::new("sh")
                    .arg("-c")
                    .arg("while true; do echo x; sleep 0.05; done"),
                tx,
            )
            .await
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(rx);
    let r = tokio::time::timeout(Duration::from_secs(3), endless).await;
    assert!(matches!(r, Ok(Ok(Ok(None)))), "{r:?}");
}

#[tokio::test]
async fn command_timeout_fires_and_session_survives() {
    if !have_root("command_timeout_fires_and_session_survives") {
        return;
    }
    let sshd = Sshd::start();
    let mut t = sshd.target("slow");
    t.command_timeout = Duration::from_millis(800);
    let s = Session::connect(&t, &opts())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let start = Instant::now();
    let r = s.exec(&Command::new("sleep").arg("30")).await;
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(750) && took < Duration::from_secs(3),
        "{took:?}"
    );
    match r {
        Err(e @ SshError::Timeout { .. }) => {
            assert!(
                matches!(&e, SshError::Timeout { phase: Phase::Command(c), .. } if c == "sleep 30"),
                "{e:?}"
            );
        }
        other => panic!("expected Timeout, got {other:?}"),
    }
    // the session is still usable
    let ok = s
        .exec(&Command::new("echo").arg("alive"))
        .await
        .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log_text()));
    assert_eq!(ok.stdout_str(), "alive\n");

    // timed-out commands keep their slot until sshd really closes them, so commands started
    // right after many timeouts wait for a free slot instead of being refused by MaxSessions
    let mut t2 = sshd.target("full");
    t2.command_timeout = Duration::from_secs(3);
    let s2 = Session::connect(&t2, &opts())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let sleepers: Vec<_> = (0..10)
        .map(|_| {
            let s2 = s2.clone();
            tokio::spawn(async move { s2.exec(&Command::new("sleep").arg("4")).await })
        })
        .collect();
    for h in sleepers {
        let r = h.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(r, Err(SshError::Timeout { .. })), "{r:?}");
    }
    let after: Vec<_> = (0..8)
        .map(|i| {
            let s2 = s2.clone();
            tokio::spawn(async move {
                s2.exec_with_timeout(
                    &Command::new("echo").arg(i.to_string()),
                    Duration::from_secs(30),
                )
                .await
            })
        })
        .collect();
    for (i, h) in after.into_iter().enumerate() {
        let out = h
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}\n{}", sshd.log_text()));
        assert_eq!(out.stdout_str(), format!("{i}\n"));
    }
}

#[tokio::test]
async fn pool_makes_one_connection_for_twenty_callers() {
    if !have_root("pool_makes_one_connection_for_twenty_callers") {
        return;
    }
    let sshd = Sshd::start();
    let pool = Arc::new(Pool::new(opts()));
    let t = sshd.target("pooled");
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (pool, t) = (pool.clone(), t.clone());
            tokio::spawn(async move {
                let s = pool.session(&t).await?;
                s.exec(&Command::new("echo").arg("x")).await
            })
        })
        .collect();
    for task in tasks {
        let out = task
            .await
            .unwrap_or_else(|e| panic!("{e}"))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.stdout_str(), "x\n");
    }
    assert_eq!(pool.connect_attempts(), 1);
    assert_eq!(sshd.accepted_logins(), 1, "{}", sshd.log_text());

    // a closed session is replaced on next use
    let s = pool.session(&t).await.unwrap_or_else(|e| panic!("{e}"));
    s.close().await;
    for _ in 0..50 {
        if s.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(s.is_closed());
    let s2 = pool.session(&t).await.unwrap_or_else(|e| panic!("{e}"));
    assert!(!s2.is_closed());
    assert_eq!(pool.connect_attempts(), 2);
    pool.close_all().await;
}

#[tokio::test]
async fn pool_shares_a_failed_connect_and_retries_next_time() {
    let pool = Arc::new(Pool::new(opts()));
    let mut t = nodeherd_core::remote::Target::new("down", "127.0.0.1", "root");
    t.port = sshd::free_port();
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let (pool, t) = (pool.clone(), t.clone());
            tokio::spawn(async move { pool.session(&t).await })
        })
        .collect();
    for task in tasks {
        let r = task.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(matches!(r, Err(SshError::Unreachable { .. })), "{r:?}");
    }
    assert_eq!(pool.connect_attempts(), 1);
    let r = pool.session(&t).await;
    assert!(matches!(r, Err(SshError::Unreachable { .. })));
    assert_eq!(pool.connect_attempts(), 2);
}

/// Client cost figures (run alone: `cargo test --test ssh measure -- --ignored --nocapture`).
#[tokio::test(flavor = "current_thread")]
#[ignore = "a measurement, run alone with --ignored --nocapture"]
async fn measure_client_cost() {
    if !have_root("measure_client_cost") {
        return;
    }
    fn cpu() -> Duration {
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: getrusage writes into the struct we own.
        unsafe { libc::getrusage(libc::RUSAGE_SELF, &raw mut ru) };
        let us = |t: libc::timeval| {
            Duration::from_micros(t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64)
        };
        us(ru.ru_utime) + us(ru.ru_stime)
    }
    let sshd = Sshd::start();
    let t = sshd.target("bench");
    let cmd = Command::new("cat").arg("/proc/loadavg");
    // warm up the code paths once
    let s = Session::connect(&t, &opts())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    s.close().await;
    let n = 20;
    let (c0, w0) = (cpu(), Instant::now());
    for _ in 0..n {
        let s = Session::connect(&t, &opts())
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let o = s.exec(&cmd).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(o.success());
        s.close().await;
    }
    let (c1, w1) = (cpu().checked_sub(c0).unwrap(), w0.elapsed());
    println!(
        "cold: connect+auth+first exec: {:.2} ms wall, {:.3} ms client CPU (mean of {n})",
        w1.as_secs_f64() * 1e3 / f64::from(n),
        c1.as_secs_f64() * 1e3 / f64::from(n)
    );
    let s = Session::connect(&t, &opts())
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let m = 200;
    let (c0, w0) = (cpu(), Instant::now());
    for _ in 0..m {
        let o = s.exec(&cmd).await.unwrap_or_else(|e| panic!("{e}"));
        assert!(o.success());
    }
    let (c1, w1) = (cpu().checked_sub(c0).unwrap(), w0.elapsed());
    println!(
        "warm: exec on open session: {:.2} ms wall, {:.3} ms client CPU (mean of {m})",
        w1.as_secs_f64() * 1e3 / f64::from(m),
        c1.as_secs_f64() * 1e3 / f64::from(m)
    );
}

/// Authorize one more public key on a running test server.
fn authorize(sshd: &Sshd, key: &std::path::Path) {
    let pub_text = std::fs::read_to_string(key.with_extension("pub")).expect("pub key");
    let ak = sshd.dir.path().join("authorized_keys");
    let mut all = std::fs::read_to_string(&ak).expect("authorized_keys");
    all.push_str(&pub_text);
    std::fs::write(&ak, all).expect("write authorized_keys");
}

#[tokio::test]
async fn ssh_agent_is_tried_first_and_used() {
    if !have_root("ssh_agent_is_tried_first_and_used") {
        return;
    }
    let sshd = Sshd::start();
    let d = sshd.dir.path();
    let agent_key = sshd::keygen(d, "agent_only", "ed25519");
    authorize(&sshd, &agent_key);
    let sock = d.join("agent.sock");
    let mut agent = std::process::Command::new("ssh-agent")
        .arg("-D")
        .arg("-a")
        .arg(&sock)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ssh-agent");
    let t0 = Instant::now();
    while !sock.exists() && t0.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let added = std::process::Command::new("ssh-add")
        .arg(&agent_key)
        .env("SSH_AUTH_SOCK", &sock)
        .output()
        .expect("ssh-add");
    assert!(added.status.success(), "{added:?}");
    // The only identity file offered is not authorized: only the agent's key can log in.
    let mut t = sshd.target("agent");
    t.identity_files = vec![sshd::keygen(d, "stranger", "ed25519")];
    let mut o = ConnectOptions::default();
    o.agent_socket = Some(sock.clone());
    let r = Session::connect(&t, &o).await;
    let _ = agent.kill();
    let _ = agent.wait();
    let s = r.unwrap_or_else(|e| panic!("agent auth: {e}\n{}", sshd.log_text()));
    let out = s
        .exec(&Command::new("echo").arg("via-agent"))
        .await
        .expect("exec");
    assert_eq!(out.stdout_str().trim(), "via-agent");
    assert!(
        sshd.log_text().contains("ED25519"),
        "sshd logged the accepted key"
    );
}

#[tokio::test]
async fn encrypted_identity_asks_the_passphrase_once_and_wrong_one_is_refused() {
    if !have_root("encrypted_identity_asks_the_passphrase_once_and_wrong_one_is_refused") {
        return;
    }
    let sshd = Sshd::start();
    let d = sshd.dir.path();
    let key = d.join("encrypted");
    let made = std::process::Command::new("ssh-keygen")
        .args([
            "-q",
            "-t",
            "ed25519",
            "-N",
            "correct horse",
            "-C",
            "enc",
            "-f",
        ])
        .arg(&key)
        .output()
        .expect("ssh-keygen");
    assert!(made.status.success(), "{made:?}");
    authorize(&sshd, &key);
    let mut t = sshd.target("enc");
    t.identity_files = vec![key.clone()];
    let asked = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = asked.clone();
    let mut o = opts();
    o.passphrase = Some(Arc::new(move |_p: &std::path::Path| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Some("correct horse".to_string())
    }));
    for _ in 0..2 {
        let s = Session::connect(&t, &o)
            .await
            .unwrap_or_else(|e| panic!("connect with passphrase: {e}"));
        let out = s.exec(&Command::new("true")).await.expect("exec");
        assert!(out.success());
    }
    assert_eq!(
        asked.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "asked once, then cached"
    );
    let mut wrong = opts();
    wrong.passphrase = Some(Arc::new(|_p: &std::path::Path| {
        Some("battery staple".to_string())
    }));
    match Session::connect(&t, &wrong).await {
        Err(SshError::AuthRefused { tried, .. }) => {
            assert!(tried.iter().any(|x| x.contains("encrypted")), "{tried:?}");
        }
        other => panic!("a wrong passphrase must not log in: {other:?}"),
    }
}

/// The node lock over a real sshd: while one console holds it, every other attempt is "busy"
/// and names the holder (never an unexplained failure, whatever the timing of the channel's end);
/// once the holder lets go, the next console gets it. Multi-threaded, as in the CLI: the end of
/// the lock command's stream and its exit status reach the caller from different workers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn node_lock_is_busy_naming_the_holder_then_free_after_release() {
    use nodeherd_engine::upgrade::lock::{self, LockError};
    if !have_root("node_lock_is_busy_naming_the_holder_then_free_after_release") {
        return;
    }
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let dir = sshd.dir.path().join("node dir");
    let dir = dir.to_str().expect("utf-8");
    let held = lock::acquire(&s, dir, "h/n", "alice@laptop", "upgrade 1.5.1")
        .await
        .unwrap_or_else(|e| panic!("first acquire: {e}"));
    let other = connect(&sshd).await;
    for i in 0..15 {
        match lock::acquire(&other, dir, "h/n", "cron@box", "upgrade 1.5.1").await {
            Err(LockError::Busy { holder, .. }) => {
                assert_eq!(holder.who, "alice@laptop", "attempt {i}");
                assert_eq!(holder.action, "upgrade 1.5.1", "attempt {i}");
            }
            Err(e) => panic!("attempt {i}: expected busy, got: {e}"),
            Ok(_) => panic!("attempt {i}: two consoles hold the same lock"),
        }
    }
    drop(held);
    let got = lock::acquire_waiting(
        &other,
        dir,
        "h/n",
        "cron@box",
        "upgrade 1.5.1",
        Duration::from_secs(20),
    )
    .await;
    assert!(got.is_ok(), "after release: {:?}", got.err());
}

/// A receiving command that stops reading and exits while the upload is still streaming (the
/// host's disk filled up): the upload stops at once and the result is the command's exit status
/// and stderr, not a timeout (issue #15 item 10).
#[tokio::test]
async fn upload_to_a_command_that_exits_early_reports_its_error_at_once() {
    if !have_root("upload_to_a_command_that_exits_early_reports_its_error_at_once") {
        return;
    }
    let sshd = Sshd::start();
    let s = connect(&sshd).await;
    let src = sshd.dir.path().join("big.bin");
    {
        // 1 MiB at a time: the parallel streaming test measures this process's peak RSS
        use std::io::Write;
        let mut f = std::fs::File::create(&src).unwrap_or_else(|e| panic!("{e}"));
        for _ in 0..32 {
            f.write_all(&vec![5u8; 1_048_576])
                .unwrap_or_else(|e| panic!("{e}"));
        }
    }
    let file = tokio::fs::File::open(&src)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let t = std::time::Instant::now();
    let out = s
        .exec_with_stdin_file(
            &Command::new("sh").arg("-c").arg(
                "head -c 65536 >/dev/null; echo 'cat: write error: No space left on device' >&2; exit 1",
            ),
            file,
        )
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let took = t.elapsed();
    println!("early exit seen after {took:?}");
    assert_eq!(out.exit_status, Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("No space left on device"),
        "{out:?}"
    );
    assert!(took < std::time::Duration::from_secs(10), "{took:?}");
}
