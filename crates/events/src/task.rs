//! The crawl task: what the scheduler asks, and any fetcher answers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::subject::{task_msg_id, task_subject, PageKey};
use crate::DecodeError;

/// Schema version of tasks.
const TASK_VERSION: u32 = 1;

/// Header of a task the scheduler's sweeper put back in the queue (a task
/// the `fetchers` consumer would never deliver again): how many times.
pub const REQUEUES_HEADER: &str = "Pagefeed-Requeues";
/// Header of a requeued task: when its first copy was stored (unix
/// seconds), so that it expires when the first copy would have.
pub const QUEUED_AT_HEADER: &str = "Pagefeed-Queued-At";

/// "Crawl this page", for one time slot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Task {
    /// Schema version, `TASK_VERSION` (1).
    pub v: u32,
    /// Always `"crawl"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub page: PageKey,
    pub url: String,
    /// Start of the scheduling slot, unix seconds; with the page it makes the
    /// message id.
    pub slot: i64,
    /// The same instant, readable.
    pub scheduled_at: DateTime<Utc>,
}

impl Task {
    pub fn new(page: PageKey, url: String, slot: i64) -> Task {
        Task {
            v: TASK_VERSION,
            kind: "crawl".to_owned(),
            page,
            url,
            slot,
            scheduled_at: DateTime::from_timestamp(slot, 0).unwrap_or_default(),
        }
    }

    pub fn subject(&self) -> String {
        task_subject(&self.page)
    }

    pub fn msg_id(&self) -> String {
        task_msg_id(&self.page, self.slot)
    }

    pub fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a task (strings and integers) always serialises")
    }

    /// Decodes a task, refusing other schema versions and types.
    pub fn decode(payload: &[u8]) -> Result<Task, DecodeError> {
        let value = crate::event::versioned_json(payload, TASK_VERSION)?;
        let task: Task =
            serde_json::from_value(value).map_err(|e| DecodeError::Invalid(e.to_string()))?;
        if task.kind != "crawl" {
            return Err(DecodeError::UnknownType(task.kind));
        }
        Ok(task)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_json_is_plain() {
        let task = Task::new(
            "sample.7".parse().unwrap(),
            "http://x/7".into(),
            1_764_000_000,
        );
        let json: serde_json::Value = serde_json::from_slice(&task.encode()).unwrap();
        assert_eq!(json["v"], 1);
        assert_eq!(json["type"], "crawl");
        assert_eq!(json["page"], "sample.7");
        assert_eq!(json["scheduled_at"], "2025-11-24T16:00:00Z");
        assert_eq!(Task::decode(&task.encode()).unwrap(), task);
    }

    #[test]
    fn other_versions_are_refused() {
        let text = br#"{"v":2,"type":"crawl","page":"a.1","url":"u","slot":0,"scheduled_at":"1970-01-01T00:00:00Z"}"#;
        assert_eq!(Task::decode(text), Err(DecodeError::UnsupportedVersion(2)));
    }
}
