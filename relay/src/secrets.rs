// SPDX-License-Identifier: MPL-2.0
//! Credentials: where they come from and how they are kept out of what the relay
//! shows. Plain Rust, unit-tested.
//!
//! Icecast source passwords, RTMP stream keys and the HTTP token never have to be on
//! a command line (visible to every user in `ps`): they come from the stations file
//! (literally, or as `${NAME}` references to environment variables) or from the
//! environment ([`SOURCE_PASSWORD_ENV`], [`TOKEN_ENV`]). Whatever shows a URL (logs,
//! `/status`) shows it through [`Redactor::url`]: the password of `user:password@`
//! and the stream key of an `rtmp://` URL become `***`, and so does every value that
//! came from the environment or a `source-password`/`token` key.

/// The Icecast source password for outputs whose URL carries none.
pub const SOURCE_PASSWORD_ENV: &str = "RELAY_SOURCE_PASSWORD";
/// The token of `POST /stations/<id>/switch` when the stations file sets none.
pub const TOKEN_ENV: &str = "RELAY_HTTP_TOKEN";
/// What a hidden value is shown as.
pub const MASK: &str = "***";

/// Expands `${NAME}` references to environment variables in `s` (`$$` is a `$`).
/// `lookup` reads the environment (a parameter so tests need not set variables).
/// Returns the text and the values inserted (they are secrets: see [`Redactor`]).
pub fn expand_env(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(String, Vec<String>), String> {
    let mut out = String::with_capacity(s.len());
    let mut inserted = Vec::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            out.push('$');
            rest = r;
        } else if let Some(r) = after.strip_prefix('{') {
            let end = r
                .find('}')
                .ok_or_else(|| format!("unterminated '${{' in '{s}'"))?;
            let name = &r[..end];
            let valid =
                !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if !valid {
                return Err(format!("bad environment variable name '{name}'"));
            }
            let v =
                lookup(name).ok_or_else(|| format!("environment variable {name} is not set"))?;
            out.push_str(&v);
            if !v.is_empty() {
                inserted.push(v);
            }
            rest = &r[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok((out, inserted))
}

/// The process environment, for [`expand_env`].
pub fn env_lookup(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

/// Percent-encodes what may not appear literally in the userinfo of a URL.
pub fn encode_userinfo(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `icecast://host:port/mount` with `user:password@` added, unless the URL already
/// has a password (then it is returned as it is). Other URLs are left alone.
pub fn with_source_credentials(url: &str, user: &str, password: &str) -> String {
    let Some(rest) = url.strip_prefix("icecast://") else {
        return url.to_string();
    };
    let authority = rest.split('/').next().unwrap_or("");
    if let Some((userinfo, _)) = authority.rsplit_once('@') {
        if userinfo.contains(':') {
            return url.to_string();
        }
        let hostpart = &rest[userinfo.len() + 1..];
        return format!(
            "icecast://{userinfo}:{}@{hostpart}",
            encode_userinfo(password)
        );
    }
    format!(
        "icecast://{}:{}@{rest}",
        encode_userinfo(user),
        encode_userinfo(password)
    )
}

/// Hides secrets in text shown to people and tools.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Redactor {
    /// Values hidden wherever they appear (from the environment, `source-password`,
    /// `token`). Values shorter than 3 characters are not searched for (they would
    /// mask ordinary text), but still hidden where the URL structure says so.
    secrets: Vec<String>,
}

impl Redactor {
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Redactor {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 3).collect();
        // Longest first, so a secret containing another is hidden whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        secrets.dedup();
        Redactor { secrets }
    }

    /// `text` with every known secret replaced by [`MASK`].
    pub fn text(&self, text: &str) -> String {
        let mut t = text.to_string();
        for s in &self.secrets {
            if t.contains(s.as_str()) {
                t = t.replace(s.as_str(), MASK);
            }
        }
        t
    }

    /// A URL as it may be shown: no password, no RTMP stream key, no secret.
    pub fn url(&self, url: &str) -> String {
        self.text(&redact_url(url))
    }
}

/// The password of `scheme://user:password@host/...` and the stream key (last path
/// segment and query) of `rtmp://`/`rtmps://` URLs replaced by [`MASK`].
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let auth_end = rest.find('/').unwrap_or(rest.len());
    let (authority, path) = rest.split_at(auth_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:{MASK}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_string(),
    };
    let scheme_l = scheme.to_ascii_lowercase();
    let path = if scheme_l == "rtmp" || scheme_l == "rtmps" {
        // rtmp://host/app/KEY: the key is the last segment (with any query).
        match path.rfind('/') {
            Some(i) if i > 0 && i + 1 < path.len() => format!("{}/{MASK}", &path[..i]),
            _ => path.to_string(),
        }
    } else {
        path.to_string()
    };
    format!("{scheme}://{authority}{path}")
}

/// Compares a presented token with the configured one in constant time (for equal
/// lengths), so response times do not reveal how much of it was right.
pub fn token_matches(presented: &str, expected: &str) -> bool {
    let (a, b) = (presented.as_bytes(), expected.as_bytes());
    if a.len() != b.len() || b.is_empty() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "PW" => Some("s3cr/t@x".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn env_references_expand_and_are_remembered() {
        let (t, ins) = expand_env("a${PW}b$$c$d", &env).unwrap();
        assert_eq!(t, "as3cr/t@xb$c$d");
        assert_eq!(ins, ["s3cr/t@x"]);
        assert_eq!(expand_env("x${EMPTY}", &env).unwrap(), ("x".into(), vec![]));
        assert!(
            expand_env("${NOPE}", &env)
                .unwrap_err()
                .contains("NOPE is not set")
        );
        assert!(expand_env("${PW", &env).is_err());
        assert!(expand_env("${A-B}", &env).is_err());
    }

    #[test]
    fn source_credentials_are_added_encoded_unless_present() {
        let u = with_source_credentials("icecast://127.0.0.1:8000/a.aac", "source", "p/w@:");
        assert_eq!(u, "icecast://source:p%2Fw%40%3A@127.0.0.1:8000/a.aac");
        let parsed = crate::url::Url::parse(&u).unwrap();
        assert_eq!(parsed.password.as_deref(), Some("p/w@:"));
        assert_eq!(parsed.host, "127.0.0.1");
        assert_eq!(
            with_source_credentials("icecast://me@h/a", "source", "pw"),
            "icecast://me:pw@h/a"
        );
        assert_eq!(
            with_source_credentials("icecast://me:old@h/a", "source", "pw"),
            "icecast://me:old@h/a"
        );
        assert_eq!(with_source_credentials("-", "source", "pw"), "-");
    }

    #[test]
    fn urls_are_shown_without_passwords_keys_or_secrets() {
        assert_eq!(
            redact_url("icecast://source:hackme@127.0.0.1:8000/out.aac"),
            "icecast://source:***@127.0.0.1:8000/out.aac"
        );
        assert_eq!(
            redact_url("rtmp://ingest.example/live/abcd-1234?x=1"),
            "rtmp://ingest.example/live/***"
        );
        assert_eq!(redact_url("http://h:1/a.aac"), "http://h:1/a.aac");
        assert_eq!(redact_url("-"), "-");
        let r = Redactor::new(["tok3n".to_string(), "ab".to_string()]);
        assert_eq!(
            r.url("http://h/x?key=tok3n&ab=1"),
            "http://h/x?key=***&ab=1"
        );
        assert_eq!(r.text("error: tok3ntok3n"), "error: ******");
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(token_matches("abc123", "abc123"));
        assert!(!token_matches("abc12", "abc123"));
        assert!(!token_matches("abc124", "abc123"));
        assert!(!token_matches("", ""));
    }
}
