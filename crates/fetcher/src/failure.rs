//! Why an attempt at a task failed, and what that decides: a transient
//! failure is tried again with a back-off, up to `max_attempts`; a permanent
//! one (another attempt would fail the same way) ends the task at once as a
//! `fetch_failed` event.

use std::time::Duration;

use pagefeed_events::limits::{truncate_to, MAX_DETAIL_BYTES};

use crate::extract::ExtractError;
use crate::http::FetchError;

/// Why an attempt failed: the `reason` of a `fetch_failed` event, and
/// whether another attempt may succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureReason {
    /// The fetch (connect, headers or body) took longer than allowed.
    Timeout,
    /// The host name did not resolve.
    Dns,
    /// No connection to the host.
    Connect,
    /// The server answered with this error status.
    HttpStatus(u16),
    /// The body was over the cap, or an event over the limits of the events
    /// or of the server.
    TooLarge,
    TooManyRedirects,
    /// A redirect the site's address policy refuses.
    BlockedRedirect,
    /// A host resolving only to addresses the site's policy refuses.
    BlockedAddress,
    BadUrl,
    /// The body is not text in the charset it claims.
    Undecodable,
    /// The entry selector matches nothing.
    NoEntries,
    /// Decoding, parsing and extracting took longer than `parse_deadline`.
    ParseTimeout,
    /// The task does not decode, or its subject and page disagree.
    BadTask,
    /// The task names a site this fetcher's config does not have.
    UnknownSite,
    /// The task names a page its site does not have.
    UnknownPage,
    /// The fetch state could not be read.
    State,
    /// The host's robots.txt disallows the page for the fetcher's agent.
    RobotsDisallowed,
    /// The host's robots.txt answered a server error (or 429): RFC 9309
    /// says to take everything as disallowed until it answers.
    RobotsUnavailable,
    Other,
}

impl FailureReason {
    /// The reason as a `fetch_failed` event carries it.
    pub fn as_str(&self) -> &'static str {
        match self {
            FailureReason::Timeout => "timeout",
            FailureReason::Dns => "dns",
            FailureReason::Connect => "connect",
            FailureReason::HttpStatus(_) => "http_status",
            FailureReason::TooLarge => "too_large",
            FailureReason::TooManyRedirects => "too_many_redirects",
            FailureReason::BlockedRedirect => "blocked_redirect",
            FailureReason::BlockedAddress => "blocked_address",
            FailureReason::BadUrl => "bad_url",
            FailureReason::Undecodable => "undecodable",
            FailureReason::NoEntries => "no_entries",
            FailureReason::ParseTimeout => "parse_timeout",
            FailureReason::BadTask => "bad_task",
            FailureReason::UnknownSite => "unknown_site",
            FailureReason::UnknownPage => "unknown_page",
            FailureReason::State => "state",
            FailureReason::RobotsDisallowed => "robots_disallowed",
            FailureReason::RobotsUnavailable => "robots_unavailable",
            FailureReason::Other => "other",
        }
    }

    /// Whether another attempt would fail the same way, so the task ends
    /// after this one: a client error status (4xx but 408 and 429), the
    /// page or the task itself, the address policy, the parse deadline (the
    /// same page takes as long again), a robots.txt that disallows the page.
    /// Timeouts, DNS, connections, 408, 429, 5xx, a robots.txt that answers
    /// a server error, the fetch state and anything unforeseen are transient.
    fn is_permanent(&self) -> bool {
        match self {
            FailureReason::HttpStatus(status) => {
                (400..500).contains(status) && *status != 408 && *status != 429
            }
            FailureReason::TooLarge
            | FailureReason::TooManyRedirects
            | FailureReason::BlockedRedirect
            | FailureReason::BlockedAddress
            | FailureReason::BadUrl
            | FailureReason::Undecodable
            | FailureReason::NoEntries
            | FailureReason::ParseTimeout
            | FailureReason::BadTask
            | FailureReason::UnknownSite
            | FailureReason::UnknownPage
            | FailureReason::RobotsDisallowed => true,
            FailureReason::Timeout
            | FailureReason::Dns
            | FailureReason::Connect
            | FailureReason::State
            | FailureReason::RobotsUnavailable
            | FailureReason::Other => false,
        }
    }

    /// Whether trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        !self.is_permanent()
    }

    /// The HTTP status, for a failure the server answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            FailureReason::HttpStatus(status) => Some(*status),
            _ => None,
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One failed attempt, in the terms of a `fetch_failed` event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub reason: FailureReason,
    /// For people: at most `MAX_DETAIL_BYTES`, and no URL credential.
    pub detail: String,
    /// The server asked to wait this long (429/503 `Retry-After`).
    pub retry_after: Option<Duration>,
}

