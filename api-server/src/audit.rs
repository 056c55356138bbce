//! Writes the audit log in batches off the request path: a request only queues its entry.

use std::sync::Arc;
use std::time::Duration;

use socialscalr_core::store::{AuditEntry, Store};
use tokio::sync::{mpsc, oneshot};

const QUEUE: usize = 10_000;
const BATCH: usize = 500;

enum Message {
    Entry(AuditEntry),
    Flush(oneshot::Sender<()>),
}

/// Queues audit entries for the writer task.
#[derive(Clone)]
pub struct AuditWriter {
    queue: mpsc::Sender<Message>,
}

impl AuditWriter {
    /// Starts the writer task on the current runtime.
    pub fn spawn(store: Arc<dyn Store>) -> Self {
        let (queue, inbox) = mpsc::channel(QUEUE);
        tokio::spawn(write_batches(store, inbox));
        Self { queue }
    }

    /// Queues an entry; waits only when the writer is far behind.
    pub async fn record(&self, entry: AuditEntry) {
        if self.queue.send(Message::Entry(entry)).await.is_err() {
            tracing::error!("Audit writer is gone; an audit entry was not recorded");
        }
    }

    /// Returns once everything queued before the call is written.
    pub async fn flush(&self) {
        let (done, written) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = written.await;
        }
    }
}

async fn write_batches(store: Arc<dyn Store>, mut inbox: mpsc::Receiver<Message>) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut waiting = Vec::new();
    while let Some(first) = inbox.recv().await {
        let mut next = Some(first);
        while let Some(message) = next.take() {
            match message {
                Message::Entry(entry) => batch.push(entry),
                Message::Flush(done) => waiting.push(done),
            }
            if batch.len() < BATCH {
                next = inbox.try_recv().ok();
            }
        }
        write(store.as_ref(), &batch).await;
        batch.clear();
        for done in waiting.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn write(store: &dyn Store, batch: &[AuditEntry]) {
    let mut wait = Duration::from_millis(50);
    for attempt in 1..=5 {
        match store.record_audit(batch).await {
            Ok(()) => return,
            Err(error) => {
                let entries = batch.len();
                tracing::warn!(%error, attempt, entries, "Writing the audit log failed");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
        }
    }
    tracing::error!(
        entries = batch.len(),
        "Audit entries dropped after repeated store failures"
    );
}
