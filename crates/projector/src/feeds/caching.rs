//! HTTP caching of feeds: a feed's validators ([`Validators`]: an ETag that
//! is a digest of what it holds, a `Last-Modified`), the conditional
//! request check ([`Conditions`], RFC 9110 13.1), and [`ValidatorCache`],
//! which keeps each feed's validators as of an applied sequence, so that
//! polling a replica that has not moved reads nothing but that sequence.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use data_encoding::BASE64URL_NOPAD;
use headers::{ETag, HeaderMapExt as _, IfModifiedSince, IfNoneMatch, LastModified};
use sha2::{Digest as _, Sha256};

use super::content::FeedContent;
use super::format::FeedFormat;
use super::target::FeedTarget;

/// What tells one version of a feed from another, whatever its format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Validators {
    /// SHA-256 of the feed's content (its JSON): what every format writes.
    digest: [u8; 32],
    /// The latest `last_seen` of its entries.
    last_modified: Option<DateTime<Utc>>,
}

impl Validators {
    pub(super) fn of(content: &FeedContent) -> Validators {
        let mut hasher = Sha256::new();
        // Plain strings and times: it always serialises.
        let _ = serde_json::to_writer(&mut hasher, content);
        Validators {
            digest: hasher.finalize().into(),
            last_modified: content.last_modified,
        }
    }

    /// The ETag of the feed in `format`: the same on every node that holds
    /// the same entries.
    pub(super) fn etag(&self, format: FeedFormat) -> String {
        format!(
            "\"{}-{}\"",
            BASE64URL_NOPAD.encode(&self.digest[..18]),
            format.name()
        )
    }

    /// `Last-Modified`, at the second HTTP dates have; none for a feed
    /// with no entries.
    pub(super) fn last_modified(&self) -> Option<LastModified> {
        self.last_modified
            .map(|t| LastModified::from(SystemTime::from(t)))
    }
}

/// A request's `If-None-Match` and `If-Modified-Since` (a malformed one
/// counts as absent).
#[derive(Debug)]
pub(super) struct Conditions {
    if_none_match: Option<IfNoneMatch>,
    if_modified_since: Option<IfModifiedSince>,
}

impl Conditions {
    pub(super) fn of(headers: &HeaderMap) -> Conditions {
        Conditions {
            if_none_match: headers.typed_get(),
            if_modified_since: headers.typed_get(),
        }
    }

    /// Whether the client's copy is current, so the answer is 304: by
    /// `If-None-Match` when it is sent, else by `If-Modified-Since`
    /// (RFC 9110 13.2.2).
    pub(super) fn not_modified(&self, v: &Validators, format: FeedFormat) -> bool {
        if let Some(tags) = &self.if_none_match {
            return match v.etag(format).parse::<ETag>() {
                Ok(etag) => !tags.precondition_passes(&etag),
                Err(_) => false,
            };
        }
        match (&self.if_modified_since, v.last_modified) {
            (Some(since), Some(t)) => !since.is_modified(SystemTime::from(t)),
            _ => false,
        }
    }
}

/// How many feeds' validators are kept; past it they are all forgotten
/// (searches are many, and each is a feed).
const MAX_KEPT: usize = 1024;

/// Each feed's validators as of the applied sequence its content was read
/// at. The replica is a function of that sequence, so while it has not
/// moved the feed has not changed either.
#[derive(Debug, Default)]
pub struct ValidatorCache {
    kept: Mutex<HashMap<FeedTarget, (u64, Validators)>>,
}

impl ValidatorCache {
    /// `target`'s validators if they were computed at `seq`.
    pub(super) fn get(&self, target: &FeedTarget, seq: u64) -> Option<Validators> {
        let kept = self.lock();
        kept.get(target)
            .filter(|(at, _)| *at == seq)
            .map(|(_, v)| *v)
    }

    /// Keeps `target`'s validators, computed at `seq`.
    pub(super) fn put(&self, target: FeedTarget, seq: u64, v: Validators) {
        let mut kept = self.lock();
        if kept.len() >= MAX_KEPT && !kept.contains_key(&target) {
            kept.clear();
        }
        kept.insert(target, (seq, v));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<FeedTarget, (u64, Validators)>> {
        // A map of plain values cannot be left half-written.
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
