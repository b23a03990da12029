//! Theil–Sen robust regression with Sen's confidence interval for the slope.
//!
//! The slope is the median of all pairwise slopes; the interval uses the normal
//! approximation of Kendall's S (Sen 1968), so one outlier (a sensor glitch) moves
//! neither the fit nor the time-to-threshold estimate.

/// A fitted line through `(x, y)` points, with a 95 % interval for the slope.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fit {
    pub slope: f64,
    pub intercept: f64,
    pub slope_low: f64,
    pub slope_high: f64,
}

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_964;

/// Fits `points`; `None` with fewer than 3 points or when all x are equal.
/// `scratch` is reused between calls so a fit allocates nothing once warm.
pub fn fit(points: &[(f64, f64)], scratch: &mut Vec<f64>) -> Option<Fit> {
    let n = points.len();
    if n < 3 {
        return None;
    }
    scratch.clear();
    for i in 0..n {
        for j in (i + 1)..n {
            let dx = points[j].0 - points[i].0;
            if dx != 0.0 {
                scratch.push((points[j].1 - points[i].1) / dx);
            }
        }
    }
    if scratch.is_empty() {
        return None;
    }
    scratch.sort_by(f64::total_cmp);
    let m = scratch.len();
    let slope = median_sorted(scratch);
    // Sen's interval: ranks (N - C)/2 and (N + C)/2 of the sorted slopes, with C from
    // the variance of Kendall's S (ties ignored, which only widens nothing here).
    let nf = n as f64;
    let var_s = nf * (nf - 1.0) * (2.0 * nf + 5.0) / 18.0;
    let c = Z95 * var_s.sqrt();
    let lo_rank = (((m as f64 - c) / 2.0).floor() as isize).clamp(0, m as isize - 1) as usize;
    let hi_rank = (((m as f64 + c) / 2.0).ceil() as isize).clamp(0, m as isize - 1) as usize;
    let (slope_low, slope_high) = (scratch[lo_rank], scratch[hi_rank]);
    scratch.clear();
    for p in points {
        scratch.push(p.1 - slope * p.0);
    }
    scratch.sort_by(f64::total_cmp);
    let intercept = median_sorted(scratch);
    Some(Fit {
        slope,
        intercept,
        slope_low,
        slope_high,
    })
}

fn median_sorted(v: &[f64]) -> f64 {
    let m = v.len();
    if m % 2 == 1 {
        v[m / 2]
    } else {
        (v[m / 2 - 1] + v[m / 2]) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_line_is_recovered_with_a_tight_interval() {
        let pts: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
        let f = fit(&pts, &mut Vec::new()).expect("fit");
        assert!((f.slope - 2.0).abs() < 1e-12);
        assert!((f.intercept - 1.0).abs() < 1e-12);
        assert!((f.slope_low - 2.0).abs() < 1e-12 && (f.slope_high - 2.0).abs() < 1e-12);
    }

    #[test]
    fn one_outlier_does_not_move_the_slope() {
        let mut pts: Vec<(f64, f64)> = (0..20).map(|i| (i as f64, 0.5 * i as f64)).collect();
        pts[10].1 = 1000.0;
        let f = fit(&pts, &mut Vec::new()).expect("fit");
        assert!((f.slope - 0.5).abs() < 0.05, "{f:?}");
        assert!(f.slope_low <= f.slope && f.slope <= f.slope_high);
    }

    #[test]
    fn noisy_flat_series_has_an_interval_around_zero() {
        let pts: Vec<(f64, f64)> = (0..30)
            .map(|i| (i as f64, if i % 2 == 0 { 1.0 } else { -1.0 }))
            .collect();
        let f = fit(&pts, &mut Vec::new()).expect("fit");
        assert!(f.slope_low <= 0.0 && f.slope_high >= 0.0, "{f:?}");
    }

    #[test]
    fn too_few_points() {
        assert!(fit(&[(0.0, 1.0), (1.0, 2.0)], &mut Vec::new()).is_none());
    }
}
