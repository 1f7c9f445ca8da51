//! Watches: `watch=true` (or `1`) on a list path streams newline-delimited JSON
//! events (`ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK`, `ERROR`), one chunk each.
//!
//! Without a resourceVersion (or with `0`) the stream starts with an ADDED event
//! per stored object. With one, it starts with the recorded events after it. A
//! resourceVersion older than the history gets one ERROR event with a 410 Expired
//! Status inside a 200 response, as kube-apiserver sends it, because clients such
//! as kube's watcher relist on that event but retry an HTTP 410 forever. Label and
//! field selectors apply to each event: an object that stops matching arrives as
//! DELETED and one that starts matching as ADDED. Streams close after
//! `timeoutSeconds`, when the client goes away, or at fleet shutdown.
//! NOTE: `sendInitialEvents` (streaming lists) is not supported; clients fall back
//! to list then watch.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};

use super::api::{ApiRequest, Reply, Target};
use super::cluster::{Cluster, OpenWatch};
use super::events::{EventType, Expired, StoredEvent};
use super::fields::FieldSelector;
use super::object;
use super::read::{Representation, negotiate, with_type};
use super::resources::ResourceType;
use super::selector::LabelSelector;
use super::status::{ApiError, ApiResult};
use super::table::{self, IncludeObject};

/// Stream length when the request sets no `timeoutSeconds`. kube-apiserver picks a
/// random time between 30 and 60 minutes; the simulator uses the lower bound.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Interval between BOOKMARK events when the client allows them. kube-apiserver
/// sends them about once a minute; the simulator sends them every second so that
/// short tests and benchmarks see them.
const BOOKMARK_INTERVAL: Duration = Duration::from_secs(1);

/// Events buffered between the watch task and the HTTP connection.
const CHANNEL_CAPACITY: usize = 16;

/// Starts a watch of `target` and returns the streaming reply.
pub(crate) fn start(cluster: &Cluster, request: &ApiRequest, target: &Target) -> ApiResult<Reply> {
    let options = WatchOptions::parse(request, target.resource)?;
    let (sender, receiver) = mpsc::channel(CHANNEL_CAPACITY);
    let start = cluster
        .store
        .watch(target.resource, target.namespace.as_deref(), options.from);
    let mut stream = WatchStream {
        resource: target.resource,
        namespace: target.namespace.clone(),
        options,
        sender,
        last_seen: 0,
        event_delay: cluster.faults().watch_delay,
        _open: cluster.counters.record_watch(),
    };
    tracing::debug!(cluster = %cluster.name, resource = target.resource.plural, namespace = ?target.namespace, "watch started");
    let stop = cluster.store.stop_signal();
    tokio::spawn(async move {
        match start {
            Ok(start) => {
                stream.last_seen = start.revision;
                stream.run(start.initial, start.receiver, stop).await;
            }
            Err(expired) => stream.send_expired(expired).await,
        }
    });
    Ok(Reply::Stream(receiver))
}

/// Query parameters of a watch.
struct WatchOptions {
    from: Option<u64>,
    timeout: Duration,
    bookmarks: bool,
    labels: LabelSelector,
    fields: FieldSelector,
    representation: Representation,
    include: IncludeObject,
}

impl WatchOptions {
    fn parse(request: &ApiRequest, resource: &'static ResourceType) -> ApiResult<Self> {
        let query = &request.query;
        let from = match query.text("resourceVersion") {
            "" | "0" => None,
            text => Some(text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid resourceVersion \"{text}\": must be an integer"
                ))
            })?),
        };
        let timeout = match query.text("timeoutSeconds") {
            "" => DEFAULT_TIMEOUT,
            text => Duration::from_secs(text.parse::<u64>().map_err(|_| {
                ApiError::bad_request(format!(
                    "invalid timeoutSeconds \"{text}\": must be a non-negative integer"
                ))
            })?),
        };
        Ok(Self {
            from,
            timeout,
            bookmarks: query.flag("allowWatchBookmarks"),
            labels: LabelSelector::parse(query.text("labelSelector"))
                .map_err(|error| ApiError::bad_request(error.to_string()))?,
            fields: FieldSelector::parse(query.text("fieldSelector"), resource)
                .map_err(|error| ApiError::bad_request(error.to_string()))?,
            representation: negotiate(&request.accept),
            include: IncludeObject::parse(query.text("includeObject")),
        })
    }

    fn matches(&self, object: &Value) -> bool {
        self.labels.matches(&object::labels(object)) && self.fields.matches(object)
    }
}

/// Resolves once the store signals open watches to end.
async fn stopped(stop: &mut tokio::sync::watch::Receiver<bool>) {
    // The guard `wait_for` returns is not `Send`, so it must not outlive this call.
    let _ = stop.wait_for(|stop| *stop).await;
}

