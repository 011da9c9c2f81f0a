//! Cached catalogue reads. Catalogue reads dominate the shop, so rendered JSON
//! is kept in memory per query and dropped on every change: each write
//! announces itself with `NOTIFY catalogue_changed` in its transaction, and
//! every replica's listener bumps its generation when it hears one. While the
//! listener is disconnected the cache is bypassed, so no replica serves stale
//! stock for longer than a notification takes.

use std::collections::HashMap;
use std::hash::Hasher;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::HeaderValue;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

pub const CHANNEL: &str = "catalogue_changed";
const MAX_ENTRIES: usize = 10_000;

#[derive(Debug, Default)]
pub struct CatalogueCache {
    enabled: AtomicBool,
    generation: AtomicU64,
    entries: Mutex<HashMap<String, (u64, Cached)>>,
}

/// A rendered catalogue read and its entity tag.
#[derive(Debug, Clone)]
pub struct Cached {
    pub body: Bytes,
    pub etag: HeaderValue,
}

impl Cached {
    /// The tag is a hash of the body, so every replica tags the same body
    /// alike and a caller's `If-None-Match` can be answered 304 by any of
    /// them. It is std's SipHash: another build of the service may tag the
    /// same body otherwise, which costs that caller one full answer, never a
    /// stale one.
    pub fn new(body: Bytes) -> Self {
        let mut hasher = std::hash::DefaultHasher::new();
        hasher.write(&body);
        let tag = format!("\"{:016x}-{:x}\"", hasher.finish(), body.len());
        let etag = HeaderValue::from_str(&tag).unwrap_or_else(|_| HeaderValue::from_static("\"0\""));
        Self { body, etag }
    }

    /// Whether an `If-None-Match` header names this body (a weak
    /// comparison, as RFC 9110 asks for `If-None-Match`; `*` names any).
    pub fn matches(&self, if_none_match: Option<&HeaderValue>) -> bool {
        let Some(listed) = if_none_match.and_then(|v| v.to_str().ok()) else {
            return false;
        };
        let ours = self.etag.to_str().unwrap_or_default();
        listed
            .split(',')
            .map(str::trim)
            .any(|tag| tag == "*" || tag.strip_prefix("W/").unwrap_or(tag) == ours)
    }
}

impl CatalogueCache {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// The cached body for `key`, if it is from the current generation.
    pub fn get(&self, key: &str) -> Option<Cached> {
        if !self.enabled.load(Ordering::Acquire) {
            return None;
        }
        let generation = self.generation.load(Ordering::Acquire);
        let entries = self.entries.lock().ok()?;
        match entries.get(key) {
            Some((stored, cached)) if *stored == generation => Some(cached.clone()),
            _ => None,
        }
    }

    /// The generation to pass to [`Self::put`]: read it before querying, so a
    /// change that lands during the query makes the result stale, not cached.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    pub fn put(&self, key: String, generation: u64, cached: Cached) {
        if !self.enabled.load(Ordering::Acquire) {
            return;
        }
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(key, (generation, cached));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tag_follows_the_body_and_if_none_match_compares_weakly() {
        let page = Cached::new(Bytes::from_static(b"{\"items\":[]}"));
        let same = Cached::new(Bytes::from_static(b"{\"items\":[]}"));
        let other = Cached::new(Bytes::from_static(b"{\"items\":[1]}"));
        assert_eq!(page.etag, same.etag);
        assert_ne!(page.etag, other.etag);
        let tag = page.etag.to_str().expect("ascii").to_owned();
        assert!(tag.starts_with('"') && tag.ends_with('"'), "{tag}");
        let header = |value: &str| HeaderValue::from_str(value).expect("header");
        for named in [
            tag.clone(),
            format!("W/{tag}"),
            format!("\"x\", {tag}"),
            "*".into(),
        ] {
            assert!(page.matches(Some(&header(&named))), "{named}");
        }
        let others = ["\"x\"", "", "W/\"x\"", &tag[1..]];
        for unnamed in others {
            assert!(!page.matches(Some(&header(unnamed))), "{unnamed}");
        }
        assert!(!page.matches(None));
    }
}