impl Failure {
    pub fn new(reason: FailureReason, detail: impl Into<String>) -> Failure {
        let mut detail = detail.into();
        truncate_to(&mut detail, MAX_DETAIL_BYTES);
        Failure {
            reason,
            detail,
            retry_after: None,
        }
    }

    /// Whether the task ends after this attempt, whatever attempts are left.
    pub fn is_permanent(&self) -> bool {
        self.reason.is_permanent()
    }
}

impl From<&FetchError> for FailureReason {
    fn from(e: &FetchError) -> FailureReason {
        match e {
            FetchError::BadUrl { .. } => FailureReason::BadUrl,
            FetchError::Timeout { .. } => FailureReason::Timeout,
            FetchError::Dns { .. } => FailureReason::Dns,
            FetchError::Connect { .. } => FailureReason::Connect,
            FetchError::HttpStatus { status, .. } => FailureReason::HttpStatus(*status),
            FetchError::TooLarge { .. } => FailureReason::TooLarge,
            FetchError::TooManyRedirects { .. } => FailureReason::TooManyRedirects,
            FetchError::BlockedRedirect { .. } => FailureReason::BlockedRedirect,
            FetchError::BlockedAddress { .. } => FailureReason::BlockedAddress,
            FetchError::Other { .. } => FailureReason::Other,
        }
    }
}

impl From<FetchError> for Failure {
    fn from(e: FetchError) -> Failure {
        Failure {
            retry_after: e.retry_after(),
            ..Failure::new(FailureReason::from(&e), e.detail())
        }
    }
}

impl From<&ExtractError> for FailureReason {
    fn from(e: &ExtractError) -> FailureReason {
        match e {
            ExtractError::NoEntries { .. } => FailureReason::NoEntries,
            ExtractError::Timeout { .. } => FailureReason::ParseTimeout,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reason_decides_whether_a_task_is_tried_again() {
        use FailureReason as R;
        let permanent = [
            (R::HttpStatus(400), "http_status"),
            (R::HttpStatus(401), "http_status"),
            (R::HttpStatus(403), "http_status"),
            (R::HttpStatus(404), "http_status"),
            (R::HttpStatus(410), "http_status"),
            (R::HttpStatus(451), "http_status"),
            (R::TooLarge, "too_large"),
            (R::TooManyRedirects, "too_many_redirects"),
            (R::BlockedRedirect, "blocked_redirect"),
            (R::BlockedAddress, "blocked_address"),
            (R::BadUrl, "bad_url"),
            (R::Undecodable, "undecodable"),
            (R::NoEntries, "no_entries"),
            (R::ParseTimeout, "parse_timeout"),
            (R::BadTask, "bad_task"),
            (R::UnknownSite, "unknown_site"),
            (R::UnknownPage, "unknown_page"),
            (R::RobotsDisallowed, "robots_disallowed"),
        ];
        let transient = [
            (R::HttpStatus(408), "http_status"),
            (R::HttpStatus(429), "http_status"),
            (R::HttpStatus(500), "http_status"),
            (R::HttpStatus(502), "http_status"),
            (R::HttpStatus(503), "http_status"),
            (R::HttpStatus(504), "http_status"),
            (R::Timeout, "timeout"),
            (R::Dns, "dns"),
            (R::Connect, "connect"),
            (R::State, "state"),
            (R::RobotsUnavailable, "robots_unavailable"),
            (R::Other, "other"),
        ];
        for (reason, wire) in permanent {
            assert_eq!(reason.as_str(), wire);
            assert!(reason.is_permanent(), "{reason:?}");
        }
        for (reason, wire) in transient {
            assert_eq!(reason.as_str(), wire);
            assert!(reason.is_transient(), "{reason:?}");
        }
        // Every reason has its own slot in the projector's counts.
        for (reason, _) in permanent.iter().chain(&transient) {
            let slot = pagefeed_events::event::fetch_failure_slot(reason.as_str());
            assert_eq!(
                pagefeed_events::event::FETCH_FAILURE_REASONS[slot],
                reason.as_str()
            );
        }
    }

    #[test]
    fn a_status_failure_keeps_its_status_and_retry_after() {
        let e = FetchError::HttpStatus {
            status: 503,
            retry_after: Some(Duration::from_secs(1)),
        };
        let failure = Failure::from(e);
        assert_eq!(failure.reason, FailureReason::HttpStatus(503));
        assert_eq!(failure.reason.status(), Some(503));
        assert_eq!(failure.retry_after, Some(Duration::from_secs(1)));
        assert!(!failure.is_permanent());
        assert_eq!(FailureReason::Timeout.status(), None);
    }

    #[test]
    fn a_long_detail_is_cut_to_the_limit() {
        let failure = Failure::new(FailureReason::Other, "x".repeat(2 * MAX_DETAIL_BYTES));
        assert!(failure.detail.len() <= MAX_DETAIL_BYTES);
    }
}
