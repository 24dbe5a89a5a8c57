// SPDX-License-Identifier: MPL-2.0
//! Normalised cross-correlation and peak picking.

/// A template prepared for correlation: mean removed, missing values zero.
#[derive(Debug, Default)]
pub(crate) struct Template {
    z: Vec<f32>,
    norm: f64,
}

impl Template {
    /// Prepares `values` (NaN = missing). None when fewer than `min_valid` of them
    /// are present.
    pub(crate) fn prepare(&mut self, values: &[f32], min_valid: f64) -> Option<()> {
        let (n, sum) = values
            .iter()
            .filter(|v| !v.is_nan())
            .fold((0usize, 0.0f64), |(n, s), &v| (n + 1, s + v as f64));
        if values.is_empty() || (n as f64) < min_valid * values.len() as f64 {
            return None;
        }
        let mean = sum / n as f64;
        self.z.clear();
        let mut sq = 0.0f64;
        for &v in values {
            let d = if v.is_nan() { 0.0 } else { v as f64 - mean };
            sq += d * d;
            self.z.push(d as f32);
        }
        self.norm = sq.sqrt();
        Some(())
    }

    pub(crate) fn len(&self) -> usize {
        self.z.len()
    }
}

/// Scratch space for one correlation.
#[derive(Debug, Default)]
pub(crate) struct Correlator {
    search: Vec<f32>,
    sum: Vec<f64>,
    sum_sq: Vec<f64>,
}

impl Correlator {
    /// Adds, for each lag `j` in `0..out.len()`, the normalised correlation of the
    /// template with `search[j .. j + template.len()]` to `out[j]`. Missing values
    /// (NaN) in `search` are replaced by the mean of the present ones. False (and
    /// `out` untouched) when fewer than `min_valid` of `search` are present or the
    /// template has no variance.
    pub(crate) fn accumulate(
        &mut self,
        template: &Template,
        search: &[f32],
        min_valid: f64,
        out: &mut [f32],
    ) -> bool {
        let len = template.len();
        if template.norm <= 0.0 || search.len() < len + out.len() - 1 {
            return false;
        }
        let (n, total) = search
            .iter()
            .filter(|v| !v.is_nan())
            .fold((0usize, 0.0f64), |(n, s), &v| (n + 1, s + v as f64));
        if (n as f64) < min_valid * search.len() as f64 {
            return false;
        }
        let fill = (total / n as f64) as f32;
        self.search.clear();
        self.search
            .extend(search.iter().map(|&v| if v.is_nan() { fill } else { v }));
        // Prefix sums, relative to the fill value to keep them well conditioned.
        self.sum.clear();
        self.sum_sq.clear();
        let (mut s1, mut s2) = (0.0f64, 0.0f64);
        self.sum.push(0.0);
        self.sum_sq.push(0.0);
        for &v in &self.search {
            let d = (v - fill) as f64;
            s1 += d;
            s2 += d * d;
            self.sum.push(s1);
            self.sum_sq.push(s2);
        }
        for (j, o) in out.iter_mut().enumerate() {
            let s1 = self.sum[j + len] - self.sum[j];
            let s2 = self.sum_sq[j + len] - self.sum_sq[j];
            let var = s2 - s1 * s1 / len as f64;
            if var <= 1e-12 * len as f64 {
                continue;
            }
            let dot = dot(&template.z, &self.search[j..j + len]) as f64;
            *o += (dot / (template.norm * var.sqrt())) as f32;
        }
        true
    }
}

/// Dot product with independent accumulators (lets the compiler vectorise it).
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// The highest value of a correlation and how well it stands out.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Peak {
    /// Index of the highest value.
    pub(crate) index: usize,
    /// Its position refined by a parabola through it and its neighbours.
    pub(crate) position: f64,
    pub(crate) value: f32,
    /// The highest other peak: a value more than `guard` away from `index` that is
    /// the highest within `guard` of itself; -1 if there is none.
    pub(crate) second: f32,
}

/// Finds the peak of `c` within `range` (indices), and the best other peak.
pub(crate) fn find_peak(c: &[f32], range: std::ops::Range<usize>, guard: usize) -> Option<Peak> {
    let range = range.start.min(c.len())..range.end.min(c.len());
    let (index, &value) = c[range.clone()]
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, v)| (i + range.start, v))?;
    let mut position = index as f64;
    if index > 0 && index + 1 < c.len() {
        let (l, m, r) = (c[index - 1] as f64, value as f64, c[index + 1] as f64);
        let den = l - 2.0 * m + r;
        if den < 0.0 {
            position += (0.5 * (l - r) / den).clamp(-0.5, 0.5);
        }
    }
    let mut second = -1.0f32;
    for k in range.clone() {
        if k.abs_diff(index) <= guard || c[k] <= second {
            continue;
        }
        let lo = k.saturating_sub(guard).max(range.start);
        let hi = (k + guard + 1).min(range.end);
        if c[lo..hi].iter().all(|&v| v <= c[k]) {
            second = c[k];
        }
    }
    Some(Peak {
        index,
        position,
        value,
        second,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive() {
        let a: Vec<f32> = (0..37).map(|i| i as f32 * 0.5).collect();
        let b: Vec<f32> = (0..37).map(|i| 1.0 - i as f32 * 0.1).collect();
        let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot(&a, &b) - naive).abs() < 1e-3);
    }

    #[test]
    fn correlation_finds_a_shifted_copy_at_any_scale() {
        let signal: Vec<f32> = (0..400u64)
            .map(|i| ((i * i * 7919 + i * 31) % 1009) as f32)
            .collect();
        let mut t = Template::default();
        t.prepare(&signal[100..200], 0.8).unwrap();
        let search: Vec<f32> = signal[60..260].iter().map(|v| 3.0 * v + 7.0).collect();
        let mut out = vec![0.0; 101];
        assert!(Correlator::default().accumulate(&t, &search, 0.8, &mut out));
        let p = find_peak(&out, 0..out.len(), 2).unwrap();
        assert_eq!(p.index, 40);
        assert!((p.value - 1.0).abs() < 1e-4, "{}", p.value);
        assert!(p.second < 0.9, "{}", p.second);
    }

    #[test]
    fn a_flat_template_cannot_be_correlated() {
        let mut t = Template::default();
        t.prepare(&[1.0; 50], 0.8).unwrap();
        let mut out = vec![0.0; 11];
        assert!(!Correlator::default().accumulate(&t, &[0.5; 60], 0.8, &mut out));
        assert!(t.prepare(&[f32::NAN; 50], 0.8).is_none());
    }

    #[test]
    fn peak_interpolates_between_samples() {
        // A parabola with its top at 5.3.
        let c: Vec<f32> = (0..11)
            .map(|i| 1.0 - 0.01 * (i as f32 - 5.3).powi(2))
            .collect();
        let p = find_peak(&c, 0..11, 1).unwrap();
        assert_eq!(p.index, 5);
        assert!((p.position - 5.3).abs() < 1e-3, "{}", p.position);
        // Falling on both sides: no other peak.
        assert_eq!(p.second, -1.0);
        let two: Vec<f32> = (0..40)
            .map(|i| {
                if i == 10 {
                    1.0
                } else if i == 30 {
                    0.7
                } else {
                    0.0
                }
            })
            .collect();
        let p = find_peak(&two, 0..40, 3).unwrap();
        assert_eq!((p.index, p.second), (10, 0.7));
    }
}
