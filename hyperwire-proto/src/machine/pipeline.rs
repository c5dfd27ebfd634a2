//! The FIFO of responses the server still owes, grouped by Sync.
//!
//! Each request is a contiguous run of steps, one per message that gets an answer.
//! This module keeps the FIFO; `route.rs` says which pending request a server
//! message belongs to, and `dispatch.rs` what the message does to that step.

use alloc::collections::{BTreeSet, VecDeque};
use alloc::sync::Arc;

use crate::machine::event::{RequestId, ResultFormats};

/// The answer a step waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum StepKind {
    /// Query: any results, then ReadyForQuery.
    SimpleQuery { formats: Arc<ResultFormats> },
    /// ParseComplete.
    Parse,
    /// BindComplete.
    Bind,
    /// ParameterDescription, then RowDescription or NoData.
    DescribeStatement,
    /// RowDescription or NoData.
    DescribePortal { formats: Arc<ResultFormats> },
    /// Rows, then CommandComplete, EmptyQueryResponse or PortalSuspended.
    Execute { formats: Arc<ResultFormats> },
    /// CloseComplete.
    Close,
    /// ReadyForQuery.
    Sync,
}

impl StepKind {
    pub(crate) fn expecting(&self) -> &'static str {
        match self {
            StepKind::SimpleQuery { .. } => "results of a simple Query",
            StepKind::Parse => "ParseComplete",
            StepKind::Bind => "BindComplete",
            StepKind::DescribeStatement => "ParameterDescription",
            StepKind::DescribePortal { .. } => "RowDescription or NoData",
            StepKind::Execute { .. } => "rows or the end of an Execute",
            StepKind::Close => "CloseComplete",
            StepKind::Sync => "ReadyForQuery",
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub(crate) request: RequestId,
    pub(crate) kind: StepKind,
    /// The request's final step: its `Done` follows this step's answer.
    pub(crate) last: bool,
    /// The receive-stream position when the request was made: an answer cannot
    /// start before it (the server had not seen the request).
    pub(crate) fence: u64,
}

/// The pending steps, and which requests were abandoned. (What the machine
/// remembers about the step being answered lives in `State`.)
#[derive(Debug, Default)]
pub(crate) struct Pipeline {
    steps: VecDeque<Step>,
    next_id: u64,
    abandoned: BTreeSet<RequestId>,
    /// Messages drained for abandoned requests since the set was last empty.
    pub(crate) drained: u64,
    /// The fence of the request being built (see [`Step::fence`]).
    pub(crate) fence: u64,
}

impl Pipeline {
    pub(crate) fn next_id(&self) -> RequestId {
        RequestId(self.next_id)
    }

    pub(crate) fn mark(&self) -> usize {
        self.steps.len()
    }

    pub(crate) fn rollback(&mut self, mark: usize) {
        self.steps.truncate(mark);
    }

    /// Adds the steps of the request being built (ids are taken at commit).
    pub(crate) fn push(&mut self, kind: StepKind) {
        let request = self.next_id();
        self.steps.push_back(Step {
            request,
            kind,
            last: false,
            fence: self.fence,
        });
    }

    /// Seals the request built since `mark`, returning its id.
    pub(crate) fn commit(&mut self, mark: usize) -> Option<RequestId> {
        if self.steps.len() <= mark {
            return None;
        }
        if let Some(last) = self.steps.back_mut() {
            last.last = true;
        }
        let id = self.next_id();
        self.next_id += 1;
        Some(id)
    }

    pub(crate) fn front(&self) -> Option<&Step> {
        self.steps.front()
    }

    pub(crate) fn pop(&mut self) -> Option<Step> {
        let step = self.steps.pop_front()?;
        if step.last {
            self.abandoned.remove(&step.request);
            if self.abandoned.is_empty() {
                self.drained = 0;
            }
        }
        Some(step)
    }

    /// Queues a step again (COPY IN re-sends the Sync the server swallowed; at that
    /// point only the COPY step itself is pending, so the back is right behind it).
    pub(crate) fn push_back_step(&mut self, step: Step) {
        self.steps.push_back(step);
    }

    /// Removes and returns the step after the front one, if it is the only one and it
    /// is a Sync. `Err` if other steps follow.
    pub(crate) fn take_trailing_sync(&mut self) -> Result<Option<Step>, ()> {
        match self.steps.len() {
            0 | 1 => Ok(None),
            2 if matches!(self.steps.get(1).map(|s| &s.kind), Some(StepKind::Sync)) => {
                Ok(self.steps.pop_back())
            }
            _ => Err(()),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.steps.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }

    pub(crate) fn contains(&self, id: RequestId) -> bool {
        self.steps.iter().any(|s| s.request == id)
    }

    pub(crate) fn abandon(&mut self, id: RequestId) -> bool {
        if self.contains(id) {
            self.abandoned.insert(id);
            true
        } else {
            false
        }
    }

    #[inline]
    pub(crate) fn any_abandoned(&self) -> bool {
        !self.abandoned.is_empty()
    }

    #[inline]
    pub(crate) fn is_abandoned(&self, id: RequestId) -> bool {
        !self.abandoned.is_empty() && self.abandoned.contains(&id)
    }
}
