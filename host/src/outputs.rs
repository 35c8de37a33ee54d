//! The output buffer of one actor and the stream that reads it.
//!
//! Envelopes an actor emits without a request (`Context::emit`, or
//! `Context::reply` to a fire-and-forget message) carry the OUTPUT flag. The
//! poller moves them from the actor's outbox ring into this buffer; an
//! [`OutputStream`] reads them in order.
//!
//! ## When nobody drains the outputs
//!
//! The buffer holds up to `LaunchOptions::output_capacity` outputs (default
//! 1024) and behaves in one of two ways:
//!
//! | live `OutputStream`s | buffer full | effect |
//! | --- | --- | --- |
//! | none | the oldest buffered output is dropped and counted in [`HostStats::outputs_dropped`](crate::HostStats) | an actor whose outputs nobody reads never stalls |
//! | one or more | **backpressure**: the poller leaves this actor's envelopes in its outbox ring until a stream takes an output; when the ring fills the actor waits in its send loop | lossless; but replies queued behind the outputs wait too, so a stream that is held and not read can make requests time out |
//!
//! Outputs are buffered from launch, so a stream opened later still sees the
//! (most recent) outputs emitted before it. Several streams of one actor
//! share the buffer: each output goes to exactly one of them. When the actor
//! has stopped and its last outputs are buffered, streams end (`None`).

use crate::poller::PollerCtl;
use crate::sync::lock;
use ringkernel_shared::Envelope;
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};

#[derive(Debug, Default)]
struct Inner {
    buf: VecDeque<Envelope>,
    wakers: Vec<Waker>,
    closed: bool,
}

/// The output buffer of one actor (see the module docs).
#[derive(Debug)]
pub(crate) struct OutputQueue {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Mirror of `inner.buf.len()`, read by the poller without the lock.
    len: AtomicUsize,
    /// Live `OutputStream`s.
    streams: AtomicUsize,
    dropped: AtomicU64,
    delivered: AtomicU64,
    poller: Arc<PollerCtl>,
}

impl OutputQueue {
    pub(crate) fn new(capacity: usize, poller: Arc<PollerCtl>) -> Self {
        Self {
            inner: Mutex::new(Inner::default()),
            capacity,
            len: AtomicUsize::new(0),
            streams: AtomicUsize::new(0),
            dropped: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            poller,
        }
    }

    /// How many outputs the poller may move in now without dropping any:
    /// `None` when no stream is live (then it drops the oldest instead of
    /// waiting). Only the poller adds outputs, so the answer stays valid
    /// until it does.
    pub(crate) fn room(&self) -> Option<usize> {
        if self.streams.load(Ordering::Acquire) == 0 {
            None
        } else {
            Some(self.capacity.saturating_sub(self.len.load(Ordering::Acquire)))
        }
    }

    /// Append outputs (poller only). Drops the oldest when over capacity and
    /// no stream is live; with a live stream the poller checked [`Self::room`]
    /// first, except in the final drain of a stopped actor, which may exceed
    /// the capacity by at most one outbox ring.
    pub(crate) fn push_batch(&self, envs: &[Envelope]) {
        if envs.is_empty() {
            return;
        }
        let wakers = {
            let mut inner = lock(&self.inner);
            let streams = self.streams.load(Ordering::Acquire);
            for env in envs {
                if inner.buf.len() >= self.capacity && streams == 0 {
                    inner.buf.pop_front();
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
                inner.buf.push_back(*env);
            }
            self.len.store(inner.buf.len(), Ordering::Release);
            std::mem::take(&mut inner.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// No more outputs will come; streams end once the buffer is empty.
    pub(crate) fn close(&self) {
        let wakers = {
            let mut inner = lock(&self.inner);
            inner.closed = true;
            std::mem::take(&mut inner.wakers)
        };
        wakers.into_iter().for_each(Waker::wake);
    }

    /// Outputs dropped because the buffer was full and nobody read it.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Outputs handed to streams.
    pub(crate) fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Relaxed)
    }

    /// Outputs waiting in the buffer.
    pub(crate) fn buffered(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    pub(crate) fn add_stream(&self) {
        self.streams.fetch_add(1, Ordering::AcqRel);
    }

    pub(crate) fn remove_stream(&self) {
        self.streams.fetch_sub(1, Ordering::AcqRel);
        // The poller may have been holding envelopes back for this stream.
        self.poller.kick();
    }

    /// Take the next output, or register `cx`'s waker.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<Envelope>> {
        let mut inner = lock(&self.inner);
        if let Some(env) = inner.buf.pop_front() {
            let was_full = inner.buf.len() + 1 >= self.capacity;
            self.len.store(inner.buf.len(), Ordering::Release);
            drop(inner);
            self.delivered.fetch_add(1, Ordering::Relaxed);
            if was_full {
                // The poller may be holding envelopes back: room again.
                self.poller.kick();
            }
            return Poll::Ready(Some(env));
        }
        if inner.closed {
            return Poll::Ready(None);
        }
        if !inner.wakers.iter().any(|w| w.will_wake(cx.waker())) {
            inner.wakers.push(cx.waker().clone());
        }
        Poll::Pending
    }
}
