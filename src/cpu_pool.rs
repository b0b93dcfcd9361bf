//! A small pool of low-priority threads for CPU-heavy work that must not
//! compete with the async workers: scoring a recorded call (WAV reading,
//! pitch and loudness analysis) while other calls are live. In realtime
//! pacing the async workers read sockets and time replies; if scoring ran
//! on them, or beside them at the same priority, other calls' latencies
//! would include rehearse's own work.
//!
//! One thread per core, each at a lower scheduling priority (nice 10 on
//! Linux), so the kernel gives the async workers the CPU first.

use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// Runs `work` on the pool and waits for its result without blocking the
/// caller's thread. A panic in `work` comes back as an `Err` with its
/// message.
pub async fn run<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, String> {
    let (tx, rx) = oneshot::channel();
    let job: Job = Box::new(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work))
            .map_err(|payload| panic_text(payload.as_ref()));
        let _ = tx.send(result);
    });
    let queued = pool()
        .lock()
        .map(|tx| tx.send(job).is_ok())
        .unwrap_or(false);
    if !queued {
        return Err("the CPU pool is gone".into());
    }
    rx.await
        .map_err(|_| "the CPU pool dropped the work".to_string())?
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into())
}

fn pool() -> &'static Mutex<mpsc::Sender<Job>> {
    static POOL: OnceLock<Mutex<mpsc::Sender<Job>>> = OnceLock::new();
    POOL.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = std::sync::Arc::new(Mutex::new(rx));
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        for i in 0..threads {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("rehearse-cpu-{i}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start a CPU pool thread");
            }
        }
        Mutex::new(tx)
    })
}

/// Lowers the calling thread's scheduling priority (Linux: nice is per
/// thread). Best effort: where it is refused, work still runs.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: gettid and setpriority take plain integers and touch no memory.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 10);
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn work_runs_and_panics_come_back_as_errors() {
        assert_eq!(super::run(|| 6 * 7).await, Ok(42));
        let err = super::run(|| -> u32 { panic!("boom") }).await.unwrap_err();
        assert!(err.contains("boom"), "{err}");
    }
}
