//! Shared pieces of the CPU benchmarks (`benches/cpu_actor.rs`): the
//! workloads, their correctness checks, and the Tokio baseline.
//!
//! | workload | RingKernel (CPU backend) | baseline |
//! | --- | --- | --- |
//! | round trip | `KernelHandle::request` to an [`Echo`] actor | a Tokio task answering over `mpsc` + `oneshot` |
//! | pipelined | `send_request` with a window of outstanding replies | the same window of `oneshot` receivers |
//!
//! Both sides move the same 64-byte payload and both check every reply
//! before anything is timed ([`check_ringkernel`], [`check_tokio`]).

use ringkernel::KernelHandle;
use ringkernel_example_actors::{Echo, EchoMsg};
use std::collections::VecDeque;
use tokio::sync::{mpsc, oneshot};

/// The 64-byte payload of message `i` (distinct per message, so a wrong or
/// stale reply is caught).
pub fn payload(i: u64) -> EchoMsg {
    [i, i ^ 0x5555_5555_5555_5555, i.rotate_left(17), 3, 4, 5, 6, !i]
}

/// Why a benchmark workload is wrong.
#[derive(Debug)]
pub struct BenchError(pub String);

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BenchError {}

fn wrong(what: impl Into<String>) -> BenchError {
    BenchError(what.into())
}

/// One request to the RingKernel echo actor; checks the reply.
pub async fn ringkernel_round_trip(h: &KernelHandle<Echo>, i: u64) -> Result<(), BenchError> {
    let m = payload(i);
    let r = h.request(m).await.map_err(|e| wrong(format!("request {i}: {e}")))?;
    if r != m {
        return Err(wrong(format!("request {i}: wrong reply {r:?}")));
    }
    Ok(())
}

/// `n` requests with up to `window` outstanding; checks every reply, in order.
pub async fn ringkernel_pipelined(h: &KernelHandle<Echo>, first: u64, n: u64, window: usize) -> Result<(), BenchError> {
    let mut in_flight = VecDeque::with_capacity(window);
    let mut next = first;
    let check = |r: Result<EchoMsg, ringkernel::RequestError>, i: u64| match r {
        Ok(r) if r == payload(i) => Ok(()),
        Ok(r) => Err(wrong(format!("reply {i}: wrong payload {r:?}"))),
        Err(e) => Err(wrong(format!("reply {i}: {e}"))),
    };
    for i in first..first + n {
        if in_flight.len() == window {
            let p: ringkernel::PendingReply<Echo> = in_flight.pop_front().ok_or_else(|| wrong("empty window"))?;
            check(p.await, next)?;
            next += 1;
        }
        let p = h.send_request(payload(i)).await.map_err(|e| wrong(format!("send {i}: {e}")))?;
        in_flight.push_back(p);
    }
    for p in in_flight {
        check(p.await, next)?;
        next += 1;
    }
    Ok(())
}

/// A request to the Tokio baseline: the payload and where to answer.
pub type TokioRequest = (EchoMsg, oneshot::Sender<EchoMsg>);

/// Spawn the baseline: a task that answers each request with its payload.
pub fn spawn_tokio_echo(rt: &tokio::runtime::Handle, capacity: usize) -> mpsc::Sender<TokioRequest> {
    let (tx, mut rx) = mpsc::channel::<TokioRequest>(capacity);
    rt.spawn(async move {
        while let Some((m, reply)) = rx.recv().await {
            // The requester may have gone; nothing to do then.
            let _ = reply.send(m);
        }
    });
    tx
}

/// One request to the baseline; checks the reply.
pub async fn tokio_round_trip(tx: &mpsc::Sender<TokioRequest>, i: u64) -> Result<(), BenchError> {
    let m = payload(i);
    let (otx, orx) = oneshot::channel();
    tx.send((m, otx)).await.map_err(|_| wrong("baseline task gone"))?;
    match orx.await {
        Ok(r) if r == m => Ok(()),
        Ok(r) => Err(wrong(format!("baseline {i}: wrong reply {r:?}"))),
        Err(_) => Err(wrong("baseline dropped a reply")),
    }
}

/// The baseline's pipelined workload (same window discipline).
pub async fn tokio_pipelined(
    tx: &mpsc::Sender<TokioRequest>,
    first: u64,
    n: u64,
    window: usize,
) -> Result<(), BenchError> {
    let mut in_flight: VecDeque<oneshot::Receiver<EchoMsg>> = VecDeque::with_capacity(window);
    let mut next = first;
    let check = |r: Result<EchoMsg, oneshot::error::RecvError>, i: u64| match r {
        Ok(r) if r == payload(i) => Ok(()),
        Ok(r) => Err(wrong(format!("baseline reply {i}: wrong payload {r:?}"))),
        Err(_) => Err(wrong("baseline dropped a reply")),
    };
    for i in first..first + n {
        if in_flight.len() == window {
            let rx = in_flight.pop_front().ok_or_else(|| wrong("empty window"))?;
            check(rx.await, next)?;
            next += 1;
        }
        let (otx, orx) = oneshot::channel();
        tx.send((payload(i), otx)).await.map_err(|_| wrong("baseline task gone"))?;
        in_flight.push_back(orx);
    }
    for rx in in_flight {
        check(rx.await, next)?;
        next += 1;
    }
    Ok(())
}

/// Check the RingKernel workloads before timing them.
pub async fn check_ringkernel(h: &KernelHandle<Echo>) -> Result<(), BenchError> {
    for i in 0..1_000 {
        ringkernel_round_trip(h, i).await?;
    }
    ringkernel_pipelined(h, 1_000, 10_000, 64).await
}

/// Check the baseline workloads before timing them.
pub async fn check_tokio(tx: &mpsc::Sender<TokioRequest>) -> Result<(), BenchError> {
    for i in 0..1_000 {
        tokio_round_trip(tx, i).await?;
    }
    tokio_pipelined(tx, 1_000, 10_000, 64).await
}
