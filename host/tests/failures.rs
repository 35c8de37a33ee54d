//! Failures: a handler Fault sends the actor to Failed and every pending
//! request errors out; malformed envelopes become dead letters while the
//! actor keeps running (on every backend, `cpu::` and `cuda::`); a panicking
//! handler does the same as a Fault (CPU only, see its test).

mod common;

use common::{eventually, runtime};
use ringkernel::{
    Actor, Backend, Context, Envelope, ExecutionError, Fault, HOST_NODE_ID, LaunchOptions, LifecycleState as S,
    RequestError, SendError,
};
use ringkernel_device::runtime::ERROR_HANDLER_FAULT;
use ringkernel_device::shared::EnvelopeError;
use ringkernel_example_actors::{COUNTER_FAULT_CRASH, COUNTER_TYPE_ID, Counter, CounterCmd};
use std::time::Duration;

common::backend_tests! {
    #[tokio::test]
    async fn handler_fault_fails_actor_and_pending_requests(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default().without_auto_activate()).await.unwrap();
        let before = c.send_request(CounterCmd::add(1)).await.unwrap();
        let crash = c.send_request(CounterCmd::crash()).await.unwrap();
        let after: Vec<_> = {
            let mut v = Vec::new();
            for x in 2..6 {
                v.push(c.send_request(CounterCmd::add(x)).await.unwrap());
            }
            v
        };
        c.activate().await.unwrap();
        assert_eq!(before.await.unwrap().total, 1);
        assert_eq!(
            crash.await,
            Err(RequestError::ActorError(COUNTER_FAULT_CRASH)),
            "the crashing request gets the fault code"
        );
        for p in after {
            let r = tokio::time::timeout(Duration::from_secs(5), p).await.expect("pending requests never hang");
            assert_eq!(r, Err(RequestError::ActorFailed { code: ERROR_HANDLER_FAULT }));
        }
        assert_eq!(c.state(), S::FAILED);
        eventually("failure counted", || c.control_snapshot().failures == 1).await;
        assert_eq!(c.control_snapshot().last_error, ERROR_HANDLER_FAULT);
        assert!(matches!(c.send(CounterCmd::get()).await, Err(SendError::ActorFailed(_))));
        assert_eq!(c.request(CounterCmd::get()).await, Err(RequestError::Send(SendError::ActorFailed(()))));
        assert!(c.fault().is_none(), "a handler Fault is the actor's own report, not a backend fault");
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn bad_envelopes_become_dead_letters_and_actor_keeps_running(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default()).await.unwrap();
        let good = Envelope::from_pod(COUNTER_TYPE_ID, HOST_NODE_ID, c.id(), &CounterCmd::add(1)).unwrap();

        let mut bad_magic = good;
        bad_magic.header.magic = 0;
        let mut wrong_type = good;
        wrong_type.header.type_id = 0x0BAD;
        wrong_type.seal();
        let mut bad_checksum = good;
        bad_checksum.payload[8] ^= 0xFF;
        // A request: its error reply has nobody waiting and is discarded.
        bad_checksum.header.correlation_id = u64::MAX;
        let short = Envelope::new(COUNTER_TYPE_ID, HOST_NODE_ID, c.id(), &[1, 2, 3]).unwrap();
        let mut bad_version = good;
        bad_version.header.version = 77;

        for env in [bad_magic, wrong_type, bad_checksum, short, bad_version] {
            c.debug_inject_envelope(&env).unwrap();
        }
        c.debug_inject_envelope(&good).unwrap();
        // FIFO: once this is answered, everything injected before was handled.
        let r = c.request(CounterCmd::get()).await.unwrap();
        assert_eq!(r.total, 1, "the good envelope after the bad ones was handled");
        assert_eq!(c.state(), S::ACTIVE);
        eventually("dead letters counted", || {
            c.control_snapshot().dead_letters == 5 && c.telemetry().dead_letters == 5
        })
        .await;
        let snap = c.control_snapshot();
        assert_eq!(snap.failures, 0);
        assert_eq!(c.host_stats().replies_discarded, 1);
        assert_eq!(snap.last_error, EnvelopeError::BadVersion(77).code(), "the last dead letter's reason");
        // The dead-letter queue has each one, in order, with its reason.
        let dead = std::cell::RefCell::new(Vec::new());
        eventually("dead-letter records delivered", || {
            dead.borrow_mut().extend(c.take_dead_letters());
            dead.borrow().len() >= 5
        })
        .await;
        let dead = dead.into_inner();
        let reasons: Vec<u32> = dead.iter().map(|d| d.reason).collect();
        assert_eq!(
            reasons,
            [
                EnvelopeError::BadMagic(0).code(),
                EnvelopeError::WrongType { expected: COUNTER_TYPE_ID, found: 0x0BAD }.code(),
                EnvelopeError::BadChecksum { stored: 0, computed: 0 }.code(),
                ringkernel_device::runtime::ERROR_PAYLOAD_TOO_SHORT,
                EnvelopeError::BadVersion(77).code(),
            ]
        );
        assert_eq!((dead[0].magic, dead[1].type_id, dead[2].correlation_id), (0, 0x0BAD, u64::MAX));
        assert_eq!((dead[3].payload_len, dead[4].version), (3, 77));
        assert!(dead.iter().all(|d| d.source == HOST_NODE_ID && d.destination == c.id()));
        assert!(c.take_dead_letters().is_empty(), "taken once");
        assert_eq!(c.host_stats().dead_letters_dropped, 0);
        rk.shutdown().await.unwrap();
    }
}

/// Panics on message 13; echoes everything else.
struct Panicky;

impl Actor for Panicky {
    const TYPE_ID: u32 = 0x5041_4E43;
    type Msg = u32;
    type Reply = u32;
    fn create(_actor_id: u32) -> Self {
        Panicky
    }
    fn handle(&mut self, ctx: &mut Context<'_, Self>, msg: u32) -> Result<(), Fault> {
        assert_ne!(msg, 13, "unlucky message");
        ctx.reply(&msg).map_err(|_| Fault(1))
    }
}

ringkernel_device::actor_kernel!(panicky_kernel, Panicky);

// CPU only. On the GPU a panicking handler is a trap: a sticky error that
// poisons the context for the whole process (every later GPU test of the
// binary would fail), so it belongs to the fault-injection tests of a later
// issue, which need a process of their own. (`Panicky` has no PTX entry
// either: test crates are built for the host only.)
#[tokio::test]
async fn panicking_handler_fails_actor_instead_of_hanging() {
    let rk = runtime(Backend::Cpu).await;
    let p = rk.launch::<Panicky>("panicky", LaunchOptions::default()).await.unwrap();
    assert_eq!(p.request(7).await, Ok(7));
    let r = tokio::time::timeout(Duration::from_secs(5), p.request(13)).await.expect("no hang");
    assert!(matches!(r, Err(RequestError::ActorFailed { .. })), "{r:?}");
    assert_eq!(p.state(), S::FAILED);
    match p.fault() {
        Some(ExecutionError::Panicked { message }) => assert!(message.contains("unlucky"), "{message}"),
        other => panic!("expected a panic report, got {other:?}"),
    }
    assert!(matches!(p.try_send(1), Err(SendError::ActorFailed(1))));
    rk.shutdown().await.unwrap();
}
