// SPDX-License-Identifier: MPL-2.0
//! The stations file (`--config stations.toml`). Plain Rust (the `toml` crate's
//! spanned document, so every refusal names its line and column), unit-tested.
//!
//! ```toml
//! # Top level: defaults for every station (any station option, or a key below).
//! icecast = "http://127.0.0.1:8000"          # inputs /<id>.aac, /<id>_fallback.aac
//! source-password = "${ICECAST_SOURCE_PASSWORD}"   # output /<id>_relay.aac
//! setup = "passthrough"
//!
//! [http]
//! listen = "127.0.0.1:9000"
//! token = "${RELAY_HTTP_TOKEN}"
//!
//! [[station]]
//! id = "jazz"
//!
//! [[station]]
//! id = "news"
//! setup = "decode"
//! timeout = "500ms"
//! ```
//!
//! Station options are those of the command line ([`config::OPTIONS`], same names;
//! `restore_delay` is read as `restore-delay`). Besides them, at the top level or in
//! a station: [`CONVENTION_KEYS`]. Strings may refer to environment variables as
//! `${NAME}` (`$$` is a `$`); what comes from the environment is a secret
//! (`secrets`).

use crate::config::{self, StationConfig};
use crate::secrets::{self, Redactor};
use crate::url::Url;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::Path;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// Keys of a station (or the top level) besides the station options:
/// - `icecast`: `http://host:port` of the Icecast the inputs are read from (and the
///   output is sent to, unless `output-icecast` says otherwise);
/// - `primary-mount`, `secondary-mount`, `output-mount`: the mounts used with it,
///   `{id}` standing for the station's id (defaults [`PRIMARY_MOUNT`],
///   [`SECONDARY_MOUNT`], [`OUTPUT_MOUNT`]);
/// - `source-user`, `source-password`: credentials of an `icecast://` output whose
///   URL has no password (default user `source`; default password from
///   `RELAY_SOURCE_PASSWORD`);
/// - `events`, `timeline`: the station's log files (`{id}` as above).
///
/// An explicit `primary`, `secondary` or `output` wins over the convention.
pub const CONVENTION_KEYS: [&str; 9] = [
    "icecast",
    "output-icecast",
    "primary-mount",
    "secondary-mount",
    "output-mount",
    "source-user",
    "source-password",
    "events",
    "timeline",
];

pub const PRIMARY_MOUNT: &str = "/{id}.aac";
pub const SECONDARY_MOUNT: &str = "/{id}_fallback.aac";
pub const OUTPUT_MOUNT: &str = "/{id}_relay.aac";

/// Keys of the `[http]` table.
const HTTP_KEYS: [&str; 3] = ["listen", "token", "require-token"];

/// One station of the file, with its log files.
#[derive(Debug, Clone, PartialEq)]
pub struct StationSpec {
    pub config: StationConfig,
    pub events: Option<String>,
    pub timeline: Option<String>,
}

/// The `[http]` table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpSettings {
    pub listen: Option<SocketAddr>,
    pub token: Option<String>,
    /// The token is needed for `POST` even on a loopback address.
    pub require_token: bool,
}

/// A stations file, checked.
#[derive(Debug, Clone, PartialEq)]
pub struct StationsFile {
    /// In the file's order; ids are unique.
    pub stations: Vec<StationSpec>,
    pub http: HttpSettings,
    /// Hides the secrets the file brought in.
    pub redactor: Redactor,
}

/// Reads and checks `path`. The error lists every problem, one per line, as
/// `path:line:column: what is wrong`.
pub fn read(path: &Path) -> Result<StationsFile, String> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{name}: {e}"))?;
    parse(&text, &name, &secrets::env_lookup)
}

