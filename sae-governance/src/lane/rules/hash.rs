//! The stable bucket of a percentage rule.
//!
//! Written here rather than taken from `std` because the bucket of a key
//! must never change: std's hashers are randomly keyed (`RandomState`) or
//! not guaranteed stable across releases (`DefaultHasher`), and a user who
//! moved lanes after an upgrade or between replicas would see two versions.
//! FNV-1a is fixed by its spec; the splitmix64 finalizer spreads its low
//! bits, which the modulo reads.

/// Buckets per 100 %: 0.01 % resolution.
pub(super) const BUCKETS: u64 = 10_000;

/// The bucket (0 to [`BUCKETS`] - 1) of `key` under `salt`.
pub(super) fn bucket(salt: &[u8], key: &[u8]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    // 0xff never occurs in UTF-8, so ("ab", "c") and ("a", "bc") differ.
    for byte in salt.iter().chain(&[0xff]).chain(key) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    splitmix64(hash) % BUCKETS
}

fn splitmix64(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
