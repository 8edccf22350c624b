use futures_util::FutureExt;

use super::*;

const ALL: [Phase; 4] = [
    Phase::Starting,
    Phase::Serving,
    Phase::Draining,
    Phase::Stopped,
];

/// A lifecycle already in `phase`.
fn at(phase: Phase) -> Lifecycle {
    let lifecycle = Lifecycle::new();
    lifecycle.advance(phase).unwrap();
    lifecycle
}

#[test]
fn starts_in_starting_and_moves_forward_one_step_at_a_time() {
    let lifecycle = Lifecycle::default();
    assert_eq!(lifecycle.phase(), Phase::Starting);
    assert!(!lifecycle.is_draining());
    for phase in &ALL[1..] {
        assert!(lifecycle.advance(*phase).unwrap());
        assert_eq!(lifecycle.phase(), *phase);
    }
    assert!(lifecycle.is_draining());
}

#[test]
fn every_forward_skip_is_allowed() {
    for (i, from) in ALL.iter().enumerate() {
        for to in &ALL[i + 1..] {
            let lifecycle = at(*from);
            assert!(lifecycle.advance(*to).unwrap(), "{from} -> {to}");
            assert_eq!(lifecycle.phase(), *to);
            assert_eq!(lifecycle.is_draining(), *to >= Phase::Draining);
        }
    }
}

#[test]
fn same_phase_is_a_no_op() {
    for phase in ALL {
        let lifecycle = at(phase);
        let observer = lifecycle.subscribe();
        assert!(
            !lifecycle.advance(phase).unwrap(),
            "a no-op reported a change"
        );
        assert_eq!(lifecycle.phase(), phase);
        assert!(!observer.has_changed().unwrap(), "a no-op woke observers");
    }
}

#[test]
fn every_backward_transition_is_rejected_and_changes_nothing() {
    for (i, from) in ALL.iter().enumerate() {
        for to in &ALL[..i] {
            let lifecycle = at(*from);
            let mut observer = lifecycle.subscribe();
            let error = lifecycle.advance(*to).unwrap_err();
            assert!(
                matches!(error, Error::BackwardTransition { from: f, to: t } if f == *from && t == *to),
                "{error:?}"
            );
            let message = error.to_string();
            assert!(
                message.contains(&from.to_string()) && message.contains(&to.to_string()),
                "{message}"
            );
            assert_eq!(lifecycle.phase(), *from);
            assert_eq!(*observer.borrow_and_update(), *from);
            assert!(!observer.has_changed().unwrap());
        }
    }
}

#[test]
fn clones_share_the_phase() {
    let lifecycle = Lifecycle::new();
    let clone = lifecycle.clone();
    clone.advance(Phase::Draining).unwrap();
    assert_eq!(lifecycle.phase(), Phase::Draining);
    assert_eq!(format!("{lifecycle:?}"), "Lifecycle(Draining)");
}

#[tokio::test(start_paused = true)]
async fn subscribers_observe_changes() {
    let lifecycle = Lifecycle::new();
    let mut observer = lifecycle.subscribe();
    assert_eq!(*observer.borrow_and_update(), Phase::Starting);
    lifecycle.advance(Phase::Serving).unwrap();
    observer.changed().await.unwrap();
    assert_eq!(*observer.borrow_and_update(), Phase::Serving);
    lifecycle.advance(Phase::Stopped).unwrap();
    observer.changed().await.unwrap();
    assert_eq!(*observer.borrow_and_update(), Phase::Stopped);
}

#[tokio::test(start_paused = true)]
async fn reached_resolves_at_or_after_the_phase() {
    let lifecycle = Lifecycle::new();
    let draining = lifecycle.reached(Phase::Draining);
    let mut draining = Box::pin(draining);
    assert!((&mut draining).now_or_never().is_none());
    lifecycle.advance(Phase::Serving).unwrap();
    assert!(
        (&mut draining).now_or_never().is_none(),
        "resolved before Draining"
    );
    let waiter = {
        let lifecycle = lifecycle.clone();
        tokio::spawn(async move { lifecycle.reached(Phase::Serving).await })
    };
    waiter.await.unwrap();
    // Skipping past the phase also resolves it.
    lifecycle.advance(Phase::Stopped).unwrap();
    draining.await;
    lifecycle.reached(Phase::Starting).await;
}
