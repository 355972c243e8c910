//! SIGINT and SIGTERM: the first stops a long command cleanly, the second aborts it.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use crate::progress::Progress;

/// On SIGINT or SIGTERM: stop cleanly; on a second one, abort (what is in flight then is
/// ambiguous on the next run).
pub async fn stop_on_signals(stop: CancellationToken, progress: Arc<Progress>) {
    let signal = || async {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return std::future::pending().await;
            };
            tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "Ctrl-C"
        }
    };
    let first = signal().await;
    progress.line(format!(
        "{first}: stopping: no more records are read; the calls in flight finish and are \
         recorded (again to abort now)"
    ));
    stop.cancel();
    let second = signal().await;
    progress.line(format!(
        "{second}: aborting: records in flight are left ambiguous for the next run"
    ));
    std::process::exit(130);
}
