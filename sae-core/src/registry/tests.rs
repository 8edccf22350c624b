use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures_util::FutureExt;

use super::*;

/// A lease that records whether it was deregistered and uses the default `lost`.
struct RecordingLease(Arc<AtomicBool>);

impl Lease for RecordingLease {
    fn deregister(self: Box<Self>) -> BoxFuture<'static, Result<(), Error>> {
        self.0.store(true, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
}

fn entry(revision: u64) -> Registered {
    Registered {
        instance: Instance::builder("orders")
            .addr("127.0.0.1:8080".parse().unwrap())
            .id("a")
            .build()
            .unwrap(),
        revision: Revision(revision),
    }
}

#[test]
fn revisions_order_and_display() {
    assert!(Revision(2) > Revision(1));
    assert_eq!(Revision::default(), Revision(0));
    assert_eq!(Revision(7).to_string(), "r7");
}

#[test]
fn every_event_reports_its_revision() {
    let snapshot = WatchEvent::Snapshot(Snapshot {
        revision: Revision(3),
        instances: vec![entry(2)],
    });
    let upsert = WatchEvent::Upsert(entry(4));
    let remove = WatchEvent::Remove {
        revision: Revision(5),
        id: InstanceId::new("a").unwrap(),
        reason: RemovalReason::Expired,
    };
    let revisions: Vec<_> = [snapshot, upsert, remove]
        .iter()
        .map(WatchEvent::revision)
        .collect();
    assert_eq!(revisions, [Revision(3), Revision(4), Revision(5)]);
}

#[tokio::test]
async fn registration_exposes_its_entry_and_deregisters_through_its_lease() {
    let deregistered = Arc::new(AtomicBool::new(false));
    let registration = Registration::new(entry(9), Box::new(RecordingLease(deregistered.clone())));
    assert_eq!(registration.instance().id().as_str(), "a");
    assert_eq!(registration.entry().revision, Revision(9));
    let debug = format!("{registration:?}");
    assert!(
        debug.contains("orders") && debug.contains("Revision(9)"),
        "{debug}"
    );
    // The default `lost` never resolves: this lease cannot be lost.
    assert!(registration.lost().now_or_never().is_none());
    registration.deregister().await.unwrap();
    assert!(deregistered.load(Ordering::SeqCst));
}
