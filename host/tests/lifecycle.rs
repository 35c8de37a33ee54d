//! The lifecycle table through the public API, on every backend (`cpu::`
//! and `cuda::`): every legal command path, every illegal command as a typed
//! error, and sends to stopped actors refused with typed errors (never a
//! hang). Backend selection itself, and building outside Tokio, are tested
//! once, on whatever machine runs the tests.

mod common;

use common::runtime;
use ringkernel::{
    Backend, BackendKind, BuildError, LaunchError, LaunchOptions, LifecycleError, LifecycleState as S, RequestError,
    RingKernel, SendError,
};
use ringkernel_example_actors::{COUNTER_FAULT_CRASH, Counter, CounterCmd, Hello, HelloRequest};
use std::time::Duration;

fn illegal(r: Result<(), LifecycleError>, from: S, to: S) {
    match r {
        Err(LifecycleError::IllegalTransition { from: f, to: t }) => assert_eq!((f, t), (from, to)),
        other => panic!("expected IllegalTransition {from} -> {to}, got {other:?}"),
    }
}

common::backend_tests! {
    #[tokio::test]
    async fn lifecycle_active_deactivated_round_trip(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default()).await.unwrap();
        assert_eq!(c.state(), S::ACTIVE);
        assert!(c.is_active());
        c.deactivate().await.unwrap();
        assert_eq!(c.state(), S::DEACTIVATED);
        c.activate().await.unwrap();
        assert_eq!(c.state(), S::ACTIVE);
        c.suspend().await.unwrap();
        assert_eq!(c.state(), S::DEACTIVATED);
        c.resume().await.unwrap();
        assert_eq!(c.state(), S::ACTIVE);
        assert_eq!(c.request(CounterCmd::add(3)).await.unwrap().total, 3, "state kept across deactivation");
        let snap = c.control_snapshot();
        assert_eq!((snap.command_seq, snap.command_ack), (4, 4));
        c.terminate().await.unwrap();
        assert_eq!(c.state(), S::TERMINATED);
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn lifecycle_terminate_and_kill_from_active_and_deactivated(backend: Backend) {
        let rk = runtime(backend).await;
        let a = rk.launch::<Counter>("active-terminate", LaunchOptions::default()).await.unwrap();
        a.terminate().await.unwrap();
        assert_eq!(a.state(), S::TERMINATED);

        let d = rk.launch::<Counter>("deactivated-terminate", LaunchOptions::default()).await.unwrap();
        d.deactivate().await.unwrap();
        d.terminate().await.unwrap();
        assert_eq!(d.state(), S::TERMINATED);

        let k = rk.launch::<Counter>("active-kill", LaunchOptions::default()).await.unwrap();
        k.kill().await.unwrap();
        assert_eq!(k.state(), S::TERMINATED);

        let kd =
            rk.launch::<Counter>("deactivated-kill", LaunchOptions::default().without_auto_activate()).await.unwrap();
        assert_eq!(kd.state(), S::DEACTIVATED);
        kd.kill().await.unwrap();
        assert_eq!(kd.state(), S::TERMINATED);
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn lifecycle_illegal_commands_are_typed_errors(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default()).await.unwrap();
        illegal(c.activate().await, S::ACTIVE, S::ACTIVE);
        c.deactivate().await.unwrap();
        illegal(c.deactivate().await, S::DEACTIVATED, S::DEACTIVATED);
        let before = c.control_snapshot().command_seq;
        c.terminate().await.unwrap();
        illegal(c.activate().await, S::TERMINATED, S::ACTIVE);
        illegal(c.deactivate().await, S::TERMINATED, S::DEACTIVATED);
        illegal(c.terminate().await, S::TERMINATED, S::DRAINING);
        illegal(c.kill().await, S::TERMINATED, S::DRAINING);
        assert_eq!(c.control_snapshot().command_seq, before + 1, "illegal commands are never posted");
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn lifecycle_commands_to_failed_actor_are_typed_errors(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default()).await.unwrap();
        assert_eq!(c.request(CounterCmd::crash()).await, Err(RequestError::ActorError(COUNTER_FAULT_CRASH)));
        for _ in 0..1000 {
            if c.state() == S::FAILED {
                break;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert_eq!(c.state(), S::FAILED);
        for r in [c.activate().await, c.deactivate().await, c.terminate().await, c.kill().await] {
            assert!(matches!(r, Err(LifecycleError::ActorFailed { .. })), "{r:?}");
        }
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn lifecycle_deactivated_actor_queues_until_activated(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default().without_auto_activate()).await.unwrap();
        assert_eq!(c.state(), S::DEACTIVATED);
        let p1 = c.send_request(CounterCmd::add(1)).await.unwrap();
        let p2 = c.send_request(CounterCmd::add(2)).await.unwrap();
        let late = c.request_timeout(CounterCmd::get(), Duration::from_millis(30)).await;
        assert_eq!(
            late,
            Err(RequestError::Timeout(Duration::from_millis(30))),
            "nothing is processed while deactivated"
        );
        assert_eq!(c.control_snapshot().messages_in, 0);
        c.activate().await.unwrap();
        assert_eq!(p1.await.unwrap().total, 1);
        assert_eq!(p2.await.unwrap().total, 3);
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn lifecycle_terminate_drains_queued_messages(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default().without_auto_activate()).await.unwrap();
        let mut pending = Vec::new();
        for v in 1..=10 {
            pending.push(c.send_request(CounterCmd::add(v)).await.unwrap());
        }
        c.terminate().await.unwrap();
        let mut total = 0;
        for (v, p) in (1..=10).zip(pending) {
            total += v;
            assert_eq!(p.await.unwrap().total, total, "draining handles every queued message");
        }
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn lifecycle_kill_fails_queued_requests(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default().without_auto_activate()).await.unwrap();
        let p = c.send_request(CounterCmd::add(1)).await.unwrap();
        c.kill().await.unwrap();
        assert_eq!(p.await, Err(RequestError::Terminated));
        assert_eq!(c.control_snapshot().messages_in, 0, "kill leaves the queue unprocessed");
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn send_to_terminated_actor_is_typed_error(backend: Backend) {
        let rk = runtime(backend).await;
        let c = rk.launch::<Counter>("c", LaunchOptions::default()).await.unwrap();
        c.terminate().await.unwrap();
        let cmd = CounterCmd::add(9);
        match c.send(cmd).await {
            Err(SendError::Terminated(back)) => assert_eq!(back, cmd, "the message is handed back"),
            other => panic!("{other:?}"),
        }
        assert_eq!(c.try_send(cmd).map_err(SendError::into_inner), Err(cmd));
        assert!(matches!(c.try_send(cmd), Err(SendError::Terminated(_))));
        assert_eq!(c.request(cmd).await, Err(RequestError::Send(SendError::Terminated(()))));
        assert!(matches!(c.send_request(cmd).await, Err(SendError::Terminated(_))));
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn launch_rejects_bad_options_with_typed_errors(backend: Backend) {
        let rk = runtime(backend).await;
        let bad = |o: LaunchOptions| {
            let rk = rk.clone();
            async move { rk.launch::<Counter>("c", o).await.map(drop) }
        };
        assert!(matches!(
            bad(LaunchOptions::default().inbox_capacity(3)).await,
            Err(LaunchError::InvalidCapacity { queue: "inbox", .. })
        ));
        assert!(matches!(
            bad(LaunchOptions::default().outbox_capacity(1)).await,
            Err(LaunchError::InvalidCapacity { queue: "outbox", .. })
        ));
        assert!(matches!(bad(LaunchOptions::default().block_size(0)).await, Err(LaunchError::InvalidBlockSize(0))));
        assert!(matches!(
            bad(LaunchOptions::default().block_size(2048)).await,
            Err(LaunchError::InvalidBlockSize(2048))
        ));
        assert!(matches!(
            bad(LaunchOptions::default().output_capacity(0)).await,
            Err(LaunchError::InvalidOutputCapacity)
        ));
        assert!(matches!(rk.launch::<Counter>("", LaunchOptions::default()).await, Err(LaunchError::EmptyName)));
        let e = bad(LaunchOptions::default().inbox_capacity(3)).await.unwrap_err();
        assert!(std::error::Error::source(&e).is_some(), "the ring rule is kept as the source");
        // A CUDA block runs whole warps: its size must be a multiple of 32 there,
        // while the CPU backend ignores the block size.
        let odd = bad(LaunchOptions::default().block_size(48)).await;
        match backend {
            Backend::Cuda => assert!(matches!(odd, Err(LaunchError::InvalidBlockSize(48))), "{odd:?}"),
            _ => assert!(odd.is_ok(), "{odd:?}"),
        }
        rk.shutdown().await.unwrap();
    }

    #[tokio::test]
    async fn shutdown_terminates_every_actor_and_refuses_launches(backend: Backend) {
        let rk = runtime(backend).await;
        let a = rk.launch::<Counter>("a", LaunchOptions::default()).await.unwrap();
        let b = rk.launch::<Counter>("b", LaunchOptions::default().without_auto_activate()).await.unwrap();
        let queued = b.send_request(CounterCmd::add(5)).await.unwrap();
        rk.shutdown().await.unwrap();
        assert!(rk.is_shut_down());
        assert_eq!((a.state(), b.state()), (S::TERMINATED, S::TERMINATED));
        assert_eq!(queued.await.unwrap().total, 5, "shutdown drains what was queued");
        assert!(matches!(rk.launch::<Counter>("c", LaunchOptions::default()).await, Err(LaunchError::ShutDown)));
        assert!(matches!(a.send(CounterCmd::get()).await, Err(SendError::Terminated(_))));
        rk.shutdown().await.unwrap();
    }
}

// Not per backend: this tests backend *selection*, which must hold on
// every machine. Without libcuda (CI) it checks the refusal and the
// fallback; with it (the GPU machine) it checks that CUDA is used.
#[tokio::test]
async fn backend_cuda_builds_with_libcuda_else_is_unavailable_and_auto_falls_back_to_cpu() {
    match ringkernel::cuda::driver::driver_available() {
        Err(why) => {
            match RingKernel::builder().backend(Backend::Cuda).build().await {
                Err(BuildError::BackendUnavailable { backend: BackendKind::Cuda, reason, .. }) => {
                    assert!(reason.contains(why.as_str()), "the reason says what is missing: {reason}");
                }
                Err(e) => panic!("expected BackendUnavailable for CUDA, got {e:?}"),
                Ok(rk) => panic!("no libcuda ({why}), yet Backend::Cuda built a {} runtime", rk.backend()),
            }
            let rk = RingKernel::builder().backend(Backend::Auto).build().await.expect("Auto always builds");
            assert_eq!(rk.backend(), BackendKind::Cpu, "Auto falls back to the CPU");
            match rk.fallback_reason() {
                Some(BuildError::BackendUnavailable { backend: BackendKind::Cuda, .. }) => {}
                other => panic!("Auto says why it did not use CUDA, got {other:?}"),
            }
            // The fallback runtime works.
            let h = rk.launch::<Hello>("hello", LaunchOptions::default()).await.unwrap();
            let g = h.request(HelloRequest::new("Auto").unwrap()).await.unwrap();
            assert_eq!(g.as_str().unwrap(), format!("Hello, Auto! (actor {}, message #1)", h.id()));
            rk.shutdown().await.unwrap();
        }
        Ok(()) => {
            // libcuda is here: CUDA must be usable (a machine with the driver
            // library but no usable GPU fails here, with the reason).
            let rk = runtime(Backend::Cuda).await;
            assert_eq!(rk.backend(), BackendKind::Cuda);
            assert!(rk.fallback_reason().is_none());
            rk.shutdown().await.unwrap();
            let auto = RingKernel::builder().backend(Backend::Auto).build().await.expect("Auto always builds");
            assert_eq!(auto.backend(), BackendKind::Cuda, "Auto picks CUDA where it can run");
            assert!(auto.fallback_reason().is_none(), "{:?}", auto.fallback_reason());
            auto.shutdown().await.unwrap();
        }
    }
}

// Not per backend: `build` fails before any backend is chosen.
#[test]
fn build_outside_tokio_is_typed_error() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    // A runtime exists only inside block_on; poll the build future without one.
    let fut = RingKernel::builder().backend(Backend::Cpu).build();
    let r = futures_poll_once(fut);
    assert!(matches!(r, Some(Err(BuildError::NoTokioRuntime))), "{r:?}");
    drop(rt);
}

/// Poll a future once outside any runtime.
fn futures_poll_once<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => Some(v),
        std::task::Poll::Pending => None,
    }
}
