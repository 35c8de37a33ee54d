//! Actor systems: many actors in one launch, created, restarted and killed
//! without relaunch; K2K messages, supervision policies, names, topics and
//! causal HLC order. Every test runs on both backends (`cpu::`, `cuda::`).
//!
//! The tests of this file run one at a time (`SERIAL`): on CUDA a system's
//! device memory is allocated and filled before its launch, which is only
//! safe while no other persistent kernel of the process spins.

mod common;

use ringkernel::{
    Backend, ChildSpec, KernelHandle, LaunchOptions, RestartPolicy, RingKernel, Spawn, SystemError, SystemOptions,
};
use ringkernel_example_actors::{Counter, CounterCmd, ExampleSystem, Node, NodeCmd, NodeOp};
use ringkernel_shared::LifecycleState;
use std::time::{Duration, Instant};

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn system(backend: Backend, opts: SystemOptions) -> (RingKernel, ringkernel::ActorSystem) {
    let rk = common::runtime(backend).await;
    let sys = rk.launch_system::<ExampleSystem>(opts).await.expect("launch the example system");
    (rk, sys)
}

/// Wait (up to 5 s) until `cond` holds.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < Duration::from_secs(5), "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn total(c: &KernelHandle<Counter>) -> u64 {
    c.request(CounterCmd::get()).await.expect("GET").total
}

fn crash() -> CounterCmd {
    CounterCmd::crash()
}