/// Parses and checks the text of a stations file called `name` (for messages);
/// `env` reads environment variables.
pub fn parse(
    text: &str,
    name: &str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<StationsFile, String> {
    let doc = DeTable::parse(text).map_err(|e| {
        let at = e.span().map_or(0, |s| s.start);
        let (line, col) = line_col(text, at);
        format!("{name}:{line}:{col}: {}", e.message().trim())
    })?;
    let mut cx = Checker {
        env,
        errors: Vec::new(),
        secrets: Vec::new(),
    };
    let file = cx.file(doc.get_ref(), &env_default(env));
    if cx.errors.is_empty() {
        let mut file = file;
        file.redactor = Redactor::new(cx.secrets);
        return Ok(file);
    }
    cx.errors.sort_by_key(|(at, _)| *at);
    // A message may quote a value: one that came from the environment (a secret
    // written under the wrong key) is hidden.
    let redactor = Redactor::new(cx.secrets.clone());
    let lines: Vec<String> = cx
        .errors
        .iter()
        .map(|(at, msg)| {
            let (line, col) = line_col(text, *at);
            format!("{name}:{line}:{col}: {}", redactor.text(msg))
        })
        .collect();
    Err(lines.join("\n"))
}

/// Defaults taken from the environment (the source password).
fn env_default(env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    env(secrets::SOURCE_PASSWORD_ENV).filter(|p| !p.is_empty())
}

/// 1-based line and column (in characters) of byte offset `at`.
fn line_col(text: &str, at: usize) -> (usize, usize) {
    let at = at.min(text.len());
    let before = text.get(..at).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// A station's settings as text, with where each was written.
type Settings = BTreeMap<String, (String, Range<usize>)>;

struct Checker<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    /// (byte offset, message)
    errors: Vec<(usize, String)>,
    secrets: Vec<String>,
}

impl Checker<'_> {
    fn err(&mut self, span: &Range<usize>, msg: String) {
        self.errors.push((span.start, msg));
    }

    /// A scalar as text: strings with `${NAME}` expanded, numbers and booleans as
    /// written.
    fn scalar(&mut self, key: &str, v: &Spanned<DeValue>) -> Option<String> {
        let span = v.span();
        match v.get_ref() {
            DeValue::String(s) => match secrets::expand_env(s, self.env) {
                Ok((t, inserted)) => {
                    self.secrets.extend(inserted);
                    Some(t)
                }
                Err(e) => {
                    self.err(&span, format!("{key}: {e}"));
                    None
                }
            },
            DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
                Ok(n) => Some(n.to_string()),
                Err(_) => {
                    self.err(&span, format!("{key}: integer out of range"));
                    None
                }
            },
            DeValue::Float(f) => Some(f.as_str().to_string()),
            DeValue::Boolean(b) => Some(b.to_string()),
            _ => {
                self.err(
                    &span,
                    format!("{key}: expected a string, a number or a boolean"),
                );
                None
            }
        }
    }

    /// The settings of a table (the top level or a station), keys normalised
    /// (`_` -> `-`) and checked; `skip` are keys handled by the caller.
    fn settings(&mut self, table: &DeTable, skip: &[&str], top: bool) -> Settings {
        let mut out = Settings::new();
        for (k, v) in table.iter() {
            let key = k.get_ref().replace('_', "-");
            if skip.contains(&key.as_str()) {
                continue;
            }
            let known =
                config::OPTIONS.contains(&key.as_str()) || CONVENTION_KEYS.contains(&key.as_str());
            if !known {
                self.err(
                    &k.span(),
                    format!(
                        "unknown key '{}' (station options: {}; and {})",
                        k.get_ref(),
                        config::OPTIONS.join(", "),
                        CONVENTION_KEYS.join(", ")
                    ),
                );
                continue;
            }
            if top && matches!(key.as_str(), "id" | "primary" | "secondary" | "output") {
                self.err(
                    &k.span(),
                    format!("'{key}' belongs in a [[station]] table, not at the top level"),
                );
                continue;
            }
            if let Some(text) = self.scalar(&key, v) {
                out.insert(key, (text, v.span()));
            }
        }
        out
    }

    fn file(&mut self, doc: &DeTable, env_password: &Option<String>) -> StationsFile {
        let top = self.settings(doc, &["http", "station"], true);
        let http = match doc.get("http") {
            Some(v) => self.http(v),
            None => HttpSettings::default(),
        };
        let mut stations = Vec::new();
        match doc.get("station").map(|v| (v.span(), v.get_ref())) {
            None => {}
            Some((_, DeValue::Array(arr))) => {
                for item in arr.iter() {
                    match item.get_ref() {
                        DeValue::Table(t) => {
                            if let Some(s) = self.station(&top, t, item.span(), env_password) {
                                stations.push((s, item.span()));
                            }
                        }
                        _ => self.err(
                            &item.span(),
                            "a station must be a table ([[station]])".into(),
                        ),
                    }
                }
            }
            Some((span, _)) => self.err(
                &span,
                "'station' must be an array of tables: write each one as [[station]]".into(),
            ),
        }
        self.unique(&stations);
        StationsFile {
            stations: stations.into_iter().map(|(s, _)| s).collect(),
            http,
            redactor: Redactor::default(),
        }
    }

    fn http(&mut self, v: &Spanned<DeValue>) -> HttpSettings {
        let mut h = HttpSettings::default();
        let DeValue::Table(t) = v.get_ref() else {
            self.err(&v.span(), "[http] must be a table".into());
            return h;
        };
        let mut token_span = v.span();
        for (k, v) in t.iter() {
            let key = k.get_ref().replace('_', "-");
            if !HTTP_KEYS.contains(&key.as_str()) {
                self.err(
                    &k.span(),
                    format!(
                        "unknown key '{}' in [http] ({})",
                        k.get_ref(),
                        HTTP_KEYS.join(", ")
                    ),
                );
                continue;
            }
            let Some(text) = self.scalar(&key, v) else {
                continue;
            };
            match key.as_str() {
                "listen" => match text.parse::<SocketAddr>() {
                    Ok(a) => h.listen = Some(a),
                    Err(_) => self.err(
                        &v.span(),
                        format!("listen: '{text}' is not ADDRESS:PORT (e.g. 127.0.0.1:9000)"),
                    ),
                },
                "token" => {
                    if text.len() < 8 {
                        self.err(&v.span(), "token: at least 8 characters".into());
                    } else {
                        self.secrets.push(text.clone());
                        h.token = Some(text);
                        token_span = v.span();
                    }
                }
                _ => match text.as_str() {
                    "true" => h.require_token = true,
                    "false" => h.require_token = false,
                    _ => self.err(&v.span(), "require-token: true or false".into()),
                },
            }
        }
        let env_token = (self.env)(secrets::TOKEN_ENV).filter(|t| !t.is_empty());
        if h.token.is_none() {
            if let Some(t) = env_token {
                self.secrets.push(t.clone());
                h.token = Some(t);
            }
        }
        if h.require_token && h.token.is_none() {
            self.err(
                &token_span,
                format!(
                    "require-token = true needs a token (token = \"${{VAR}}\" or {})",
                    secrets::TOKEN_ENV
                ),
            );
        }
        h
    }

    fn station(
        &mut self,
        top: &Settings,
        table: &DeTable,
        span: Range<usize>,
        env_password: &Option<String>,
    ) -> Option<StationSpec> {
        let own = self.settings(table, &[], false);
        let Some((id, id_span)) = own.get("id").cloned() else {
            self.err(&span, "a [[station]] needs an id (id = \"name\")".into());
            return None;
        };
        if let Err(e) = config::check_id(&id) {
            self.err(&id_span, format!("id: {e}"));
            return None;
        }
        let before = self.errors.len();
        let get = |k: &str| own.get(k).or_else(|| top.get(k)).cloned();
        let mut c = StationConfig::new("", "", "");
        for key in config::OPTIONS {
            if let Some((v, vspan)) = get(key) {
                if let Err(e) = c.set(key, &v) {
                    self.err(&vspan, format!("station '{id}': {key}: {e}"));
                }
            }
        }
        let template = |k: &str, default: &str| -> (String, Option<Range<usize>>) {
            match get(k) {
                Some((v, s)) => (v.replace("{id}", &id), Some(s)),
                None => (default.replace("{id}", &id), None),
            }
        };
        // The Icecast convention for what is not given explicitly.
        let base = |me: &mut Self, key: &str| -> Option<(String, u16)> {
            let (v, s) = get(key)?;
            match Url::parse(&v) {
                Ok(u) if u.path == "/" || u.path.is_empty() => Some((u.host, u.port)),
                Ok(_) => {
                    me.err(
                        &s,
                        format!(
                            "station '{id}': {key}: '{v}' must be http://host:port, without a path"
                        ),
                    );
                    None
                }
                Err(e) => {
                    me.err(&s, format!("station '{id}': {key}: {e}"));
                    None
                }
            }
        };
        let icecast = base(self, "icecast");
        let output_icecast = base(self, "output-icecast").or_else(|| icecast.clone());
        for (field, key, default) in [
            (&mut c.primary, "primary-mount", PRIMARY_MOUNT),
            (&mut c.secondary, "secondary-mount", SECONDARY_MOUNT),
        ] {
            if field.is_empty() {
                let (mount, mspan) = template(key, default);
                if let Some((h, p)) = &icecast {
                    *field = format!("http://{h}:{p}{mount}");
                }
                if !mount.starts_with('/') {
                    self.err(
                        &mspan.unwrap_or(span.clone()),
                        format!("station '{id}': {key}: a mount starts with '/'"),
                    );
                }
            }
        }
        if c.output.is_empty() {
            let (mount, mspan) = template("output-mount", OUTPUT_MOUNT);
            if let Some((h, p)) = &output_icecast {
                c.output = format!("icecast://{h}:{p}{mount}");
            }
            if !mount.starts_with('/') {
                self.err(
                    &mspan.unwrap_or(span.clone()),
                    format!("station '{id}': output-mount: a mount starts with '/'"),
                );
            }
        }
        for (name, v) in [
            ("primary", &c.primary),
            ("secondary", &c.secondary),
            ("output", &c.output),
        ] {
            if v.is_empty() {
                self.err(
                    &id_span,
                    format!("station '{id}': no {name}: set {name} = \"URL\", or icecast = \"http://host:port\" (here or at the top level)"),
                );
            }
        }
        if self.errors.len() > before {
            return None;
        }
        // Output credentials.
        let out_span = get("output").map_or(id_span.clone(), |(_, s)| s);
        if c.output.starts_with("icecast://")
            && Url::parse(&c.output).is_ok_and(|u| u.password.is_none())
        {
            let password = match get("source-password") {
                Some((p, _)) => Some(p),
                None => env_password.clone(),
            };
            match password {
                Some(p) => {
                    let user = get("source-user").map_or("source".to_string(), |(u, _)| u);
                    self.secrets.push(p.clone());
                    c.output = secrets::with_source_credentials(&c.output, &user, &p);
                }
                None => self.err(
                    &out_span,
                    format!(
                        "station '{id}': no source password for its output: set source-password = \"${{VAR}}\" or {}",
                        secrets::SOURCE_PASSWORD_ENV
                    ),
                ),
            }
        } else if let Some((p, _)) = get("source-password") {
            self.secrets.push(p);
        }
        if let Ok(u) = Url::parse(&c.output) {
            if let Some(p) = u.password.filter(|p| !p.is_empty()) {
                self.secrets.push(p);
            }
        }
        if self.errors.len() > before {
            return None;
        }
        // The URLs as the station will use them.
        for (name, v) in [
            ("primary", c.primary.clone()),
            ("secondary", c.secondary.clone()),
        ] {
            if let Err(e) = crate::input::InputKind::parse(&v) {
                let s = get(name).map_or(id_span.clone(), |(_, s)| s);
                self.err(&s, format!("station '{id}': {name}: {e}"));
            }
        }
        if let Err(e) = crate::output::Target::parse(&c.output, "audio/aac") {
            let shown = Redactor::new(self.secrets.clone()).text(&e);
            self.err(&out_span, format!("station '{id}': output: {shown}"));
        }
        let events = get("events").map(|_| template("events", "").0);
        let timeline = get("timeline").map(|_| template("timeline", "").0);
        if self.errors.len() > before {
            return None;
        }
        Some(StationSpec {
            config: c,
            events,
            timeline,
        })
    }

    /// Ids, outputs and log files must not be shared by two stations.
    fn unique(&mut self, stations: &[(StationSpec, Range<usize>)]) {
        let mut seen: BTreeMap<(&str, String), &str> = BTreeMap::new();
        for (s, span) in stations {
            let id = s.config.id.as_str();
            let mut keys = vec![("id", id.to_string())];
            if s.config.output != "-" {
                let out = Url::parse(&s.config.output).map_or(s.config.output.clone(), |u| {
                    format!("{}:{}{}", u.host, u.port, u.path)
                });
                keys.push(("output", out));
            }
            keys.extend(s.events.iter().map(|e| ("events file", e.clone())));
            keys.extend(s.timeline.iter().map(|t| ("timeline file", t.clone())));
            for (what, value) in keys {
                let msg = if what == "id" {
                    format!("station id '{id}' is used twice")
                } else {
                    format!("station '{id}': its {what} '{value}' is also station '{{first}}''s")
                };
                if let Some(first) = seen.insert((what, value), id) {
                    self.err(span, msg.replace("{first}", first));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
