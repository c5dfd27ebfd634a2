//! What the server says outside any request: notifications and notices, kept in
//! bounded queues until the application reads them. Every adapter shares this.

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::collections::VecDeque;
use alloc::string::String;

use crate::machine::Event;
use crate::server_error::ServerError;

/// A LISTEN notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// The notifying backend's process id.
    pub process_id: u32,
    /// The channel.
    pub channel: String,
    /// The payload.
    pub payload: String,
}

/// Called with every notice or warning (instead of queuing it).
pub type NoticeHandler = Box<dyn FnMut(&ServerError) + Send>;

/// Notifications kept while nobody reads them; older ones are dropped and counted.
pub const MAX_QUEUED_NOTIFICATIONS: usize = 10_000;
/// Notices kept while nobody reads them.
pub const MAX_QUEUED_NOTICES: usize = 256;

/// The bounded queues of notifications and notices.
#[derive(Default)]
pub struct Inbox {
    notifications: VecDeque<Notification>,
    dropped_notifications: u64,
    notices: VecDeque<ServerError>,
    notice_handler: Option<NoticeHandler>,
}

impl core::fmt::Debug for Inbox {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Inbox")
            .field("notifications", &self.notifications.len())
            .field("dropped_notifications", &self.dropped_notifications)
            .field("notices", &self.notices.len())
            .finish()
    }
}

impl Inbox {
    /// Keeps `ev` if it is a notification or a notice; `false` for any other event.
    #[inline]
    pub fn take(&mut self, ev: &Event<'_>) -> bool {
        // Inlined so that the check costs a compare for every row of a result.
        match ev {
            Event::Notification { .. } | Event::Notice(_) => self.keep(ev),
            _ => false,
        }
    }

    #[inline(never)]
    fn keep(&mut self, ev: &Event<'_>) -> bool {
        match ev {
            Event::Notification {
                process_id,
                channel,
                payload,
            } => {
                if self.notifications.len() >= MAX_QUEUED_NOTIFICATIONS {
                    self.notifications.pop_front();
                    self.dropped_notifications += 1;
                }
                self.notifications.push_back(Notification {
                    process_id: *process_id,
                    channel: (*channel).to_owned(),
                    payload: (*payload).to_owned(),
                });
                true
            }
            Event::Notice(fields) => {
                let notice = ServerError::from_fields(fields);
                match &mut self.notice_handler {
                    Some(handler) => handler(&notice),
                    None => {
                        if self.notices.len() >= MAX_QUEUED_NOTICES {
                            self.notices.pop_front();
                        }
                        self.notices.push_back(notice);
                    }
                }
                true
            }
            _ => false,
        }
    }

    /// The oldest unread notification.
    pub fn pop_notification(&mut self) -> Option<Notification> {
        self.notifications.pop_front()
    }

    /// Every unread notification, oldest first.
    pub fn drain_notifications(&mut self) -> impl Iterator<Item = Notification> + '_ {
        self.notifications.drain(..)
    }

    /// How many notifications were dropped because nobody read them.
    pub fn dropped_notifications(&self) -> u64 {
        self.dropped_notifications
    }

    /// The notices received so far (when no handler is set), oldest first.
    pub fn take_notices(&mut self) -> impl Iterator<Item = ServerError> + '_ {
        self.notices.drain(..)
    }

    /// Sends notices to `handler` as they arrive instead of queuing them.
    pub fn set_notice_handler(&mut self, handler: Option<NoticeHandler>) {
        self.notice_handler = handler;
    }
}
