//! [`Window`]: two counters over a sliding window of ten buckets, on a
//! nanosecond clock the caller passes in. The breaker counts calls and bad
//! calls in it, the retry budget deposits and withdrawals.
//!
//! Every step is an atomic and the time is the one the call already has:
//! no lock and no clock read per request.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

const BUCKETS: usize = 10;

pub(crate) struct Window {
    bucket_ns: u64,
    buckets: [Bucket; BUCKETS],
}

#[derive(Default)]
struct Bucket {
    /// The start of the bucket's span, ns after the epoch (a multiple of
    /// the bucket length); a stale start means the counts are old.
    start: AtomicU64,
    first: AtomicU32,
    second: AtomicU32,
}

impl Window {
    /// A window `span` long.
    pub(crate) fn new(span: Duration) -> Self {
        Window {
            bucket_ns: (span.as_nanos() / BUCKETS as u128).max(1) as u64,
            buckets: Default::default(),
        }
    }

    /// Adds to the two counters at `now_ns`.
    pub(crate) fn add(&self, now_ns: u64, first: u32, second: u32) {
        let start = now_ns - now_ns % self.bucket_ns;
        let bucket = &self.buckets[((now_ns / self.bucket_ns) % BUCKETS as u64) as usize];
        let seen = bucket.start.load(Ordering::Acquire);
        if seen != start
            && bucket
                .start
                .compare_exchange(seen, start, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
        {
            // A new span for this bucket: its counts are a window old. A
            // count added by another thread in between may be lost; the
            // ratios stay sound.
            bucket.first.store(0, Ordering::Release);
            bucket.second.store(0, Ordering::Release);
        }
        if first > 0 {
            bucket.first.fetch_add(first, Ordering::AcqRel);
        }
        if second > 0 {
            bucket.second.fetch_add(second, Ordering::AcqRel);
        }
    }

    /// The two counters summed over the window ending at `now_ns`.
    pub(crate) fn totals(&self, now_ns: u64) -> (u32, u32) {
        let window = self.bucket_ns * BUCKETS as u64;
        self.buckets
            .iter()
            .filter(|bucket| now_ns.saturating_sub(bucket.start.load(Ordering::Acquire)) < window)
            .fold((0, 0), |(first, second), bucket| {
                (
                    first + bucket.first.load(Ordering::Acquire),
                    second + bucket.second.load(Ordering::Acquire),
                )
            })
    }

    /// Forgets every count.
    pub(crate) fn clear(&self) {
        for bucket in &self.buckets {
            bucket.first.store(0, Ordering::Release);
            bucket.second.store(0, Ordering::Release);
        }
    }
}
