// SPDX-License-Identifier: MPL-2.0
//! `http://` inputs (Icecast mounts): `souphttpsrc ! typefind ! aacparse`.

/// The launch description of an HTTP input named `name` (elements `<name>_src`,
/// `<name>_typefind`, `<name>_parse`). `url` carries no credentials.
///
/// `iradio-mode=false`: no ICY metadata (the stream would be `application/x-icy`);
/// `retries=0`: the relay reconnects itself (see `branch`), with a fresh live edge;
/// `timeout=5`: a stalled connection is closed after 5 s of silence.
pub(crate) fn source(name: &str, url: &str) -> String {
    format!(
        "souphttpsrc name={name}_src location=\"{url}\" is-live=true iradio-mode=false \
         retries=0 timeout=5 user-agent=gst-failover-relay ! typefind name={name}_typefind \
         ! aacparse name={name}_parse"
    )
}

/// The elements of an HTTP input that a reconnection restarts, upstream first.
pub(crate) const RESTARTED: [&str; 3] = ["src", "typefind", "parse"];
