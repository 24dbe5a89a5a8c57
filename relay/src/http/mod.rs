// SPDX-License-Identifier: MPL-2.0
//! The HTTP endpoints (`--http ADDR:PORT`):
//!
//! | request | answer |
//! |---|---|
//! | `GET /health` | 200 while every station's output runs, 503 otherwise; a short text says which do not |
//! | `GET /health/live` | 200 while the main loop answers (the process is alive), 503 otherwise |
//! | `GET /status` | JSON: every station ([`crate::report::FleetReport`]) |
//! | `GET /metrics` | Prometheus text format ([`metrics`]) |
//! | `POST /stations/<id>/switch?to=primary\|secondary` | manual switch (`active-pad`) |
//!
//! The server (tiny_http) runs on its own threads; it never touches a station. Each
//! request becomes a [`Query`] sent to the main loop, which answers through a
//! channel; if the main loop does not answer within [`ANSWER_TIMEOUT`] the request
//! gets 503 (and `/health/live` fails: what a liveness probe should see).
//!
//! The `POST` needs `Authorization: Bearer <token>` whenever the server is bound to
//! a non-loopback address, or always with `require-token = true`; without the right
//! token it gets 401 and nothing changes. With no token configured, a non-loopback
//! server refuses every `POST`.

pub mod metrics;

use crate::report::FleetReport;
use crate::secrets;
use futures_channel::mpsc::UnboundedSender;
use serde::Serialize;
use std::net::SocketAddr;
use std::sync::mpsc::{SyncSender, sync_channel};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;
use std::time::Duration;

/// How long a request waits for the main loop.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(3);
/// Threads answering requests.
const WORKERS: usize = 2;

/// A request for the main loop.
pub enum Query {
    Report(SyncSender<FleetReport>),
    Switch {
        id: String,
        to: String,
        reply: SyncSender<Result<SwitchDone, (u16, String)>>,
    },
}

/// A manual switch that was made.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SwitchDone {
    pub station: String,
    pub from: String,
    pub to: String,
}

/// Who may `POST` (updated when the stations file is reloaded).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Auth {
    pub token: Option<String>,
    pub require_token: bool,
}

pub type SharedAuth = Arc<RwLock<Auth>>;

/// What a request asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Route {
    Health,
    Live,
    Status,
    Metrics,
    Switch {
        id: String,
        to: String,
    },
    /// (status, text)
    Refuse(u16, String),
}

/// The route of `method` `url` (path and query).
pub fn route(method: &str, url: &str) -> Route {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let get = method == "GET" || method == "HEAD";
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    match segments.as_slice() {
        ["", "health"] if get => Route::Health,
        ["", "health", "live"] if get => Route::Live,
        ["", "status"] if get => Route::Status,
        ["", "metrics"] if get => Route::Metrics,
        ["", "health"] | ["", "health", "live"] | ["", "status"] | ["", "metrics"] => {
            Route::Refuse(405, "use GET".into())
        }
        ["", "stations", id, "switch"] => {
            if method != "POST" {
                return Route::Refuse(405, "use POST".into());
            }
            let to = query
                .split('&')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == "to")
                .map(|(_, v)| v);
            match to {
                Some(to @ ("primary" | "secondary")) => Route::Switch {
                    id: id.to_string(),
                    to: to.to_string(),
                },
                _ => Route::Refuse(400, "say ?to=primary or ?to=secondary".into()),
            }
        }
        _ => Route::Refuse(
            404,
            "no such endpoint (GET /health, /health/live, /status, /metrics; POST /stations/<id>/switch?to=primary|secondary)".into(),
        ),
    }
}

