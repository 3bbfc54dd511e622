//! `pow` for the `tandem` executable, so it does not load `libm.so` for one function.
//!
//! The only libm symbol the daemon links is `pow`, from tokio's multi-thread scheduler
//! statistics (`(1 - alpha).powf(polls)`, once per scheduler tick). Loading the whole of
//! `libm.so.6` for it costs 0.3–0.6 MB of resident memory per process (its relocations and
//! symbol tables are touched at start-up), a tenth of an idle director's RSS. Defining `pow`
//! here makes the linker resolve tokio's call to this function; `--as-needed` (rustc's default
//! for GNU targets) then drops `libm.so.6` from the executable's `NEEDED` list.
//!
//! The implementation is the `libm` crate's port of musl's `pow`: correctly rounded in
//! practice (< 1 ULP), with the same special cases as C99 Annex F.

// `no_mangle` counts as unsafe code: it is the whole point of this module.
#![allow(unsafe_code)]

/// C99 `double pow(double x, double y)`.
//
// SAFETY: `no_mangle` exports the C symbol `pow`; its signature and behaviour are C99's, so
// every caller that would have bound to libm's `pow` gets the same contract.
#[unsafe(no_mangle)]
pub extern "C" fn pow(x: f64, y: f64) -> f64 {
    libm::pow(x, y)
}

#[cfg(test)]
mod tests {
    use super::pow;

    /// Exact results where C99 requires them, and tokio's use (a decay factor to a power).
    #[test]
    fn pow_matches_c99() {
        assert_eq!(pow(2.0, 10.0), 1024.0);
        assert_eq!(pow(10.0, -2.0), 0.01);
        assert_eq!(pow(9.0, 0.5), 3.0);
        assert_eq!(pow(f64::NAN, 0.0), 1.0);
        assert_eq!(pow(1.0, f64::NAN), 1.0);
        assert_eq!(pow(0.0, -1.0), f64::INFINITY);
        assert_eq!(pow(-0.0, -1.0), f64::NEG_INFINITY);
        assert!(pow(-8.0, 1.0 / 3.0).is_nan());
        assert_eq!(pow(-2.0, 3.0), -8.0);
        assert_eq!(pow(0.5, 1100.0), 0.0);
        assert_eq!(pow(2.0, 1024.0), f64::INFINITY);
        // (1 - 0.1)^n by repeated multiplication, to within a few ULP.
        let mut expected = 1.0_f64;
        for n in 1..=200 {
            expected *= 0.9;
            let got = pow(0.9, f64::from(n));
            assert!(
                ((got - expected) / expected).abs() < 1e-13,
                "0.9^{n}: {got} vs {expected}"
            );
        }
    }
}
