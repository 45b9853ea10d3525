//! One window of a list answer: at most so many items, and so many bytes of
//! their JSON, with where the next window starts.

use serde::Serialize;

/// How much one list answer may hold: at most `limit` items and, after
/// its first item, at most `max_bytes` of their JSON.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub limit: usize,
    pub max_bytes: usize,
}

impl Window {
    /// Everything.
    pub fn all() -> Window {
        Window {
            limit: usize::MAX,
            max_bytes: usize::MAX,
        }
    }

    /// `limit` items, whatever their size.
    pub fn entries(limit: usize) -> Window {
        Window {
            limit,
            max_bytes: usize::MAX,
        }
    }
}

/// One window of a list: its items, and where the next window starts if
/// more may follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed<T, P> {
    pub items: Vec<T>,
    /// The last position this answer covered, to continue after; `None`
    /// when the list ended.
    pub next: Option<P>,
    /// The answer stopped short of its limit (its byte or work budget ran
    /// out) though more may follow.
    pub partial: bool,
}

/// Gathers a [`Listed`] within a [`Window`].
pub(super) struct Collector<T, P> {
    window: Window,
    items: Vec<T>,
    bytes: usize,
    last: Option<P>,
    next: Option<P>,
    partial: bool,
}

impl<T: Serialize, P> Collector<T, P> {
    pub(super) fn new(window: Window) -> Collector<T, P> {
        Collector {
            window,
            items: Vec::new(),
            bytes: 0,
            last: None,
            next: None,
            partial: false,
        }
    }

    /// Adds `item`, at position `at`, if it fits the byte budget (the
    /// first item always does); else the list stops before it, partial.
    pub(super) fn push(&mut self, item: T, at: P) -> bool {
        let size = json_len(&item) + 1;
        if !self.items.is_empty() && self.bytes.saturating_add(size) > self.window.max_bytes {
            self.next = self.last.take();
            self.partial = true;
            return false;
        }
        self.bytes = self.bytes.saturating_add(size);
        self.items.push(item);
        self.last = Some(at);
        true
    }

    pub(super) fn is_full(&self) -> bool {
        self.items.len() >= self.window.limit
    }

    /// More follows the last item.
    pub(super) fn more(&mut self) {
        self.next = self.last.take();
    }

    /// The work budget ran out at `at` (at or after the last item).
    pub(super) fn out_of_budget(&mut self, at: P) {
        self.next = Some(at);
        self.partial = true;
    }

    pub(super) fn finish(self) -> Listed<T, P> {
        Listed {
            items: self.items,
            next: self.next,
            partial: self.partial,
        }
    }
}

/// The length of `value`'s JSON, without building it.
fn json_len<T: Serialize>(value: &T) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Rows are plain structs of strings, integers and timestamps: they
    // always serialise.
    let _ = serde_json::to_writer(&mut count, value);
    count.0
}
