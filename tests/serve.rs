//! `nodeherd metrics --serve` through the built binary, no lab: a one-host inventory whose SSH port is
//! closed, so every scrape reports `nodeherd_node_up ... 0`. Checks the status codes, the Prometheus
//! Content-Type, and that Ctrl-C (SIGINT) stops the server with exit 0. The real scrape by a real
//! Prometheus is `tests/prom_lab.rs`.
#![allow(clippy::unwrap_used)] // a test: a panic is a failure with its location

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ask(addr: &str, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut got = String::new();
    s.read_to_string(&mut got).unwrap();
    got
}

#[test]
fn serve_answers_prometheus_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let closed = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let inv = dir.path().join("inv.toml");
    std::fs::write(
        &inv,
        format!(
            "[hosts.h1]\naddress = \"127.0.0.1\"\nport = {closed}\n\n\
             [hosts.h1.nodes.bn]\nclient = \"lodestar\"\nunit = \"bn.service\"\nmetrics_port = 8008\n"
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_nodeherd"))
        .args(["-i"])
        .arg(&inv)
        .args(["metrics", "--serve", "127.0.0.1:0"])
        .env("NODEHERD_SSH_CONFIG", "none")
        .env("HOME", dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let addr = line
        .split("http://")
        .nth(1)
        .and_then(|r| r.split("/metrics").next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();

    let t = Instant::now();
    let page = ask(
        &addr,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let scrape = t.elapsed();
    assert!(page.starts_with("HTTP/1.1 200 OK\r\n"), "{page}");
    assert!(
        page.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4; charset=utf-8\r\n"),
        "{page}"
    );
    assert!(
        page.contains("nodeherd_node_up{host=\"h1\",node=\"bn\",client=\"lodestar\"} 0\n"),
        "{page}"
    );
    let missing = ask(
        &addr,
        "GET /api HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(missing.starts_with("HTTP/1.1 404 "), "{missing}");
    let put = ask(
        &addr,
        "PUT /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(put.starts_with("HTTP/1.1 405 "), "{put}");
    eprintln!("first scrape (closed SSH port) took {scrape:?}");

    // Ctrl-C: the process exits 0 and the port is released.
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "still running 10 s after SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0), "exit after SIGINT");
    assert!(TcpStream::connect(&addr).is_err(), "{addr} still listening");
}
