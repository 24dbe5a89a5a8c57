// SPDX-License-Identifier: MPL-2.0
//! Where a staged switch takes effect, and what the output does until then.
//!
//! Encoded video can only switch at one of the incoming input's keyframes. Where the
//! outgoing input still delivers (restore, manual switch, a probe's verdict) it
//! carries the output up to that keyframe; where it died, the output keeps moving
//! with filler (GAP events, silence) until the keyframe. The members of a group (the
//! audio and video switch of one programme) all switch at the keyframe the video
//! member chose. Pure logic on running times, no GStreamer types.

/// One held unit of the incoming input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unit {
    pub start: u64,
    pub duration: u64,
    pub keyframe: bool,
}

/// Whether a unit starting at `start` may still start the incoming input after the
/// output position `sent`: part of it lies after it. An encoded unit cannot be cut,
/// so one that began up to a unit before goes out at `sent`, shortened: the other
/// input's unit of the same time was sent first, as it arrived first (without
/// `latency` it usually does), and the next keyframe would be a GOP later.
pub(crate) fn usable(sent: Option<u64>, start: u64, duration: u64) -> bool {
    sent.is_none_or(|pos| start.saturating_add(duration) > pos)
}

/// The keyframe of the incoming input at which a switch of encoded video takes
/// effect, given what was sent (`sent`), how far the outgoing input's data reaches
/// (`outgoing_end`) and whether it still delivers. `None`: no usable keyframe yet.
///
/// - The outgoing input delivers: the first usable keyframe, so the switch happens
///   as soon as possible and the picture never freezes.
/// - It died: the last usable keyframe its data still reaches (the output carries
///   the outgoing input up to it, no freeze: possible when the output is held back
///   by `latency`), else the first usable one (the output freezes, with filler, from
///   the end of the outgoing data to it).
pub(crate) fn choose_keyframe(
    sent: Option<u64>,
    outgoing_end: Option<u64>,
    outgoing_alive: bool,
    incoming: &[Unit],
) -> Option<u64> {
    let mut usable = incoming
        .iter()
        .filter(|u| u.keyframe && usable(sent, u.start, u.duration))
        .map(|u| u.start);
    if outgoing_alive {
        return usable.next();
    }
    let all: Vec<u64> = usable.collect();
    let reached = outgoing_end.and_then(|end| all.iter().copied().rfind(|&k| k <= end));
    reached.or_else(|| all.first().copied())
}

/// How far the incoming input's newest unit, a keyframe, lies behind the output
/// position `sent` (ns from its start), when it is not usable. The incoming input's
/// data then arrives behind the output (its connection was placed behind the other's,
/// or it reports less latency than it has), and so will every later keyframe of it: a
/// switch waiting for a usable one would wait for ever. The switch instead places the
/// input this much later for the rest of its stream and starts it at this keyframe.
pub(crate) fn lag_behind(sent: Option<u64>, incoming: &[Unit]) -> Option<u64> {
    let pos = sent?;
    let newest = incoming.last()?;
    (newest.keyframe && !usable(sent, newest.start, newest.duration)).then(|| pos - newest.start)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn gop(from_ms: u64, frames: u64, gop: u64) -> Vec<Unit> {
        (0..frames)
            .map(|i| Unit {
                start: (from_ms + i * 40) * MS,
                duration: 40 * MS,
                keyframe: i % gop == 0,
            })
            .collect()
    }

    #[test]
    fn alive_outgoing_switches_at_the_first_keyframe_after_the_output() {
        // Keyframes at 1000, 2000, 3000 ms; the output has sent up to 1500 ms.
        let units = gop(1000, 75, 25);
        assert_eq!(
            choose_keyframe(Some(1500 * MS), Some(1500 * MS), true, &units),
            Some(2000 * MS)
        );
        // A keyframe that began up to a frame before the output position goes out
        // at it (the other input's frame of the same time went first).
        assert_eq!(
            choose_keyframe(Some(2030 * MS), Some(2030 * MS), true, &units),
            Some(2000 * MS)
        );
        assert_eq!(
            choose_keyframe(Some(2040 * MS), None, true, &units),
            Some(3000 * MS)
        );
        assert_eq!(choose_keyframe(Some(3100 * MS), None, true, &units), None);
    }

    #[test]
    fn dead_outgoing_uses_the_last_keyframe_its_data_reaches() {
        let units = gop(1000, 75, 25);
        // Held back by latency: sent up to 1200 ms, the outgoing's data reached
        // 2500 ms before it died: switch at 2000 ms, no freeze.
        assert_eq!(
            choose_keyframe(Some(1200 * MS), Some(2500 * MS), false, &units),
            Some(2000 * MS)
        );
        // Its data ends before any usable keyframe: the first one (a freeze).
        assert_eq!(
            choose_keyframe(Some(1200 * MS), Some(1300 * MS), false, &units),
            Some(2000 * MS)
        );
        assert_eq!(choose_keyframe(Some(1200 * MS), None, false, &[]), None);
    }

    #[test]
    fn a_keyframe_arriving_behind_the_output_tells_the_lag() {
        let units = gop(1000, 26, 25);
        // Its newest unit is the keyframe at 2000 ms; the output is at 2340 ms.
        assert_eq!(lag_behind(Some(2340 * MS), &units), Some(340 * MS));
        // Usable (the output is within it): no lag, the switch takes it as it is.
        assert_eq!(lag_behind(Some(2030 * MS), &units), None);
        // A delta unit is newest: wait for the keyframe.
        assert_eq!(lag_behind(Some(2340 * MS), &units[..25]), None);
        assert_eq!(lag_behind(None, &units), None);
        assert_eq!(lag_behind(Some(2340 * MS), &[]), None);
    }
}
