//! The instance thread's wait: `ppoll` on descriptors with a timeout, woken by an eventfd.

use std::os::fd::AsFd;
use std::time::Duration;

use tandem_vrrp::net::{Wakeup, wait_readable};

#[test]
fn a_wait_without_a_wakeup_times_out_with_nothing_ready() -> std::io::Result<()> {
    let wakeup = Wakeup::new()?;
    let ready = wait_readable([wakeup.as_fd()], Some(Duration::from_millis(5)))?;
    assert_eq!(ready, [false]);
    Ok(())
}

#[test]
fn a_wakeup_from_another_thread_ends_an_unbounded_wait_and_clear_rearms_it() -> std::io::Result<()>
{
    let first = std::sync::Arc::new(Wakeup::new()?);
    let second = Wakeup::new()?;
    let waker = first.clone();
    let thread = std::thread::spawn(move || waker.wake());
    // No timeout: only the wake-up can end this wait.
    let ready = wait_readable([second.as_fd(), first.as_fd()], None)?;
    assert_eq!(ready, [false, true], "only the woken descriptor is ready");
    thread
        .join()
        .map_err(|_| std::io::Error::other("waker panicked"))??;

    // Several wake-ups before a clear are one pending wake-up; after it the fd blocks again.
    first.wake()?;
    first.wake()?;
    first.clear();
    let ready = wait_readable([first.as_fd()], Some(Duration::ZERO))?;
    assert_eq!(ready, [false], "clear consumed every pending wake-up");
    Ok(())
}
