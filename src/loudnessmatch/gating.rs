// SPDX-License-Identifier: MPL-2.0
//! Gated integrated loudness (ITU-R BS.1770-4) and loudness range (EBU Tech 3342)
//! from histograms, so that a stream of any length needs the same memory and time.
//! No GStreamer types here.
//!
//! Each value is counted in a bin 0.01 LU wide between -70 and +30 LUFS. The
//! integrated loudness also keeps each bin's energy sum, so it is exact but for the
//! blocks within 0.01 LU of the relative gate; the loudness range takes its
//! percentiles at the bins' centres (±0.005 LU).

use super::meter::energy_to_lufs;

/// BS.1770 absolute gate for blocks and for Tech 3342's short-term values (LUFS).
pub const ABSOLUTE_GATE: f64 = -70.0;
/// Relative gate of the integrated loudness, below the absolute-gated loudness (LU).
pub const INTEGRATED_RELATIVE_GATE: f64 = 10.0;
/// Relative gate of the loudness range (LU).
pub const RANGE_RELATIVE_GATE: f64 = 20.0;
const BINS_PER_LU: f64 = 100.0;
const TOP: f64 = 30.0;
const BINS: usize = ((TOP - ABSOLUTE_GATE) * BINS_PER_LU) as usize;

/// Bin of loudness `l` (at or above the absolute gate).
fn bin(l: f64) -> usize {
    (((l - ABSOLUTE_GATE) * BINS_PER_LU) as usize).min(BINS - 1)
}

fn bin_centre(i: usize) -> f64 {
    ABSOLUTE_GATE + (i as f64 + 0.5) / BINS_PER_LU
}

/// Loudness of `energy` if it passes the absolute gate.
fn gated(energy: f64) -> Option<f64> {
    let l = energy_to_lufs(energy);
    (l.is_finite() && l >= ABSOLUTE_GATE).then_some(l)
}

/// Gated integrated loudness of 400 ms blocks (one every 100 ms).
#[derive(Debug, Clone)]
pub struct Integrated {
    counts: Vec<u64>,
    sums: Vec<f64>,
    count: u64,
    total: f64,
}

impl Default for Integrated {
    fn default() -> Self {
        Integrated {
            counts: vec![0; BINS],
            sums: vec![0.0; BINS],
            count: 0,
            total: 0.0,
        }
    }
}

impl Integrated {
    pub fn reset(&mut self) {
        self.counts.fill(0);
        self.sums.fill(0.0);
        self.count = 0;
        self.total = 0.0;
    }

    /// Adds a block's mean weighted energy.
    pub fn push(&mut self, energy: f64) {
        let Some(l) = gated(energy) else { return };
        let i = bin(l);
        self.counts[i] += 1;
        self.sums[i] += energy;
        self.count += 1;
        self.total += energy;
    }

    /// Integrated loudness in LUFS; `-inf` until a block passed the gates.
    pub fn loudness(&self) -> f64 {
        if self.count == 0 {
            return f64::NEG_INFINITY;
        }
        let gate = energy_to_lufs(self.total / self.count as f64) - INTEGRATED_RELATIVE_GATE;
        let first = if gate < ABSOLUTE_GATE { 0 } else { bin(gate) };
        let mut sum = 0.0;
        let mut n = 0u64;
        for i in first..BINS {
            let c = self.counts[i];
            if c == 0 {
                continue;
            }
            // The bin the gate falls in counts if its blocks are on average above.
            if i == first && energy_to_lufs(self.sums[i] / c as f64) < gate {
                continue;
            }
            sum += self.sums[i];
            n += c;
        }
        if n == 0 {
            return f64::NEG_INFINITY;
        }
        energy_to_lufs(sum / n as f64)
    }
}

/// Loudness range (EBU Tech 3342) of short-term (3 s) loudness values.
#[derive(Debug, Clone)]
pub struct Range {
    counts: Vec<u64>,
    count: u64,
    total: f64,
}

impl Default for Range {
    fn default() -> Self {
        Range {
            counts: vec![0; BINS],
            count: 0,
            total: 0.0,
        }
    }
}

impl Range {
    pub fn reset(&mut self) {
        self.counts.fill(0);
        self.count = 0;
        self.total = 0.0;
    }

    /// Adds a short-term window's mean weighted energy.
    pub fn push(&mut self, energy: f64) {
        let Some(l) = gated(energy) else { return };
        self.counts[bin(l)] += 1;
        self.count += 1;
        self.total += energy;
    }

    /// The spread between the 10th and the 95th percentile of the gated
    /// short-term loudness, in LU; 0 until two values passed the gates.
    pub fn range(&self) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        let gate = energy_to_lufs(self.total / self.count as f64) - RANGE_RELATIVE_GATE;
        let first = if gate < ABSOLUTE_GATE { 0 } else { bin(gate) };
        let n: u64 = self.counts[first..].iter().sum();
        if n < 2 {
            return 0.0;
        }
        let rank = |p: f64| ((n - 1) as f64 * p).round() as u64;
        let (lo, hi) = (rank(0.10), rank(0.95));
        let mut seen = 0u64;
        let mut low = None;
        for i in first..BINS {
            seen += self.counts[i];
            if low.is_none() && seen > lo {
                low = Some(bin_centre(i));
            }
            if seen > hi {
                return bin_centre(i) - low.unwrap_or(bin_centre(i));
            }
        }
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loudnessmatch::meter::lufs_to_energy as e;

    #[test]
    fn integrated_gates_absolute_and_relative() {
        let mut i = Integrated::default();
        assert_eq!(i.loudness(), f64::NEG_INFINITY);
        for _ in 0..100 {
            i.push(e(-23.0));
        }
        assert!((i.loudness() + 23.0).abs() < 1e-9);
        // below the absolute gate: ignored
        for _ in 0..1000 {
            i.push(e(-75.0));
            i.push(0.0);
        }
        assert!((i.loudness() + 23.0).abs() < 1e-9);
        // 15 LU down: under the relative gate, ignored
        for _ in 0..100 {
            i.push(e(-38.0));
        }
        assert!((i.loudness() + 23.0).abs() < 1e-9);
        // 6 LU down: counted, exactly
        for _ in 0..100 {
            i.push(e(-29.0));
        }
        let want = energy_to_lufs((e(-23.0) + e(-29.0)) / 2.0);
        assert!((i.loudness() - want).abs() < 1e-9);
        i.reset();
        assert_eq!(i.loudness(), f64::NEG_INFINITY);
    }

    #[test]
    fn range_is_the_spread_of_the_gated_distribution() {
        let mut r = Range::default();
        assert_eq!(r.range(), 0.0);
        // half at -20, half at -30: 10th percentile -30, 95th -20
        for _ in 0..200 {
            r.push(e(-20.0));
            r.push(e(-30.0));
        }
        assert!((r.range() - 10.0).abs() < 0.011, "{}", r.range());
        // values more than 20 LU below the mean do not count
        for _ in 0..100 {
            r.push(e(-60.0));
        }
        assert!((r.range() - 10.0).abs() < 0.011, "{}", r.range());
        // a uniform spread from -40 to -20 LUFS: 95th - 10th = 17 LU
        let mut r = Range::default();
        for k in 0..=2000 {
            r.push(e(-40.0 + k as f64 / 100.0));
        }
        assert!((r.range() - 17.0).abs() < 0.02, "{}", r.range());
        r.reset();
        assert_eq!(r.range(), 0.0);
    }
}
