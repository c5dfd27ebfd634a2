//! [`Notifications`]: a `Stream` of the NOTIFY messages a [`crate::Client`]'s
//! driver receives, idle or not. Each stream has its own bounded queue; when it
//! is full, newer notifications are dropped and counted. The stream ends with an
//! error when the connection is lost, and plainly when the driver finishes.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use futures_core::Stream;
use hyperwire_proto::inbox::Notification;

use crate::error::Error;

/// How many notifications a stream holds before it drops new ones.
pub const DEFAULT_NOTIFICATION_CAPACITY: usize = 1024;

/// How the driver stopped.
#[derive(Debug, Clone)]
enum End {
    /// Every client was dropped and the driver finished.
    Finished,
    /// The connection failed (the reason).
    Lost(String),
}

#[derive(Debug, Default)]
struct State {
    queued: VecDeque<Notification>,
    capacity: usize,
    dropped: u64,
    waker: Option<Waker>,
    end: Option<End>,
    /// The end was reported to the reader.
    reported: bool,
}

#[derive(Debug, Default)]
struct Queue(Mutex<State>);

impl Queue {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind: keep going.
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Debug, Default)]
struct Streams {
    queues: Vec<Arc<Queue>>,
    end: Option<End>,
}

/// The streams that want notifications; the driver and the clients share it.
#[derive(Debug, Default, Clone)]
pub(crate) struct Subscribers(Arc<Mutex<Streams>>);

impl Subscribers {
    fn list(&self) -> MutexGuard<'_, Streams> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A new stream, receiving from now on.
    pub(crate) fn subscribe(&self, capacity: usize) -> Notifications {
        let queue = Arc::new(Queue::default());
        queue.lock().capacity = capacity.max(1);
        let mut list = self.list();
        list.queues.retain(|q| Arc::strong_count(q) > 1);
        // A stream subscribed after the end ends at once.
        queue.lock().end.clone_from(&list.end);
        list.queues.push(Arc::clone(&queue));
        Notifications { queue }
    }

    /// Hands a notification to every live stream (dropped ones are forgotten).
    pub(crate) fn deliver(&self, n: Notification) {
        let mut list = self.list();
        list.queues.retain(|q| Arc::strong_count(q) > 1);
        for q in list.queues.iter() {
            let mut s = q.lock();
            if s.queued.len() >= s.capacity {
                s.dropped += 1;
                continue;
            }
            s.queued.push_back(n.clone());
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }

    /// Ends every stream: `lost` is the reason the connection failed.
    pub(crate) fn end(&self, lost: Option<String>) {
        let end = match lost {
            Some(reason) => End::Lost(reason),
            None => End::Finished,
        };
        let mut list = self.list();
        list.end.get_or_insert_with(|| end.clone());
        for q in list.queues.iter() {
            let mut s = q.lock();
            s.end.get_or_insert_with(|| end.clone());
            if let Some(w) = s.waker.take() {
                w.wake();
            }
        }
    }
}

/// NOTIFY messages as they arrive (from [`crate::Client::notifications`]).
///
/// Yields `Ok(notification)`; when the connection is lost, one
/// `Err(Error::ConnectionLost(_))` and then the end; when the driver finishes
/// normally, just the end.
#[derive(Debug)]
pub struct Notifications {
    queue: Arc<Queue>,
}

impl Notifications {
    /// How many notifications this stream dropped because its queue was full.
    pub fn dropped(&self) -> u64 {
        self.queue.lock().dropped
    }

    /// A notification already received, without waiting.
    pub fn try_next(&mut self) -> Option<Notification> {
        self.queue.lock().queued.pop_front()
    }
}

impl Stream for Notifications {
    type Item = Result<Notification, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut s = self.queue.lock();
        if let Some(n) = s.queued.pop_front() {
            return Poll::Ready(Some(Ok(n)));
        }
        match s.end.clone() {
            None => {
                s.waker = Some(cx.waker().clone());
                Poll::Pending
            }
            Some(_) if s.reported => Poll::Ready(None),
            Some(End::Finished) => {
                s.reported = true;
                Poll::Ready(None)
            }
            Some(End::Lost(reason)) => {
                s.reported = true;
                Poll::Ready(Some(Err(Error::ConnectionLost(reason))))
            }
        }
    }
}