/// The task side of one watch stream.
struct WatchStream {
    resource: &'static ResourceType,
    namespace: Option<String>,
    options: WatchOptions,
    sender: mpsc::Sender<Bytes>,
    /// Highest resourceVersion this stream has seen, which bookmarks report.
    last_seen: u64,
    /// Injected delay before each event.
    event_delay: Duration,
    _open: OpenWatch,
}

impl WatchStream {
    /// Sends the initial events, then live ones until the stream ends.
    async fn run(
        mut self,
        initial: Vec<Arc<StoredEvent>>,
        mut live: broadcast::Receiver<Arc<StoredEvent>>,
        mut stop: tokio::sync::watch::Receiver<bool>,
    ) {
        for event in initial {
            if !self.forward(&event).await {
                return;
            }
        }
        let deadline = tokio::time::sleep(self.options.timeout);
        tokio::pin!(deadline);
        let mut bookmarks = tokio::time::interval(BOOKMARK_INTERVAL);
        bookmarks.tick().await;
        loop {
            let open = tokio::select! {
                received = live.recv() => self.receive(received).await,
                _ = bookmarks.tick(), if self.options.bookmarks => self.send_bookmark().await,
                () = &mut deadline => false,
                () = self.sender.closed() => false,
                () = stopped(&mut stop) => false,
            };
            if !open {
                return;
            }
        }
    }

    /// Handles one message from the broadcast channel; returns whether to go on.
    async fn receive(&mut self, received: Result<Arc<StoredEvent>, RecvError>) -> bool {
        match received {
            Ok(event) => self.forward(&event).await,
            Err(RecvError::Lagged(_)) => {
                let expired = Expired {
                    requested: self.last_seen,
                    oldest: self.last_seen + 1,
                };
                self.send_expired(expired).await;
                false
            }
            Err(RecvError::Closed) => false,
        }
    }

    /// Sends a stored event if it passes this watch's filters; returns whether to go on.
    async fn forward(&mut self, event: &StoredEvent) -> bool {
        self.last_seen = self.last_seen.max(event.revision);
        let Some((event_type, object)) = self.visible(event) else {
            return true;
        };
        if !self.event_delay.is_zero() {
            tokio::time::sleep(self.event_delay).await;
        }
        let object = self.represent(object);
        self.send(json!({"type": event_type.as_str(), "object": object}))
            .await
    }

    /// Returns the event type and object this watch sends for `event`, if any.
    fn visible(&self, event: &StoredEvent) -> Option<(EventType, Value)> {
        let in_scope = event.resource == self.resource.id()
            && self
                .namespace
                .as_ref()
                .is_none_or(|namespace| *namespace == event.namespace);
        if !in_scope {
            return None;
        }
        let now = self.options.matches(&event.object);
        let before = event
            .previous
            .as_ref()
            .is_some_and(|previous| self.options.matches(previous));
        match (event.event_type, before, now) {
            (EventType::Modified, true, true) => Some((EventType::Modified, event.object.clone())),
            (EventType::Modified, false, true) => Some((EventType::Added, event.object.clone())),
            (EventType::Modified, true, false) => {
                let mut removed = event.previous.clone().unwrap_or_default();
                object::set_meta(&mut removed, "resourceVersion", event.revision.to_string());
                Some((EventType::Deleted, removed))
            }
            (EventType::Added | EventType::Deleted, _, true) => {
                Some((event.event_type, event.object.clone()))
            }
            _ => None,
        }
    }

    /// Converts an object to the representation the client asked for.
    fn represent(&self, object: Value) -> Value {
        match self.options.representation {
            Representation::Full => with_type(self.resource, object),
            Representation::Metadata => table::partial_metadata(&object),
            Representation::Table => {
                let metadata =
                    json!({"resourceVersion": object::meta_str(&object, "resourceVersion")});
                table::table(self.resource, &[object], metadata, self.options.include)
            }
        }
    }

    async fn send_bookmark(&mut self) -> bool {
        let object = json!({
            "kind": self.resource.kind,
            "apiVersion": self.resource.api_version(),
            "metadata": {"resourceVersion": self.last_seen.to_string()},
        });
        self.send(json!({"type": "BOOKMARK", "object": object}))
            .await
    }

    async fn send_expired(&mut self, expired: Expired) {
        let message = format!(
            "too old resource version: {} ({})",
            expired.requested, expired.oldest
        );
        tracing::debug!(
            resource = self.resource.plural,
            requested = expired.requested,
            oldest = expired.oldest,
            "watch expired"
        );
        let status = ApiError::expired(message).to_status();
        self.send(json!({"type": "ERROR", "object": status})).await;
    }

    /// Sends one event as a line; returns false when the client has gone.
    async fn send(&self, event: Value) -> bool {
        let mut line = event.to_string();
        line.push('\n');
        self.sender.send(Bytes::from(line)).await.is_ok()
    }
}
