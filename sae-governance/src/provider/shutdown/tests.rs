use super::{ShutdownHandle, Trigger};

#[tokio::test(start_paused = true)]
async fn first_trigger_wins() {
    let handle = ShutdownHandle::new();
    assert_eq!(handle.triggered_by(), None);
    assert!(handle.trigger(Trigger::PreStop));
    assert!(!handle.trigger(Trigger::Terminate));
    handle.shutdown();
    assert_eq!(handle.triggered_by(), Some(Trigger::PreStop));
    assert_eq!(handle.clone().triggered().await, Trigger::PreStop);
}

#[tokio::test(start_paused = true)]
async fn waiters_wake_on_trigger_and_window_close() {
    let handle = ShutdownHandle::new();
    let waiter = tokio::spawn({
        let handle = handle.clone();
        async move {
            let trigger = handle.triggered().await;
            handle.notice_window_closed().await;
            trigger
        }
    });
    handle.shutdown();
    handle.close_notice_window();
    assert_eq!(waiter.await.unwrap(), Trigger::Handle);
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_triggers_the_handle() {
    // listen_for_signals installs the handler before returning, so the
    // signal raised next cannot kill the test process.
    let handle = ShutdownHandle::new();
    let listener = tokio::spawn(super::listen_for_signals(handle.clone()));
    let status = std::process::Command::new("kill")
        .args(["-TERM", &std::process::id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(handle.triggered().await, Trigger::Terminate);
    listener.await.unwrap();
}
