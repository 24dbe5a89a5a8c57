// SPDX-License-Identifier: MPL-2.0
//! A station's inputs. Each input is a branch of the station's pipeline, from its
//! source to its pad on `failoverswitch`; every element of it is named
//! `<input>_<role>` (`primary_src`, `secondary_parse`, ...), which is how bus messages
//! are mapped back to their input.
//!
//! - [`InputKind`]: what an input URL designates and the launch description of its
//!   source part, which ends in an element named `<input>_parse` that delivers parsed
//!   encoded frames. Only `http://` today ([`http`]); another kind (RTMP) is another
//!   variant and module.
//! - [`branch`]: the control block of one running branch, its pad probes (live edge,
//!   end of stream, data back) and its restart (reconnection).
//! - [`live_edge`]: where a (re)connected input's live data starts (plain Rust).

pub(crate) mod branch;
pub(crate) mod http;
pub(crate) mod live_edge;

use crate::url::Url;

/// The inputs of a station, in the order of `failoverswitch`'s pads.
pub const INPUTS: [&str; 2] = ["primary", "secondary"];

/// What an input URL designates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum InputKind {
    /// An HTTP stream (`http://`, or an `icecast://` mount read over HTTP).
    Http(Url),
}

impl InputKind {
    pub(crate) fn parse(s: &str) -> Result<InputKind, String> {
        let url = Url::parse(s)?;
        Ok(InputKind::Http(url))
    }

    /// Launch description of the source part of input `name`, up to and including
    /// the element `<name>_parse`.
    pub(crate) fn source(&self, name: &str) -> String {
        match self {
            InputKind::Http(url) => http::source(name, &url.http_without_credentials()),
        }
    }

    /// Roles of the source part's elements that a reconnection restarts, upstream
    /// first.
    pub(crate) fn restarted_roles(&self) -> &'static [&'static str] {
        match self {
            InputKind::Http(_) => &http::RESTARTED,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_inputs_are_read_without_credentials() {
        let k = InputKind::parse("http://u:secret@127.0.0.1:8000/station.aac").unwrap();
        let d = k.source("primary");
        assert!(
            d.contains("location=\"http://127.0.0.1:8000/station.aac\""),
            "{d}"
        );
        assert!(!d.contains("secret"), "{d}");
        assert!(d.ends_with("aacparse name=primary_parse"), "{d}");
        assert!(InputKind::parse("ftp://h/x").is_err());
    }
}
