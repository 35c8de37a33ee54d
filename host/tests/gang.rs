//! Gangs: an actor hands data-parallel jobs to worker blocks of its own
//! launch (`ringkernel_device::gang`), on both backends.

mod common;

use ringkernel::{Backend, GangOptions, GangWorkers, LaunchError, LaunchOptions};
use ringkernel_example_actors::Echo;
use ringkernel_example_actors::gang::{GANG_CHAIN, GANG_FILL, GangTest, GangTestJob};

const WORDS: usize = 1 << 14;

fn gang_opts(workers: GangWorkers) -> LaunchOptions {
    LaunchOptions::default().gang(GangOptions::new(workers, (WORDS * 8) as u64).threads(128))
}

common::backend_tests! {
    /// Jobs reach every worker, `finish` sees all of their writes, the
    /// progress counters order a chain through all workers, and the host
    /// reads the arena the jobs wrote.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gang_jobs_reach_every_worker(backend: Backend) {
        let rk = common::runtime(backend).await;
        let workers = 7;
        let g = rk.launch::<GangTest>("gang", gang_opts(GangWorkers::Exact(workers))).await.unwrap();
        assert_eq!(g.gang_workers(), Some(workers));
        assert_eq!(g.gang_arena_len(), Some(WORDS * 8));
        assert_eq!(g.request(GangTestJob { op: 99, value: 0 }).await.unwrap(), u64::from(workers));
        for value in [0u32, 5, 1000] {
            let expect: u64 = (0..WORDS as u64).map(|i| u64::from(value) + i).sum();
            assert_eq!(g.request(GangTestJob { op: GANG_FILL, value }).await.unwrap(), expect);
        }
        let mut arena = vec![0u8; WORDS * 8];
        // SAFETY: no job runs: the last one was answered and none is sent
        // until the read is done.
        unsafe { g.read_gang_arena(0, &mut arena) }.unwrap();
        let words: &[u64] = bytemuck::cast_slice(&arena);
        assert!(words.iter().enumerate().all(|(i, &w)| w == 1000 + i as u64), "the host sees the last fill");
        // Progress values only grow: 1, 2, 3, ... per chain job.
        for value in 1..=50u32 {
            let got = g.request(GangTestJob { op: GANG_CHAIN, value }).await.unwrap();
            assert_eq!(got, u64::from(value + workers - 1), "chain {value}");
        }
        // SAFETY: as above.
        let bad = unsafe { g.read_gang_arena(WORDS * 8 - 4, &mut [0u8; 8]) };
        assert!(matches!(bad, Err(ringkernel::GangReadError::OutOfRange { .. })), "{bad:?}");
        rk.shutdown().await.unwrap();
    }

    /// `Fill` resolves to at least one worker; a gang kernel without gang
    /// options, and gang options for a kernel without a gang, are refused
    /// with a clear error.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn gang_options_must_match_the_kernel(backend: Backend) {
        let rk = common::runtime(backend).await;
        let Err(err) = rk.launch::<GangTest>("no-gang", LaunchOptions::default()).await else { panic!("launched") };
        assert!(matches!(&err, LaunchError::InvalidGang(m) if m.contains("LaunchOptions::gang")), "{err}");
        let Err(err) = rk.launch::<Echo>("echo", gang_opts(GangWorkers::Exact(2))).await else { panic!("launched") };
        assert!(matches!(&err, LaunchError::InvalidGang(m) if m.contains("declares no gang")), "{err}");
        let bad = LaunchOptions::default().gang(GangOptions::new(GangWorkers::Exact(2), 64).threads(40));
        let Err(err) = rk.launch::<GangTest>("bad", bad).await else { panic!("launched") };
        assert!(matches!(err, LaunchError::InvalidGang(_)), "{err}");

        let g = rk.launch::<GangTest>("fill", gang_opts(GangWorkers::Fill)).await.unwrap();
        let n = g.gang_workers().unwrap();
        assert!(n >= 1);
        assert_eq!(g.request(GangTestJob { op: GANG_CHAIN, value: 1 }).await.unwrap(), u64::from(n));
        assert_eq!(g.gang_workers(), Some(n));
        rk.shutdown().await.unwrap();
    }
}
