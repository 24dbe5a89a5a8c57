// SPDX-License-Identifier: MPL-2.0
//! The on-air event: `failoverswitch` tells each input's upstream whether its data is
//! the one going out.
//!
//! It is a custom *upstream* event (`GST_EVENT_CUSTOM_UPSTREAM`) whose structure is
//! named `failover-on-air` and carries `on-air` (`gboolean`). The switch sends it on
//! both sink pads whenever the active input changes (and once its inputs have
//! negotiated), so elements upstream can act on it: `loudnessmatch` moves a standby
//! input's gain to its target at once (nobody hears it) and limits the rate of change
//! only while on air. Elements that do not know it pass it on upstream.

/// Structure name of the on-air event.
pub const EVENT_NAME: &str = "failover-on-air";

/// Builds the upstream event saying whether this input is on air.
pub fn new_event(on_air: bool) -> gst::Event {
    let s = gst::Structure::builder(EVENT_NAME)
        .field("on-air", on_air)
        .build();
    gst::event::CustomUpstream::new(s)
}

/// Reads the on-air flag out of an event, if it is an on-air event.
pub fn parse_event(event: &gst::EventRef) -> Option<bool> {
    if event.type_() != gst::EventType::CustomUpstream {
        return None;
    }
    let s = event.structure()?;
    if s.name() != EVENT_NAME {
        return None;
    }
    s.get::<bool>("on-air").ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_round_trip() {
        gst::init().unwrap();
        for on_air in [true, false] {
            let ev = new_event(on_air);
            assert_eq!(ev.type_(), gst::EventType::CustomUpstream);
            assert_eq!(parse_event(&ev), Some(on_air));
        }
        let other = gst::event::CustomUpstream::new(gst::Structure::new_empty("x"));
        assert_eq!(parse_event(&other), None);
    }
}
