//! Cached catalogue reads. Catalogue reads dominate the shop, so rendered JSON
//! is kept in memory per query and dropped on every change: each write
//! announces itself with `NOTIFY catalogue_changed` in its transaction, and
//! every replica's listener bumps its generation when it hears one. While the
//! listener is disconnected the cache is bypassed, so no replica serves stale
//! stock for longer than a notification takes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

pub const CHANNEL: &str = "catalogue_changed";
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub struct CatalogueCache {
    enabled: AtomicBool,
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (u64, Bytes)>>,
}

impl CatalogueCache {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The cached body for `key`, if it is from the current generation.
    pub fn get(&self, key: &str) -> Option<Bytes> {
        if !self.enabled.load(Ordering::Acquire) {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((stored, body)) if *stored == generation => Some(body.clone()),
            _ => None,
        }
    }

    /// The generation to pass to [`Self::put`]: read it before querying, so a
    /// change that lands during the query makes the result stale, not cached.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn put(&self, key: String, generation: u64, body: Bytes) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (generation, body));
        }
    }

    /// Everything cached so far is stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Listens for changes until `shutdown`; the cache is on only while the
    /// listener is connected.
    pub fn spawn_listener(self: &Arc<Self>, pool: PgPool, shutdown: CancellationToken) {
        let cache = Arc::clone(self);
        tokio::spawn(async move {
            loop {
                match cache.listen(&pool, &shutdown).await {
                    Ok(()) => return,
                    Err(err) => {
                        cache.enabled.store(false, Ordering::Release);
                        cache.invalidate();
                        tracing::warn!(error = %err, "catalogue cache off: change listener disconnected");
                    }
                }
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }

    async fn listen(&self, pool: &PgPool, shutdown: &CancellationToken) -> Result<(), sqlx::Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        // Changes made while we were not listening are unknown: start afresh.
        self.invalidate();
        self.enabled.store(true, Ordering::Release);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                notification = listener.try_recv() => match notification? {
                    Some(_) => self.invalidate(),
                    None => return Err(sqlx::Error::PoolClosed),
                },
            }
        }
    }
}