/// Whether a `POST` with `authorization` (the header's value) may change anything
/// on a server bound to a loopback address (`loopback`) or not.
pub fn authorize(loopback: bool, auth: &Auth, authorization: Option<&str>) -> Result<(), String> {
    let presented = authorization.map(|h| h.trim().strip_prefix("Bearer ").unwrap_or(h).trim());
    let needed = !loopback || auth.require_token;
    match (&auth.token, presented) {
        (Some(t), Some(p)) if secrets::token_matches(p, t) => Ok(()),
        (Some(_), Some(_)) => Err("wrong token".into()),
        (None, _) if needed => Err(
            "no token is configured: control is refused on a non-loopback address (set [http] token or RELAY_HTTP_TOKEN)"
                .into(),
        ),
        (Some(_), None) if needed => Err("this needs Authorization: Bearer <token>".into()),
        _ => Ok(()),
    }
}

/// The running server; dropping it stops it.
pub struct HttpServer {
    pub addr: SocketAddr,
    server: Arc<tiny_http::Server>,
    threads: Vec<JoinHandle<()>>,
}

impl HttpServer {
    /// Binds `listen` and answers requests on its own threads, asking the main loop
    /// through `queries`.
    pub fn start(
        listen: SocketAddr,
        auth: SharedAuth,
        queries: UnboundedSender<Query>,
    ) -> Result<HttpServer, String> {
        let server =
            Arc::new(tiny_http::Server::http(listen).map_err(|e| format!("--http {listen}: {e}"))?);
        let addr = server
            .server_addr()
            .to_ip()
            .ok_or_else(|| format!("--http {listen}: not an IP address"))?;
        let loopback = addr.ip().is_loopback();
        if !loopback && auth.read().map(|a| a.token.is_none()).unwrap_or(true) {
            eprintln!(
                "relay: http on {addr} without a token: POST /stations/<id>/switch is refused (set [http] token or {})",
                secrets::TOKEN_ENV
            );
        }
        let mut threads = Vec::new();
        for i in 0..WORKERS {
            let (server, auth, queries) = (server.clone(), auth.clone(), queries.clone());
            let t = std::thread::Builder::new()
                .name(format!("relay-http-{i}"))
                .spawn(move || {
                    for req in server.incoming_requests() {
                        answer(req, loopback, &auth, &queries);
                    }
                })
                .map_err(|e| e.to_string())?;
            threads.push(t);
        }
        eprintln!("relay: http on http://{addr}/ (health, status, metrics)");
        Ok(HttpServer {
            addr,
            server,
            threads,
        })
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        for _ in &self.threads {
            self.server.unblock();
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn header(req: &tiny_http::Request, name: &'static str) -> Option<String> {
    req.headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str().to_string())
}

fn ask<T>(
    queries: &UnboundedSender<Query>,
    make: impl FnOnce(SyncSender<T>) -> Query,
) -> Option<T> {
    let (tx, rx) = sync_channel(1);
    queries.unbounded_send(make(tx)).ok()?;
    rx.recv_timeout(ANSWER_TIMEOUT).ok()
}

fn answer(
    req: tiny_http::Request,
    loopback: bool,
    auth: &SharedAuth,
    queries: &UnboundedSender<Query>,
) {
    let method = req.method().as_str().to_string();
    let (status, content_type, body) = match route(&method, req.url()) {
        Route::Refuse(code, text) => (code, "text/plain; charset=utf-8", format!("{text}\n")),
        Route::Live => match ask(queries, Query::Report) {
            Some(_) => (
                200,
                "text/plain; charset=utf-8",
                "ok: main loop answering\n".into(),
            ),
            None => no_answer(),
        },
        Route::Health => match ask(queries, Query::Report) {
            Some(r) => {
                let (ok, text) = r.health();
                (
                    if ok { 200 } else { 503 },
                    "text/plain; charset=utf-8",
                    text,
                )
            }
            None => no_answer(),
        },
        Route::Status => match ask(queries, Query::Report) {
            Some(r) => match serde_json::to_string_pretty(&r) {
                Ok(j) => (200, "application/json", j + "\n"),
                Err(e) => (500, "text/plain; charset=utf-8", format!("{e}\n")),
            },
            None => no_answer(),
        },
        Route::Metrics => match ask(queries, Query::Report) {
            Some(r) => (200, metrics::CONTENT_TYPE, metrics::render(&r)),
            None => no_answer(),
        },
        Route::Switch { id, to } => {
            let current = auth.read().map(|a| a.clone()).unwrap_or_default();
            match authorize(loopback, &current, header(&req, "Authorization").as_deref()) {
                Err(why) => (401, "text/plain; charset=utf-8", format!("{why}\n")),
                Ok(()) => match ask(queries, |reply| Query::Switch { id, to, reply }) {
                    Some(Ok(done)) => (
                        200,
                        "application/json",
                        serde_json::to_string(&done).unwrap_or_default() + "\n",
                    ),
                    Some(Err((code, text))) => {
                        (code, "text/plain; charset=utf-8", format!("{text}\n"))
                    }
                    None => no_answer(),
                },
            }
        }
    };
    let mut resp = tiny_http::Response::from_string(body).with_status_code(status);
    if let Ok(h) = tiny_http::Header::from_bytes(&b"Content-Type"[..], content_type.as_bytes()) {
        resp.add_header(h);
    }
    if status == 401 {
        if let Ok(h) = tiny_http::Header::from_bytes(&b"WWW-Authenticate"[..], &b"Bearer"[..]) {
            resp.add_header(h);
        }
    }
    let _ = req.respond(resp);
}

fn no_answer() -> (u16, &'static str, String) {
    (
        503,
        "text/plain; charset=utf-8",
        format!(
            "the main loop did not answer within {} s\n",
            ANSWER_TIMEOUT.as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route("GET", "/health"), Route::Health);
        assert_eq!(route("GET", "/health/live"), Route::Live);
        assert_eq!(route("GET", "/status/"), Route::Status);
        assert_eq!(route("HEAD", "/metrics"), Route::Metrics);
        assert_eq!(
            route("POST", "/stations/jazz/switch?to=secondary"),
            Route::Switch {
                id: "jazz".into(),
                to: "secondary".into()
            }
        );
        assert!(matches!(
            route("GET", "/stations/jazz/switch?to=primary"),
            Route::Refuse(405, _)
        ));
        assert!(matches!(
            route("POST", "/stations/jazz/switch?to=none"),
            Route::Refuse(400, _)
        ));
        assert!(matches!(
            route("POST", "/stations/jazz/switch"),
            Route::Refuse(400, _)
        ));
        assert!(matches!(route("POST", "/status"), Route::Refuse(405, _)));
        assert!(matches!(route("GET", "/"), Route::Refuse(404, _)));
        assert!(matches!(
            route("GET", "/stations/a/b/switch"),
            Route::Refuse(404, _)
        ));
    }

    #[test]
    fn post_needs_the_token_off_loopback_or_when_required() {
        let none = Auth::default();
        let tok = Auth {
            token: Some("s3cret-token".into()),
            require_token: false,
        };
        let strict = Auth {
            token: Some("s3cret-token".into()),
            require_token: true,
        };
        let bearer = Some("Bearer s3cret-token");
        // Loopback without a token configured: open.
        assert!(authorize(true, &none, None).is_ok());
        // Non-loopback without a token configured: closed, whatever is presented.
        assert!(authorize(false, &none, None).is_err());
        assert!(authorize(false, &none, bearer).is_err());
        // Non-loopback with a token: only the right one.
        assert!(authorize(false, &tok, bearer).is_ok());
        assert!(authorize(false, &tok, None).is_err());
        assert!(authorize(false, &tok, Some("Bearer s3cret-tokem")).is_err());
        assert!(authorize(false, &tok, Some("s3cret-token")).is_ok());
        // Loopback with a token: not needed, but a wrong one is refused.
        assert!(authorize(true, &tok, None).is_ok());
        assert!(authorize(true, &tok, Some("Bearer nope")).is_err());
        // require-token: needed on loopback too.
        assert!(authorize(true, &strict, None).is_err());
        assert!(authorize(true, &strict, bearer).is_ok());
    }
}
