// SPDX-License-Identifier: MPL-2.0
//! The inputs' alignment as the station sees it: `failover-aligned` (posted by the
//! switch in the decode setup, by the relay's passthrough alignment in the other,
//! see `crate::align`) into the station's state, its events and its report.

use super::Station;
use crate::logs::epoch;
use crate::report::AlignmentReport;

impl Station {
    /// `failover-aligned`: how much later the secondary carries the programme.
    pub(super) fn on_aligned(&mut self, s: &gst::StructureRef) {
        let offset = s.get::<i64>("offset").unwrap_or(0);
        let confident = s.get::<bool>("confident").unwrap_or(false);
        let confidence = s.get::<f64>("confidence").unwrap_or(0.0);
        let running_time = s.get::<u64>("running-time").unwrap_or(0);
        let now = epoch();
        let a = &mut self.state.alignment;
        if !a.update(offset, confident, confidence, now) {
            return;
        }
        let shown = a.offset_ms().map_or("none".into(), |ms| format!("{ms:.3}"));
        eprintln!(
            "\n{}: ALIGNED the secondary carries the programme {shown} ms later than the primary ({}, confidence {:.2})",
            self.tag,
            if confident {
                "confident"
            } else {
                "not confident"
            },
            a.confidence
        );
        self.logs.event(
            "aligned",
            &[
                ("offset_ms", shown),
                ("confident", confident.to_string()),
                ("confidence", format!("{:.3}", a.confidence)),
                ("running_time", running_time.to_string()),
            ],
        );
    }

    /// The alignment part of `/status` and `/metrics`.
    pub(super) fn alignment_report(&self) -> AlignmentReport {
        let a = &self.state.alignment;
        AlignmentReport {
            by: self.config.align_by(),
            offset_ms: a.offset_ms(),
            confident: a.confident,
            confidence: a.confidence,
            changed_at: a.at,
        }
    }
}
