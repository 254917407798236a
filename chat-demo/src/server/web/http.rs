//! The HTTP side of the web port: one request per connection, its head read under limits
//! (size, header count, time) and parsed by httparse; `/` gets the page, `/ws` the WebSocket
//! upgrade, anything else a short error.

use super::super::connection::Connection;
use super::WebLimits;
use std::borrow::Cow;
use std::io::{self, Read, Write};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The page, its style and its script: one response, no build step, nothing from elsewhere.
fn page() -> &'static [u8] {
    static PAGE: OnceLock<String> = OnceLock::new();
    PAGE.get_or_init(|| {
        include_str!("page.html")
            .replace("/* page.css */", include_str!("page.css"))
            .replace("// page.js", include_str!("page.js"))
    })
    .as_bytes()
}

/// What the page may do: its own inline style and script, a WebSocket back to where it came
/// from, nothing else (a second line of defence; the first is that the page never turns
/// text into HTML).
const PAGE_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
    script-src 'unsafe-inline'; connect-src 'self' ws: wss:; img-src data:; \
    base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// A request head, as far as the routes need it.
pub(in crate::server) struct Request {
    method: String,
    path: String,
    /// Header names in lower case, values as sent (lossily decoded).
    headers: Vec<(String, String)>,
    /// Bytes read past the head (frames a client sent before our 101).
    leftover: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(n, _)| n == name);
        found.map(|(_, value)| value.as_str())
    }

    /// Whether the comma-separated header `name` lists `token` (case-insensitively).
    fn lists(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .flat_map(|(_, value)| value.split(','))
            .any(|item| item.trim().eq_ignore_ascii_case(token))
    }
}

/// A response, sent whole.
pub(in crate::server) struct Response {
    status: u16,
    reason: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Cow<'static, [u8]>,
}

impl Response {
    fn new(status: u16, reason: &'static str, body: impl Into<Cow<'static, [u8]>>) -> Response {
        Response {
            status,
            reason,
            headers: vec![("Content-Type", "text/plain; charset=utf-8".into())],
            body: body.into(),
        }
    }

    fn text(status: u16, reason: &'static str, text: &str) -> Response {
        Response::new(status, reason, format!("{text}\n").into_bytes())
    }

    fn with(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    /// The first line, for the log.
    pub(in crate::server) fn status_line(&self) -> String {
        format!("{} {}", self.status, self.reason)
    }

    /// Sends the response within `grace` per write; every response but a 101 then ends the
    /// connection (over TLS with `close_notify`).
    pub(in crate::server) fn send(&self, conn: &Connection, grace: Duration) -> io::Result<()> {
        let mut head = format!("HTTP/1.1 {} {}\r\n", self.status, self.reason);
        let switching = self.status == 101;
        for (name, value) in &self.headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        if !switching {
            head.push_str(&format!(
                "Content-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\
                 X-Content-Type-Options: nosniff\r\n",
                self.body.len()
            ));
        }
        head.push_str("\r\n");
        conn.set_write_timeout(Some(grace))?;
        let mut wire = conn;
        wire.write_all(head.as_bytes())?;
        wire.write_all(&self.body)?;
        wire.flush()?;
        if !switching {
            conn.shutdown(std::net::Shutdown::Write)?;
        }
        Ok(())
    }
}

/// A request that gets an error response (or, when the client went away, none).
pub(in crate::server) struct Refused(pub(in crate::server) Option<Response>);

/// What to do with a request.
pub(in crate::server) enum Route {
    /// Switch to the WebSocket protocol; the bytes read past the head come along.
    Upgrade(Response, Vec<u8>),
    /// Answer and close.
    Respond(Response),
}

/// Reads one request head from `conn`, within the limits.
///
/// # Errors
///
/// A refusal with the response that says why (400, 408, 431), or with none when the client
/// closed the connection or it failed.
pub(in crate::server) fn read_request(
    conn: &Connection,
    limits: &WebLimits,
) -> Result<Request, Refused> {
    let deadline = Instant::now() + limits.request_timeout;
    let mut buffer = Vec::with_capacity(1024);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(timed_out());
        }
        if conn.set_read_timeout(Some(left)).is_err() {
            return Err(Refused(None));
        }
        let start = buffer.len();
        let room = limits.max_head_bytes.saturating_sub(start).clamp(1, 4096);
        buffer.resize(start + room, 0);
        let read = (&*conn).read(&mut buffer[start..]);
        buffer.truncate(start + *read.as_ref().unwrap_or(&0));
        match read {
            Ok(0) => return Err(Refused(None)),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::TimedOut => return Err(timed_out()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(Refused(None)),
        }
        if let Some(request) = parse(&buffer, limits.max_headers)? {
            return Ok(request);
        }
        if buffer.len() >= limits.max_head_bytes {
            return Err(too_large(format!(
                "request head longer than {} bytes",
                limits.max_head_bytes
            )));
        }
    }
}

