//! Effective priority and fault from tracked objects (interfaces, services), keepalived
//! semantics: a failed object with weight w adds w to the priority (usually negative); a failed
//! object with weight 0 puts the instance in FAULT. The address owner (255) is never lowered:
//! RFC 5798 §6.1 ties priority 255 to owning the addresses, which tracking cannot change.

/// Priority to advertise given the configured one and the weights of the failed objects.
/// Non-owners stay within 1..=254 (RFC 5798 §5.2.4: 0 is reserved for release, 255 for the
/// owner).
pub fn effective_priority(configured: u8, failed_weights: impl IntoIterator<Item = i32>) -> u8 {
    if configured == 255 {
        return 255;
    }
    let sum: i64 = failed_weights.into_iter().map(i64::from).sum();
    (i64::from(configured) + sum).clamp(1, 254) as u8
}

/// True when a failed object is tracked with weight 0 (fault instead of a priority change).
pub fn faulted(failed_weights: impl IntoIterator<Item = i32>) -> bool {
    failed_weights.into_iter().any(|w| w == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_add_and_clamp() {
        assert_eq!(effective_priority(150, []), 150);
        assert_eq!(effective_priority(150, [-20]), 130);
        assert_eq!(effective_priority(150, [-20, -50]), 80);
        assert_eq!(effective_priority(100, [-200]), 1);
        assert_eq!(effective_priority(250, [20]), 254);
        assert_eq!(effective_priority(255, [-100]), 255);
    }

    #[test]
    fn weight_zero_means_fault() {
        assert!(!faulted([-10, 5]));
        assert!(faulted([-10, 0]));
        assert!(!faulted([]));
    }
}
