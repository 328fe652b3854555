//! The HTTP side of `metrics --serve ADDR`: a hyper 1 server (HTTP/1.1, keep-alive) answering
//! `GET`/`HEAD /metrics` with the page a [`Page`] source gives, `404` on other paths, `405` (with `Allow`)
//! on other methods, at most [`MAX_CONNECTIONS`] connections at once, and a graceful shutdown (no new
//! connections, open ones finish their request) when the stop future resolves.
//!
//! Owns: routing, status codes, headers, connection limits and timeouts. May not touch: what the page says
//! or how it is gathered (`cli::metrics` hands in a [`Page`]), the inventory, SSH.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

/// Connections served at once; more wait in the listener's backlog.
pub const MAX_CONNECTIONS: usize = 16;
/// The Prometheus text exposition format, version 0.0.4.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// A client must send its request head within this.
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// One connection (keep-alive included) is closed after this, freeing its slot.
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);
/// After the stop signal, open connections get this long to finish.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);
/// Largest request head accepted (hyper's minimum buffer).
const MAX_REQUEST_HEAD: usize = 8 * 1024;

/// Where the exposition page comes from (re-gathered or cached by the implementer).
pub trait Page: Send + Sync + 'static {
    fn page(&self) -> impl Future<Output = String> + Send;
}

/// The answer to one request (pure routing over the method and path; the page is asked for only when needed).
async fn answer<P: Page>(req: &Request<Incoming>, page: &P) -> Response<Full<Bytes>> {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    match req.uri().path() {
        "/metrics" => {
            let mut r = Response::new(Full::new(Bytes::from(page.page().await)));
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(PROMETHEUS_TEXT));
            r
        }
        "/" => text(StatusCode::OK, "nodeherd: see /metrics\n"),
        _ => text(StatusCode::NOT_FOUND, "not found\n"),
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// Serve on `listener` until `stop` resolves, then stop accepting and give open connections
/// [`SHUTDOWN_GRACE`] to finish.
pub async fn serve_on<P: Page>(
    listener: TcpListener,
    page: Arc<P>,
    stop: impl Future<Output = ()>,
) {
    let gate = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_buf_size(MAX_REQUEST_HEAD);
    tokio::pin!(stop);
    loop {
        let permit = tokio::select! {
            () = &mut stop => break,
            p = gate.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let sock = tokio::select! {
            () = &mut stop => break,
            a = listener.accept() => match a { Ok((s, _)) => s, Err(_) => continue },
        };
        let _ = sock.set_nodelay(true); // the head and the page go out at once, without waiting for an ACK
        let page = page.clone();
        let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            let page = page.clone();
            async move { Ok::<_, Infallible>(answer(&req, page.as_ref()).await) }
        });
        let conn = graceful.watch(http.serve_connection(TokioIo::new(sock), svc));
        tokio::spawn(async move {
            let _permit = permit;
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    struct Canned(&'static str);
    impl Page for Canned {
        async fn page(&self) -> String {
            self.0.to_string()
        }
    }

    /// One request on its own connection; the whole answer as text.
    async fn ask(addr: std::net::SocketAddr, request: &str) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request.as_bytes()).await.unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).await.unwrap();
        String::from_utf8(got).unwrap()
    }

    #[tokio::test]
    async fn routes_methods_and_content_type() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_on(
            listener,
            Arc::new(Canned("# TYPE up gauge\nup 1\n")),
            async {
                let _ = rx.await;
            },
        ));
        let close = "Connection: close\r\n\r\n";
        let ok = ask(
            addr,
            &format!("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\n{close}"),
        )
        .await;
        assert!(ok.starts_with("HTTP/1.1 200 OK\r\n"), "{ok}");
        assert!(
            ok.to_ascii_lowercase()
                .contains("\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\n"),
            "{ok}"
        );
        assert!(ok.ends_with("\r\n\r\n# TYPE up gauge\nup 1\n"), "{ok}");
        let head = ask(
            addr,
            &format!("HEAD /metrics HTTP/1.1\r\nHost: a\r\n{close}"),
        )
        .await;
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        assert!(head.ends_with("\r\n\r\n"), "HEAD has no body: {head}");
        let missing = ask(addr, &format!("GET /nope HTTP/1.1\r\nHost: a\r\n{close}")).await;
        assert!(
            missing.starts_with("HTTP/1.1 404 Not Found\r\n"),
            "{missing}"
        );
        let post = ask(
            addr,
            &format!("POST /metrics HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n{close}"),
        )
        .await;
        assert!(
            post.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"),
            "{post}"
        );
        assert!(
            post.to_ascii_lowercase()
                .contains("\r\nallow: get, head\r\n"),
            "{post}"
        );
        let junk = ask(addr, "NOT HTTP AT ALL\r\n\r\n").await;
        assert!(junk.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{junk}");
        // keep-alive: two requests on one connection
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut both = String::new();
        s.read_to_string(&mut both).await.unwrap();
        assert_eq!(both.matches("HTTP/1.1 200 OK").count(), 2, "{both}");
        tx.send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .expect("server stops on the signal")
            .unwrap();
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[tokio::test]
    async fn shutdown_lets_an_open_request_finish() {
        struct Slow;
        impl Page for Slow {
            async fn page(&self) -> String {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow 1\n".into()
            }
        }
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve_on(listener, Arc::new(Slow), async {
            let _ = rx.await;
        }));
        let pending = tokio::spawn(ask(addr, "GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n"));
        tokio::time::sleep(Duration::from_millis(100)).await;
        tx.send(()).unwrap();
        let got = pending.await.unwrap();
        assert!(
            got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("slow 1\n"),
            "{got}"
        );
        tokio::time::timeout(Duration::from_secs(2), server)
            .await
            .unwrap()
            .unwrap();
    }
}