fn timed_out() -> Refused {
    Refused(Some(Response::text(
        408,
        "Request Timeout",
        "the request did not arrive in time",
    )))
}

fn too_large(why: String) -> Refused {
    Refused(Some(Response::text(
        431,
        "Request Header Fields Too Large",
        &why,
    )))
}

/// The request in `buffer`, `None` while its head is incomplete.
fn parse(buffer: &[u8], max_headers: usize) -> Result<Option<Request>, Refused> {
    let mut headers = vec![httparse::EMPTY_HEADER; max_headers];
    let mut request = httparse::Request::new(&mut headers);
    let length = match request.parse(buffer) {
        Ok(httparse::Status::Complete(length)) => length,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => {
            return Err(too_large(format!("more than {max_headers} headers")))
        }
        Err(err) => {
            let why = format!("malformed request: {err}");
            return Err(Refused(Some(Response::text(400, "Bad Request", &why))));
        }
    };
    Ok(Some(Request {
        method: request.method.unwrap_or_default().to_string(),
        path: request.path.unwrap_or_default().to_string(),
        headers: request
            .headers
            .iter()
            .map(|h| {
                let value = String::from_utf8_lossy(h.value).into_owned();
                (h.name.to_ascii_lowercase(), value)
            })
            .collect(),
        leftover: buffer[length..].to_vec(),
    }))
}

/// Decides what `request` gets: the page, the upgrade, or an error.
pub(in crate::server) fn route(request: &Request) -> Route {
    let path = request.path.split('?').next().unwrap_or_default();
    if request.method != "GET" {
        let refused = Response::text(405, "Method Not Allowed", "only GET is served here");
        return Route::Respond(refused.with("Allow", "GET"));
    }
    match path {
        "/" => Route::Respond(
            Response::new(200, "OK", page())
                .with("Content-Type", "text/html; charset=utf-8")
                .with("Content-Security-Policy", PAGE_POLICY)
                .with("Referrer-Policy", "no-referrer"),
        ),
        "/ws" => upgrade(request),
        _ => Route::Respond(Response::text(
            404,
            "Not Found",
            "nothing here: the chat is at / and its WebSocket at /ws",
        )),
    }
}

/// The WebSocket handshake of RFC 6455, section 4.2, for `/ws`.
fn upgrade(request: &Request) -> Route {
    let refuse = |status, reason, why: &str| Route::Respond(Response::text(status, reason, why));
    if !request.lists("upgrade", "websocket") || !request.lists("connection", "upgrade") {
        let why = "this is the chat's WebSocket; open / in a browser";
        let response = Response::text(426, "Upgrade Required", why);
        return Route::Respond(response.with("Upgrade", "websocket"));
    }
    if request.header("sec-websocket-version") != Some("13") {
        let response = Response::text(426, "Upgrade Required", "WebSocket version 13 only");
        return Route::Respond(response.with("Sec-WebSocket-Version", "13"));
    }
    let Some(key) = request.header("sec-websocket-key").map(str::trim) else {
        return refuse(400, "Bad Request", "no Sec-WebSocket-Key");
    };
    // A page elsewhere may not open a session in its visitor's name.
    if let Some(origin) = request.header("origin") {
        let host = request.header("host").unwrap_or_default();
        let same = [format!("http://{host}"), format!("https://{host}")];
        if !same.iter().any(|o| o.eq_ignore_ascii_case(origin.trim())) {
            return refuse(403, "Forbidden", "WebSocket from another origin");
        }
    }
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let response = Response {
        status: 101,
        reason: "Switching Protocols",
        headers: vec![
            ("Upgrade", "websocket".into()),
            ("Connection", "Upgrade".into()),
            ("Sec-WebSocket-Accept", accept),
        ],
        body: Cow::Borrowed(b""),
    };
    Route::Upgrade(response, request.leftover.clone())
}

/// The answer to a connection refused before its request is read (server full, too many
/// connections from one address): 503 with the line a line client would get.
pub(in crate::server) fn unavailable(refusal: &str) -> Response {
    Response::text(503, "Service Unavailable", refusal.trim_end()).with("Retry-After", "10")
}
