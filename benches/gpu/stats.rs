//! Percentiles, spread and the JSON/markdown the GPU benchmark writes.

use std::fmt::Write as _;

/// Summary of a sample of durations (ns).
#[derive(Clone, Debug)]
pub struct Summary {
    pub n: usize,
    pub mean: f64,
    pub p50: f64,
    pub p90: f64,
    pub p99: f64,
    pub p999: f64,
    pub min: f64,
    pub max: f64,
}

/// Percentile (nearest rank) of a sorted sample.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    // the small epsilon keeps 99.9 % of 1000 at rank 999 despite rounding
    let rank = (q * sorted.len() as f64 / 100.0 - 1e-9).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

impl Summary {
    pub fn of(mut xs: Vec<f64>) -> Self {
        xs.sort_by(|a, b| a.total_cmp(b));
        let n = xs.len();
        let mean = xs.iter().sum::<f64>() / n.max(1) as f64;
        Self {
            n,
            mean,
            p50: percentile(&xs, 50.0),
            p90: percentile(&xs, 90.0),
            p99: percentile(&xs, 99.0),
            p999: percentile(&xs, 99.9),
            min: xs.first().copied().unwrap_or(f64::NAN),
            max: xs.last().copied().unwrap_or(f64::NAN),
        }
    }

    pub fn json(&self) -> String {
        format!(
            "{{\"n\":{},\"mean_ns\":{:.1},\"p50_ns\":{:.1},\"p90_ns\":{:.1},\"p99_ns\":{:.1},\"p999_ns\":{:.1},\"min_ns\":{:.1},\"max_ns\":{:.1}}}",
            self.n, self.mean, self.p50, self.p90, self.p99, self.p999, self.min, self.max
        )
    }
}

/// Mean and coefficient of variation (stddev / mean) of values.
pub fn mean_cv(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, var.sqrt() / mean)
}

/// JSON string literal.
pub fn js(s: &str) -> String {
    let mut o = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            c if (c as u32) < 0x20 => {
                let _ = write!(o, "\\u{:04x}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Format ns as a human figure.
pub fn ns(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2} ms", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.2} µs", v / 1e3)
    } else {
        format!("{v:.0} ns")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_nearest_rank() {
        let s = Summary::of((1..=1000).map(|x| x as f64).collect());
        assert_eq!((s.p50, s.p90, s.p99, s.p999, s.min, s.max), (500.0, 900.0, 990.0, 999.0, 1.0, 1000.0));
        let (m, cv) = mean_cv(&[10.0, 10.0, 10.0]);
        assert_eq!((m, cv), (10.0, 0.0));
        assert_eq!(js("a\"b\n"), "\"a\\\"b\\n\"");
    }
}
