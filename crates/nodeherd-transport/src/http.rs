//! A minimal HTTP/1.1 client over any byte stream: used over SSH direct-tcpip forwards to reach a
//! node's localhost-only REST, metrics and keymanager APIs without opening a port.
//!
//! Owns: request framing (`Connection: close`), response parsing (status, headers,
//! Content-Length, chunked, or read-to-close bodies) with a size cap. May not touch: SSH,
//! TLS (the forward is already inside SSH), or what the bodies mean.

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// Largest body accepted (metrics pages are ~60-200 KB; keymanager answers are small).
pub const MAX_BODY: usize = 16 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("i/o error talking to the node's API: {0}")]
    Io(#[from] std::io::Error),
    #[error("the node's API answered something that is not HTTP: {0}")]
    Malformed(String),
    #[error("the node's API answer is larger than {MAX_BODY} bytes")]
    TooLarge,
}

/// Send one request and read the whole answer. `headers` must not contain CR/LF (checked).
pub async fn request<S>(
    mut stream: S,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Response, HttpError>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let bad = |s: &str| s.contains('\r') || s.contains('\n');
    if bad(method) || bad(path) || headers.iter().any(|(k, v)| bad(k) || bad(v)) {
        return Err(HttpError::Malformed(
            "request line or header contains a line break".into(),
        ));
    }
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nUser-Agent: nodeherd\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).await?;
    if let Some(b) = body {
        stream.write_all(b).await?;
    }
    stream.flush().await?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16384];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_BODY + 65536 {
            return Err(HttpError::TooLarge);
        }
        // Stop early when a Content-Length body is complete (some servers keep the socket open).
        if let Some(done) = complete_len(&raw) {
            if raw.len() >= done {
                raw.truncate(done);
                break;
            }
        }
    }
    parse_response(&raw)
}

/// `GET path` with optional headers.
pub async fn get<S: AsyncRead + AsyncWrite + Unpin>(
    stream: S,
    path: &str,
    headers: &[(&str, &str)],
) -> Result<Response, HttpError> {
    request(stream, "GET", path, headers, None).await
}

fn header_end(raw: &[u8]) -> Option<usize> {
    raw.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn complete_len(raw: &[u8]) -> Option<usize> {
    let end = header_end(raw)?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let len = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse::<usize>().ok())
            .flatten()
    })?;
    Some(end + len)
}

/// Parse a complete HTTP/1.x response (pure; tested on captured answers).
pub fn parse_response(raw: &[u8]) -> Result<Response, HttpError> {
    let end = header_end(raw).ok_or_else(|| HttpError::Malformed("no end of headers".into()))?;
    let head = std::str::from_utf8(&raw[..end])
        .map_err(|_| HttpError::Malformed("headers are not UTF-8".into()))?;
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or("");
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or("");
    if !version.starts_with("HTTP/1.") {
        return Err(HttpError::Malformed(format!("status line {status_line:?}")));
    }
    let status: u16 = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| HttpError::Malformed(format!("status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let rest = &raw[end..];
    let chunked = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("transfer-encoding") && v.to_ascii_lowercase().contains("chunked")
    });
    let body = if chunked {
        dechunk(rest)?
    } else {
        rest.to_vec()
    };
    if body.len() > MAX_BODY {
        return Err(HttpError::TooLarge);
    }
    Ok(Response {
        status,
        headers,
        body,
    })
}

fn dechunk(mut rest: &[u8]) -> Result<Vec<u8>, HttpError> {
    let mut out = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| HttpError::Malformed("truncated chunk size".into()))?;
        let size_txt = std::str::from_utf8(&rest[..line_end])
            .map_err(|_| HttpError::Malformed("chunk size".into()))?;
        let size_txt = size_txt.split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_txt, 16)
            .map_err(|_| HttpError::Malformed(format!("chunk size {size_txt:?}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if rest.len() < size {
            return Err(HttpError::Malformed("truncated chunk".into()));
        }
        out.extend_from_slice(&rest[..size]);
        if out.len() > MAX_BODY {
            return Err(HttpError::TooLarge);
        }
        rest = rest.get(size + 2..).unwrap_or(&[]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_length_and_chunked() {
        let r = parse_response(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}",
        )
        .unwrap();
        assert_eq!((r.status, r.body.as_slice()), (200, &b"{}"[..]));
        assert_eq!(r.header("content-type"), Some("application/json"));
        let c = parse_response(b"HTTP/1.1 206 Partial\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nWiki\r\n5;x=1\r\npedia\r\n0\r\n\r\n").unwrap();
        assert_eq!((c.status, c.text().as_str()), (206, "Wikipedia"));
        assert!(parse_response(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }

    #[tokio::test]
    async fn round_trip_over_a_real_socket() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut buf = vec![0u8; 4096];
            let n = s.read(&mut buf).await.unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).to_string();
            s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
                .await
                .unwrap();
            // keep the socket open: the client must stop at Content-Length
            tokio::time::sleep(std::time::Duration::from_millis(500)).await;
            req
        });
        let s = tokio::net::TcpStream::connect(addr).await.unwrap();
        let r = get(s, "/eth/v1/node/health", &[("Authorization", "Bearer x")])
            .await
            .unwrap();
        assert_eq!(r.text(), "hello");
        let req = server.await.unwrap();
        assert!(
            req.starts_with("GET /eth/v1/node/health HTTP/1.1\r\n"),
            "{req}"
        );
        assert!(req.contains("Authorization: Bearer x\r\n"));
        // Header injection is refused before anything is sent.
        assert!(
            get(tokio::io::duplex(64).0, "/x\r\nEvil: 1", &[])
                .await
                .is_err()
        );
    }
}
