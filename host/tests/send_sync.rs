//! Every public type is `Send + Sync`, and the futures of the async API are
//! `Send`, so handles and their futures move freely between Tokio tasks
//! and threads (the tokio `async_send_sync` habit).

use ringkernel::*;
use ringkernel_example_actors::{Counter, CounterCmd, Hello};
use std::time::Duration;

fn send_sync<T: Send + Sync>() {}
fn send<T: Send>(_: &T) {}

#[test]
fn public_types_are_send_and_sync() {
    send_sync::<RingKernel>();
    send_sync::<RingKernelBuilder>();
    send_sync::<LaunchOptions>();
    send_sync::<Backend>();
    send_sync::<BackendKind>();
    send_sync::<KernelHandle<Hello>>();
    send_sync::<KernelHandle<Counter>>();
    send_sync::<PendingReply<Counter>>();
    send_sync::<OutputStream<Counter>>();
    send_sync::<ControlSnapshot>();
    send_sync::<HostStats>();
    send_sync::<HostPlatform>();
    send_sync::<BuildError>();
    send_sync::<LaunchError>();
    send_sync::<LifecycleError>();
    send_sync::<SendError<CounterCmd>>();
    send_sync::<RequestError>();
    send_sync::<ExecutionError>();
    send_sync::<ShutdownError>();
    send_sync::<Envelope>();
    send_sync::<LifecycleState>();
    send_sync::<TelemetryBuffer>();
    send_sync::<HlcTimestamp>();
}

#[tokio::test]
async fn async_api_futures_are_send() {
    let rk = RingKernel::builder().backend(Backend::Cpu).build().await.unwrap();
    send(&RingKernel::builder().build());
    send(&rk.launch::<Counter>("x", LaunchOptions::default()));
    let h = rk.launch::<Counter>("c", LaunchOptions::default()).await.unwrap();
    send(&h.send(CounterCmd::get()));
    send(&h.send_timeout(CounterCmd::get(), Duration::ZERO));
    send(&h.send_request(CounterCmd::get()));
    send(&h.request(CounterCmd::get()));
    send(&h.request_timeout(CounterCmd::get(), Duration::ZERO));
    send(&h.activate());
    send(&h.deactivate());
    send(&h.suspend());
    send(&h.resume());
    send(&h.terminate());
    send(&h.kill());
    let mut out = h.outputs();
    send(&out.next());
    send(&rk.shutdown());
    rk.shutdown().await.unwrap();
}