common::backend_tests! {
    /// Create, restart and kill without relaunch; a freed slot is reused by
    /// the next spawn with a new generation.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_create_restart_kill_reuse(backend: Backend) {
        let _serial = SERIAL.lock().await;
        let (rk, sys) = system(backend, SystemOptions::new(2)).await;
        let c = sys.spawn::<Counter>(Spawn::new().named("c")).await.unwrap();
        assert_eq!(c.request(CounterCmd::add(5)).await.unwrap().total, 5);
        let i = sys.info(c.id()).unwrap();
        assert_eq!((i.state, i.generation, i.restarts, i.parent), (LifecycleState::ACTIVE, 1, 0, None));

        sys.restart(c.id()).await.unwrap();
        assert_eq!(total(&c).await, 0, "a restart creates the state afresh");
        let i = sys.info(c.id()).unwrap();
        assert_eq!((i.generation, i.restarts), (2, 1));

        sys.kill(c.id()).await.unwrap();
        assert_eq!(sys.info(c.id()).unwrap().state, LifecycleState::DORMANT);
        assert!(c.request(CounterCmd::add(1)).await.is_err(), "a killed actor takes no requests");
        assert_eq!(sys.lookup("c").unwrap(), Vec::<u32>::new(), "a killed actor's names go");
        assert!(matches!(sys.restart(c.id()).await, Err(SystemError::NoSuchActor(_))));

        let d = sys.spawn::<Counter>(Spawn::new()).await.unwrap();
        let e = sys.spawn::<Counter>(Spawn::new()).await.unwrap();
        assert!(matches!(sys.spawn::<Counter>(Spawn::new()).await, Err(SystemError::NoFreeSlot { host_slots: 2 })));
        let gens = [sys.info(d.id()).unwrap().generation, sys.info(e.id()).unwrap().generation];
        assert!(gens.contains(&3), "the freed slot was reused: generations {gens:?}");
        assert_eq!(d.request(CounterCmd::add(2)).await.unwrap().total, 2);
        sys.shutdown().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// K2K: a node sends to a counter on the device; a full inbox is
    /// reported to the sender, never dropped silently.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_k2k_send_to_with_backpressure(backend: Backend) {
        let _serial = SERIAL.lock().await;
        let (rk, sys) = system(backend, SystemOptions::new(3).k2k_capacity(4)).await;
        let node = sys.spawn::<Node>(Spawn::new()).await.unwrap();
        // Deactivated: it takes nothing from its inboxes until activated.
        let c = sys.spawn::<Counter>(Spawn::new().deactivated()).await.unwrap();
        let r = node.request(NodeCmd::new(NodeOp::FORWARD, c.id(), 10)).await.unwrap();
        assert_eq!((r.n, r.code), (4, 6), "4 fit in the inbox, 6 were refused to the sender");
        c.activate().await.unwrap();
        until("the 4 accepted adds arrive", || c.control_snapshot().messages_in >= 4).await;
        assert_eq!(total(&c).await, 4);
        // Room again: the next ones go through.
        let r = node.request(NodeCmd::new(NodeOp::FORWARD, c.id(), 3)).await.unwrap();
        assert_eq!((r.n, r.code), (3, 0));
        until("7 adds in all", || c.control_snapshot().messages_in >= 8).await;
        assert_eq!(total(&c).await, 7);
        // Sending to an id outside the system is refused too.
        let r = node.request(NodeCmd::new(NodeOp::FORWARD, 0, 1)).await.unwrap();
        assert_eq!((r.n, r.code), (0, 1));
        sys.shutdown().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// An actor spawns children on the device; one-for-one restarts only
    /// the failed child, and a handler fault is what triggers it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_actor_spawns_children_one_for_one(backend: Backend) {
        let _serial = SERIAL.lock().await;
        let (rk, sys) = system(backend, SystemOptions::new(6).spawn_pool(4)).await;
        let p = sys.spawn::<Node>(Spawn::new()).await.unwrap();
        let r = p.request(NodeCmd::new(NodeOp::SPAWN, 3, 0)).await.unwrap();
        assert_eq!((r.code, r.n), (0, 3));
        let mut kids: Vec<KernelHandle<Counter>> = Vec::new();
        for &id in &r.ids[..3] {
            assert!(id >= sys.base_actor_id() + 2, "children live in the spawn pool");
            // `spawn` returns the id at once; the child starts shortly after.
            until("the child is active", || sys.info(id).unwrap().state == LifecycleState::ACTIVE).await;
            kids.push(sys.actor::<Counter>(id).unwrap_or_else(|e| panic!("child {id}: {e}")));
        }
        for k in &kids {
            assert_eq!(sys.info(k.id()).unwrap().parent, Some(p.id()));
            k.request(CounterCmd::add(10)).await.unwrap();
        }
        assert!(kids[1].request(crash()).await.is_err(), "the crash is reported to the requester");
        until("child 1 restarted", || {
            let i = sys.info(kids[1].id()).unwrap();
            i.generation == 2 && i.state == LifecycleState::ACTIVE
        }).await;
        assert_eq!(total(&kids[1]).await, 0);
        for k in [&kids[0], &kids[2]] {
            assert_eq!(sys.info(k.id()).unwrap().generation, 1, "one-for-one leaves siblings alone");
            assert_eq!(total(k).await, 10);
        }
        // The spawn pool holds 4: a fourth child fits, a fifth does not.
        let r = p.request(NodeCmd::new(NodeOp::SPAWN, 2, 0)).await.unwrap();
        assert_eq!((r.n, r.code), (1, 1), "one more fits, then NoFreeSlot is reported");
        sys.shutdown().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// One-for-all and rest-for-one, for children the host creates under a
    /// parent.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_one_for_all_and_rest_for_one(backend: Backend) {
        let _serial = SERIAL.lock().await;
        for (policy, want) in [(RestartPolicy::ONE_FOR_ALL, [2, 2, 2]), (RestartPolicy::REST_FOR_ONE, [1, 2, 2])] {
            let (rk, sys) = system(backend, SystemOptions::new(4)).await;
            let spec = ChildSpec { policy, max_restarts: 5, window_ms: 60_000 };
            let p = sys.spawn::<Node>(Spawn::new().supervising(spec)).await.unwrap();
            let mut kids = Vec::new();
            for _ in 0..3 {
                kids.push(sys.spawn::<Counter>(Spawn::new().under(p.id())).await.unwrap());
            }
            for k in &kids {
                k.request(CounterCmd::add(1)).await.unwrap();
            }
            assert!(kids[1].request(crash()).await.is_err());
            until("the affected children restarted", || {
                kids.iter().zip(want).all(|(k, g)| {
                    let i = sys.info(k.id()).unwrap();
                    i.generation == g && i.state == LifecycleState::ACTIVE
                })
            }).await;
            for (k, g) in kids.iter().zip(want) {
                assert_eq!(total(k).await, if g == 2 { 0 } else { 1 }, "{policy:?}: child {}", k.id());
            }
            assert_eq!(sys.info(p.id()).unwrap().generation, 1, "{policy:?}: the parent is untouched");
            sys.shutdown().await.unwrap();
            rk.shutdown().await.unwrap();
        }
    }

    /// Past its restart intensity a supervisor gives up: its children stop,
    /// it fails, and its own supervisor (the root, one-for-one) restarts it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_restart_intensity_escalates(backend: Backend) {
        let _serial = SERIAL.lock().await;
        let (rk, sys) = system(backend, SystemOptions::new(4)).await;
        let spec = ChildSpec { policy: RestartPolicy::ONE_FOR_ONE, max_restarts: 1, window_ms: 60_000 };
        let p = sys.spawn::<Node>(Spawn::new().supervising(spec)).await.unwrap();
        let a = sys.spawn::<Counter>(Spawn::new().under(p.id())).await.unwrap();
        let b = sys.spawn::<Counter>(Spawn::new().under(p.id())).await.unwrap();
        assert!(a.request(crash()).await.is_err());
        until("first crash: restarted", || sys.info(a.id()).unwrap().generation == 2).await;
        until("a active", || sys.info(a.id()).unwrap().state == LifecycleState::ACTIVE).await;
        assert!(a.request(crash()).await.is_err());
        until("second crash: the supervisor gives up", || {
            sys.info(a.id()).unwrap().state == LifecycleState::DORMANT
                && sys.info(b.id()).unwrap().state == LifecycleState::DORMANT
        }).await;
        until("the parent is restarted by the root", || {
            let i = sys.info(p.id()).unwrap();
            i.generation == 2 && i.state == LifecycleState::ACTIVE
        }).await;
        assert_eq!(sys.info(p.id()).unwrap().restarts, 1);
        sys.shutdown().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// Killing an actor kills its subtree, children before parents.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_cascading_kill_post_order(backend: Backend) {
        let _serial = SERIAL.lock().await;
        let (rk, sys) = system(backend, SystemOptions::new(7)).await;
        let r = sys.spawn::<Node>(Spawn::new()).await.unwrap();
        let a = sys.spawn::<Node>(Spawn::new().under(r.id())).await.unwrap();
        let b = sys.spawn::<Counter>(Spawn::new().under(r.id())).await.unwrap();
        let a1 = sys.spawn::<Counter>(Spawn::new().under(a.id())).await.unwrap();
        let a2 = sys.spawn::<Counter>(Spawn::new().under(a.id())).await.unwrap();
        let other = sys.spawn::<Counter>(Spawn::new()).await.unwrap();
        sys.kill(r.id()).await.unwrap();
        let seq = |id: u32| {
            let i = sys.info(id).unwrap();
            assert_eq!(i.state, LifecycleState::DORMANT, "actor {id} stopped");
            i.stop_seq
        };
        let (r_, a_, b_, a1_, a2_) = (seq(r.id()), seq(a.id()), seq(b.id()), seq(a1.id()), seq(a2.id()));
        assert!(a1_ < a_ && a2_ < a_, "grandchildren before their parent: {a1_} {a2_} < {a_}");
        assert!(a_ < r_ && b_ < r_, "children before the root: {a_} {b_} < {r_}");
        assert_eq!(sys.info(other.id()).unwrap().state, LifecycleState::ACTIVE, "outside the subtree");
        sys.shutdown().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// Names with `*` lookup, from the host and from an actor on the device.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_registry_from_host_and_actor(backend: Backend) {
        let _serial = SERIAL.lock().await;
        let (rk, sys) = system(backend, SystemOptions::new(4)).await;
        let a = sys.spawn::<Counter>(Spawn::new().named("counter/a")).await.unwrap();
        let b = sys.spawn::<Counter>(Spawn::new().named("counter/b")).await.unwrap();
        let node = sys.spawn::<Node>(Spawn::new().named("node")).await.unwrap();
        assert_eq!(sys.lookup("counter/*").unwrap(), vec![a.id(), b.id()]);
        assert_eq!(sys.lookup("*").unwrap(), vec![node.id()]);
        assert!(matches!(sys.register("counter/a", b.id()), Err(SystemError::Name(_))));
        assert!(matches!(sys.lookup("a//b"), Err(SystemError::Name(_))));
        let r = node.request(NodeCmd::with_text(NodeOp::LOOKUP_SEND, 5, b"counter/b").unwrap()).await.unwrap();
        assert_eq!((r.code, r.n), (0, b.id()), "the actor found counter/b");
        until("the add reached counter/b", || b.control_snapshot().messages_in >= 1).await;
        assert_eq!(total(&b).await, 5);
        sys.register("alias", a.id()).unwrap();
        let r = node.request(NodeCmd::with_text(NodeOp::LOOKUP_SEND, 1, b"ali*").unwrap()).await.unwrap();
        assert_eq!((r.code, r.n), (0, a.id()), "names registered at run time are seen");
        assert_eq!(sys.unregister("alias"), Some(a.id()));
        let r = node.request(NodeCmd::with_text(NodeOp::LOOKUP_SEND, 1, b"alias").unwrap()).await.unwrap();
        assert_eq!(r.code, 1, "an unregistered name is gone");
        sys.shutdown().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// Topics with `*` and `#`, published by an actor and by the host.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_pubsub_from_host_and_actor(backend: Backend) {
        let _serial = SERIAL.lock().await;
        let (rk, sys) = system(backend, SystemOptions::new(4)).await;
        let a = sys.spawn::<Counter>(Spawn::new()).await.unwrap();
        let b = sys.spawn::<Counter>(Spawn::new()).await.unwrap();
        let c = sys.spawn::<Counter>(Spawn::new()).await.unwrap();
        let node = sys.spawn::<Node>(Spawn::new()).await.unwrap();
        sys.subscribe(a.id(), "sensors/*/temp").unwrap();
        sys.subscribe(b.id(), "sensors/#").unwrap();
        sys.subscribe(c.id(), "other/#").unwrap();
        assert!(matches!(sys.subscribe(c.id(), "a/#/b"), Err(SystemError::Subscribe(_))));
        let r = node.request(NodeCmd::with_text(NodeOp::PUBLISH, 2, b"sensors/x/temp").unwrap()).await.unwrap();
        assert_eq!((r.code, r.n), (0, 2), "a and b match");
        let sent = sys.publish::<Counter>("sensors/y/hum", CounterCmd::add(3)).await.unwrap();
        assert_eq!(sent, vec![b.id()]);
        until("deliveries", || a.control_snapshot().messages_in >= 1 && b.control_snapshot().messages_in >= 2).await;
        assert_eq!((total(&a).await, total(&b).await, total(&c).await), (2, 5, 0));
        assert_eq!(sys.unsubscribe(b.id(), None), 1);
        let r = node.request(NodeCmd::with_text(NodeOp::PUBLISH, 1, b"sensors/x/temp").unwrap()).await.unwrap();
        assert_eq!(r.n, 1, "only a is left");
        sys.shutdown().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// HLC across actors: along random chains of K2K relays (nodes may
    /// repeat), every hop's stamp is strictly greater than the previous
    /// hop's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_hlc_causal_chains_strictly_increase(backend: Backend) {
        let _serial = SERIAL.lock().await;
        let (rk, sys) = system(backend, SystemOptions::new(4)).await;
        let mut nodes = Vec::new();
        for _ in 0..4 {
            nodes.push(sys.spawn::<Node>(Spawn::new()).await.unwrap());
        }
        let mut streams: Vec<_> = nodes.iter().map(|n| n.outputs()).collect();
        // A small xorshift generator: reproducible chains.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for case in 0..40 {
            let len = 2 + (next() % 11) as usize;
            let chain: Vec<usize> = (0..len).map(|_| (next() % 4) as usize).collect();
            let ids: Vec<u32> = chain.iter().map(|&i| nodes[i].id()).collect();
            nodes[chain[0]].send(NodeCmd::relay(&ids).unwrap()).await.unwrap();
            let mut last: Option<(u64, u32)> = None;
            for (hop, &i) in chain.iter().enumerate() {
                let out = tokio::time::timeout(Duration::from_secs(5), streams[i].next())
                    .await
                    .unwrap_or_else(|_| panic!("case {case}: hop {hop} never arrived"))
                    .expect("output stream open");
                assert_eq!((out.hop, out.node, out.code), (hop as u32, ids[hop], 0), "case {case}");
                let stamp = (out.physical, out.logical);
                if let Some(prev) = last {
                    assert!(stamp > prev, "case {case}, hop {hop}: {stamp:?} is not after {prev:?}");
                }
                last = Some(stamp);
            }
        }
        sys.shutdown().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// Concurrent spawns never share a slot: with 4 host slots and 8
    /// spawns at once, 4 succeed in distinct slots and 4 find no slot.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_concurrent_spawns_take_distinct_slots(backend: Backend) {
        let _serial = SERIAL.lock().await;
        let (rk, sys) = system(backend, SystemOptions::new(4)).await;
        // A first generation, so that every slot has a history.
        for _ in 0..4 {
            let c = sys.spawn::<Counter>(Spawn::new()).await.unwrap();
            sys.kill(c.id()).await.unwrap();
        }
        let tasks: Vec<_> = (0..8)
            .map(|_| {
                let sys = sys.clone();
                tokio::spawn(async move { sys.spawn::<Counter>(Spawn::new()).await })
            })
            .collect();
        let mut ids = Vec::new();
        let mut full = 0;
        for t in tasks {
            match t.await.unwrap() {
                Ok(h) => {
                    assert_eq!(h.request(CounterCmd::add(h.id() as u64)).await.unwrap().total, h.id() as u64);
                    ids.push(h.id());
                }
                Err(SystemError::NoFreeSlot { .. }) => full += 1,
                Err(e) => {
                    let slots: Vec<_> = (0..4).map(|s| sys.info(sys.base_actor_id() + s)).collect();
                    panic!("unexpected: {e}; slots: {slots:#?}")
                }
            }
        }
        ids.sort();
        ids.dedup();
        assert_eq!((ids.len(), full), (4, 4), "ids {ids:?}");
        sys.shutdown().await.unwrap();
        rk.shutdown().await.unwrap();
    }

    /// Bad requests get clear errors and change nothing.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn system_bad_requests_are_refused(backend: Backend) {
        let _serial = SERIAL.lock().await;
        let rk = common::runtime(backend).await;
        for bad in [SystemOptions::new(0), SystemOptions::new(2).spawn_pool(3)] {
            assert!(matches!(
                rk.launch_system::<ExampleSystem>(bad).await,
                Err(ringkernel::LaunchError::InvalidSystem(_))
            ));
        }
        let sys = rk.launch_system::<ExampleSystem>(SystemOptions::new(2)).await.unwrap();
        let c = sys.spawn::<Counter>(Spawn::new()).await.unwrap();
        assert!(matches!(sys.actor::<Node>(c.id()), Err(SystemError::WrongType { .. })));
        assert!(matches!(sys.actor::<Counter>(c.id() + 1), Err(SystemError::NoSuchActor(_))));
        assert!(matches!(sys.info(9999), Err(SystemError::NoSuchActor(9999))));
        assert!(matches!(sys.spawn::<Counter>(Spawn::new().under(c.id() + 1)).await, Err(SystemError::NoSuchActor(_))));
        assert!(matches!(sys.spawn::<Counter>(Spawn::new().named("a//b")).await, Err(SystemError::Name(_))));
        assert!(matches!(sys.kill(c.id() + 1).await, Err(SystemError::NoSuchActor(_))));
        assert_eq!(c.request(CounterCmd::add(1)).await.unwrap().total, 1, "the system still serves");
        let _ = LaunchOptions::default();
        sys.shutdown().await.unwrap();
        assert!(matches!(sys.spawn::<Counter>(Spawn::new()).await, Err(SystemError::ShutDown)));
        rk.shutdown().await.unwrap();
    }
}
