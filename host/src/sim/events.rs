//! Watch events of one cluster: the bounded history that watches resume from, and
//! the broadcast channel that delivers new events to open watches.
//!
//! Every stored write records one event under the store's write lock, so the
//! history is in resourceVersion order and a watch that subscribes under the read
//! lock receives every later event exactly once.

use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::Value;
use tokio::sync::broadcast;

use super::resources::ResourceId;

/// Events kept per cluster for watches that resume from a resourceVersion. Older
/// events are dropped, as etcd compaction drops old revisions.
pub(crate) const HISTORY_CAPACITY: usize = 1000;

/// Events buffered per open watch before a slow watcher is closed with 410 Expired.
const BROADCAST_CAPACITY: usize = 1024;

/// Type of a watch event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EventType {
    /// An object was created.
    Added,
    /// An object changed.
    Modified,
    /// An object was removed.
    Deleted,
}

impl EventType {
    /// Returns the name used in the `type` field of watch events.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Added => "ADDED",
            Self::Modified => "MODIFIED",
            Self::Deleted => "DELETED",
        }
    }
}

/// One change of one object.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredEvent {
    /// resourceVersion of the change, also set in the object's metadata.
    pub(crate) revision: u64,
    /// Kind of change.
    pub(crate) event_type: EventType,
    /// Resource of the object.
    pub(crate) resource: ResourceId,
    /// Namespace of the object, `""` when cluster-scoped.
    pub(crate) namespace: String,
    /// The object after the change, or as it was when deleted.
    pub(crate) object: Value,
    /// The object before a modification, which selector-filtered watches need.
    pub(crate) previous: Option<Value>,
}

/// A watch that asked for a resourceVersion older than the history keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Expired {
    /// resourceVersion the client asked for.
    pub(crate) requested: u64,
    /// Oldest resourceVersion a watch can start from.
    pub(crate) oldest: u64,
}

/// The bounded event history and the broadcast channel of one cluster.
pub(crate) struct EventLog {
    history: VecDeque<Arc<StoredEvent>>,
    /// Oldest resourceVersion a watch may resume from: every event after it is in
    /// `history`.
    oldest: u64,
    sender: broadcast::Sender<Arc<StoredEvent>>,
}

impl Default for EventLog {
    fn default() -> Self {
        Self {
            history: VecDeque::new(),
            oldest: 0,
            sender: broadcast::channel(BROADCAST_CAPACITY).0,
        }
    }
}

impl EventLog {
    /// Appends an event, drops the oldest one when the history is full, and sends
    /// the event to open watches.
    pub(crate) fn record(&mut self, event: StoredEvent) {
        let event = Arc::new(event);
        if self.history.len() == HISTORY_CAPACITY
            && let Some(dropped) = self.history.pop_front()
        {
            self.oldest = dropped.revision;
        }
        self.history.push_back(event.clone());
        // Sending fails only when no watch is open, so no receiver misses the event.
        let _ = self.sender.send(event);
    }

    /// Drops the whole history, so that watches can resume only from `revision` on.
    pub(crate) fn compact(&mut self, revision: u64) {
        self.history.clear();
        self.oldest = revision;
    }

    /// Returns the oldest resourceVersion a watch or a continue token may use.
    pub(crate) fn oldest(&self) -> u64 {
        self.oldest
    }

    /// Returns the events after `revision`, or [`Expired`] when some were dropped.
    pub(crate) fn since(&self, revision: u64) -> Result<Vec<Arc<StoredEvent>>, Expired> {
        if revision < self.oldest {
            return Err(Expired {
                requested: revision,
                oldest: self.oldest,
            });
        }
        let events = self
            .history
            .iter()
            .filter(|event| event.revision > revision)
            .cloned()
            .collect();
        Ok(events)
    }

    /// Subscribes to events recorded from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<StoredEvent>> {
        self.sender.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn event(revision: u64) -> StoredEvent {
        StoredEvent {
            revision,
            event_type: EventType::Added,
            resource: ResourceId {
                group: "",
                plural: "configmaps",
            },
            namespace: "default".into(),
            object: json!({}),
            previous: None,
        }
    }

    #[test]
    fn history_is_bounded() {
        let mut log = EventLog::default();
        for revision in 1..=(HISTORY_CAPACITY as u64 + 5) {
            log.record(event(revision));
        }
        assert_eq!(log.oldest(), 5);
        assert!(log.since(4).is_err());
        assert_eq!(log.since(5).unwrap().len(), HISTORY_CAPACITY);
    }

    #[test]
    fn compaction_expires_older_versions() {
        let mut log = EventLog::default();
        log.record(event(1));
        log.record(event(2));
        assert_eq!(log.since(1).unwrap().len(), 1);
        log.compact(2);
        assert_eq!(
            log.since(1),
            Err(Expired {
                requested: 1,
                oldest: 2
            })
        );
        assert!(log.since(2).unwrap().is_empty());
    }
}
