// SPDX-License-Identifier: MPL-2.0
//! Plain URL handling for the relay and the listener: `http://` and `icecast://`
//! URLs with optional `user:password@`, and HTTP basic-auth encoding.

/// A parsed `scheme://[user[:password]@]host[:port]/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    pub user: Option<String>,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    pub path: String,
}

impl Url {
    /// Parses an `http://` or `icecast://` URL (default port 80 / 8000).
    pub fn parse(s: &str) -> Result<Url, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| format!("'{s}': expected scheme://host[:port]/path"))?;
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "http" => 80,
            "icecast" => 8000,
            _ => return Err(format!("'{s}': only http:// and icecast:// are supported")),
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, "/"),
        };
        let (userinfo, hostport) = match authority.rfind('@') {
            Some(i) => (Some(&authority[..i]), &authority[i + 1..]),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((a, b)) => (Some(percent_decode(a)), Some(percent_decode(b))),
                None => (Some(percent_decode(u)), None),
            },
            None => (None, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) => (
                h.to_string(),
                p.parse::<u16>()
                    .map_err(|_| format!("'{s}': bad port '{p}'"))?,
            ),
            None => (hostport.to_string(), default_port),
        };
        if host.is_empty() {
            return Err(format!("'{s}': missing host"));
        }
        Ok(Url {
            scheme,
            user,
            password,
            host,
            port,
            path: path.to_string(),
        })
    }

    /// The same resource as a plain `http://host:port/path` URL without credentials
    /// (what `souphttpsrc` should be given).
    pub fn http_without_credentials(&self) -> String {
        format!("http://{}:{}{}", self.host, self.port, self.path)
    }

    /// `Authorization` header value, if the URL carries credentials.
    pub fn basic_auth(&self) -> Option<String> {
        let user = self.user.as_deref()?;
        let pass = self.password.as_deref().unwrap_or("");
        Some(format!(
            "Basic {}",
            base64(format!("{user}:{pass}").as_bytes())
        ))
    }
}

/// `%XX` escapes decoded (as in the userinfo of a URL); a `%` not followed by two
/// hex digits stays as it is.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' && i + 2 < b.len() {
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding (RFC 4648).
pub fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        out.push(ALPHABET[(n >> 18) as usize & 63] as char);
        out.push(ALPHABET[(n >> 12) as usize & 63] as char);
        out.push(if chunk.len() > 1 {
            ALPHABET[(n >> 6) as usize & 63] as char
        } else {
            '='
        });
        out.push(if chunk.len() > 2 {
            ALPHABET[n as usize & 63] as char
        } else {
            '='
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_icecast_url_with_credentials() {
        let u = Url::parse("icecast://source:hack:me@127.0.0.1:8123/out.aac").unwrap();
        assert_eq!(u.user.as_deref(), Some("source"));
        assert_eq!(u.password.as_deref(), Some("hack:me"));
        assert_eq!(u.host, "127.0.0.1");
        assert_eq!(u.port, 8123);
        assert_eq!(u.path, "/out.aac");
        assert_eq!(
            u.http_without_credentials(),
            "http://127.0.0.1:8123/out.aac"
        );
    }

    #[test]
    fn userinfo_is_percent_decoded() {
        let u = Url::parse("icecast://source:p%2Fw%40%3A%@h:1/m").unwrap();
        assert_eq!(u.password.as_deref(), Some("p/w@:%"));
        assert_eq!(percent_decode("a%4"), "a%4");
        assert_eq!(percent_decode("%41%zz"), "A%zz");
    }

    #[test]
    fn default_ports_and_errors() {
        assert_eq!(Url::parse("http://h/x").unwrap().port, 80);
        assert_eq!(Url::parse("icecast://h/x").unwrap().port, 8000);
        assert!(Url::parse("rtmp://h/x").is_err());
        assert!(Url::parse("http://h:99999/x").is_err());
        assert!(Url::parse("nothing").is_err());
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(i.as_bytes()), o);
        }
        let u = Url::parse("http://source:hackme@h:1/m").unwrap();
        assert_eq!(u.basic_auth().unwrap(), "Basic c291cmNlOmhhY2ttZQ==");
    }
}
