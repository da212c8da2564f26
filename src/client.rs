//! An HTTP/1.1 client over one keep-alive connection, on hyper's
//! connection-level client (`hyper::client::conn::http1`).
//!
//! The tests, `bench` and `stress` drive the server through it. One
//! [`HttpClient`] holds one connection to one address, so `bench` knows
//! exactly how many connections it opens and the server's answers are
//! parsed by the same HTTP implementation the server speaks.
//!
//! Cost as `bench`'s load generator (measured 2026-12 on the shared 2-core
//! build machine, `bench --duration 4 --connections 16 --numbers 20000
//! --accounts 2000`, the client process's CPU time per request): about
//! 5.9 µs per `/healthz` request against 4.1-5.1 µs for the hand-written
//! client it replaced, i.e. about 1 µs more, some 5% of the machine's CPU per
//! request at the ceiling. Driving the connection inside the caller's task
//! instead of spawning it measured the same (6.0-6.1 µs), so it is spawned as
//! hyper documents. See BENCHMARKS.md before comparing figures across the
//! change.

use std::net::SocketAddr;

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_LENGTH, HOST, HeaderName, HeaderValue};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// One answer.
#[derive(Clone, Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Null` if it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// A client bound to one server address; reconnects when the server closes.
pub struct HttpClient {
    addr: SocketAddr,
    host: HeaderValue,
    conn: Option<SendRequest<Full<Bytes>>>,
}

fn invalid(what: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, what.to_string())
}

impl HttpClient {
    pub fn new(addr: SocketAddr) -> HttpClient {
        let host = HeaderValue::from_str(&addr.to_string()).expect("an address is a valid header");
        HttpClient {
            addr,
            host,
            conn: None,
        }
    }

    /// Sends one request and reads its answer. `headers` are sent as given;
    /// `Host` and `Content-Length` are added.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> std::io::Result<HttpResponse> {
        let body = Bytes::copy_from_slice(body);
        let build = || -> std::io::Result<Request<Full<Bytes>>> {
            let mut request = Request::builder()
                .method(Method::from_bytes(method.as_bytes()).map_err(invalid)?)
                .uri(path)
                .body(Full::new(body.clone()))
                .map_err(invalid)?;
            let map = request.headers_mut();
            map.insert(HOST, self.host.clone());
            map.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
            for (name, value) in headers {
                map.append(
                    HeaderName::from_bytes(name.as_bytes()).map_err(invalid)?,
                    // From bytes: a header may carry UTF-8 (obs-text) on purpose.
                    HeaderValue::from_bytes(value.as_bytes()).map_err(invalid)?,
                );
            }
            Ok(request)
        };
        let mut request = build()?;
        // A kept-alive connection may have been closed by the server while
        // idle; then the request is sent again once on a fresh connection.
        // Only a request hyper gives back unsent, or one whose connection
        // closed before any answer arrived, is retried; never one that failed
        // mid-answer (the request may have been done).
        for attempt in 0..2 {
            // A kept connection is reused once it is ready for the next
            // request (it is not if the server has closed it).
            let kept = match self.conn.as_mut() {
                Some(conn) if !conn.is_closed() => conn.ready().await.is_ok(),
                _ => false,
            };
            let fresh = !kept;
            if fresh {
                self.conn = Some(self.connect().await?);
            }
            let conn = self
                .conn
                .as_mut()
                .ok_or_else(|| std::io::Error::other("no connection"))?;
            match conn.try_send_request(request).await {
                Ok(response) => {
                    let (parts, incoming) = response.into_parts();
                    let body = match incoming.collect().await {
                        Ok(body) => body.to_bytes(),
                        Err(e) => {
                            self.conn = None;
                            return Err(std::io::Error::other(e));
                        }
                    };
                    return Ok(HttpResponse {
                        status: parts.status.as_u16(),
                        headers: parts
                            .headers
                            .iter()
                            .map(|(n, v)| {
                                let value = String::from_utf8_lossy(v.as_bytes());
                                (n.as_str().to_owned(), value.trim().to_owned())
                            })
                            .collect(),
                        body: Vec::from(body),
                    });
                }
                Err(mut e) => {
                    self.conn = None;
                    let unsent = e.take_message();
                    let error = e.into_error();
                    if fresh || attempt == 1 || !(unsent.is_some() || error.is_incomplete_message())
                    {
                        return Err(std::io::Error::other(error));
                    }
                    request = match unsent {
                        Some(request) => request,
                        None => build()?,
                    };
                }
            }
        }
        Err(std::io::Error::other("the request could not be sent"))
    }

    async fn connect(&self) -> std::io::Result<SendRequest<Full<Bytes>>> {
        let stream = TcpStream::connect(self.addr).await?;
        stream.set_nodelay(true)?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(std::io::Error::other)?;
        // The connection's reads and writes run beside the caller; it ends
        // when the sender is dropped or the server closes.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(sender)
    }
}
