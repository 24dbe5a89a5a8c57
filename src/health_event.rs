// SPDX-License-Identifier: MPL-2.0
//! The health verdict event sent by `healthprobe` (or any application element) to a
//! downstream `failoverswitch`.
//!
//! It is a custom *out-of-band* downstream event (`GST_EVENT_CUSTOM_DOWNSTREAM_OOB`),
//! so it overtakes queued data and arrives even when the stream has stalled. Its
//! structure is named `failover-health` and carries:
//! - `healthy` (`gboolean`): the verdict,
//! - `reason` (string): `ok`, `stall`, `late`, `silence`, `low-bitrate`, `discont`, or any
//!   application-defined word.

/// Structure name of the health event.
pub const EVENT_NAME: &str = "failover-health";

/// A decoded health verdict.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthVerdict {
    pub healthy: bool,
    pub reason: String,
}

/// Builds the out-of-band downstream event carrying `healthy` and `reason`.
pub fn new_event(healthy: bool, reason: &str) -> gst::Event {
    let s = gst::Structure::builder(EVENT_NAME)
        .field("healthy", healthy)
        .field("reason", reason)
        .build();
    gst::event::CustomDownstreamOob::new(s)
}

/// Reads a health verdict out of an event, if it is one.
pub fn parse_event(event: &gst::EventRef) -> Option<HealthVerdict> {
    if event.type_() != gst::EventType::CustomDownstreamOob {
        return None;
    }
    let s = event.structure()?;
    if s.name() != EVENT_NAME {
        return None;
    }
    let healthy = s.get::<bool>("healthy").ok()?;
    let reason = s
        .get::<Option<String>>("reason")
        .ok()
        .flatten()
        .unwrap_or_else(|| if healthy { "ok" } else { "health" }.to_string());
    Some(HealthVerdict { healthy, reason })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_round_trip() {
        gst::init().unwrap();
        let ev = new_event(false, "silence");
        assert_eq!(ev.type_(), gst::EventType::CustomDownstreamOob);
        assert_eq!(
            parse_event(&ev),
            Some(HealthVerdict {
                healthy: false,
                reason: "silence".into()
            })
        );
        let other = gst::event::CustomDownstreamOob::new(gst::Structure::new_empty("x"));
        assert_eq!(parse_event(&other), None);
    }
}
