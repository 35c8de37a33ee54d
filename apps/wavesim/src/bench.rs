//! `wavesim --bench`'s comparison of the persistent engine with the batch
//! engine, measured in one process, one after the other (the batch engine
//! first: no module may load while a persistent kernel runs).
//!
//! | section | persistent | baseline |
//! | --- | --- | --- |
//! | throughput | one `RunSteps(n)` to [`PersistentSim`], timed from send to reply | [`gpu::bench`]: `n` `wavesim_step` launches, one synchronisation |
//! | mixed frame (64³) | [`mixed_frame`]'s 25 commands sent back to back, timed to the last reply | the same commands through [`actor::handle`] on a [`GpuBatch`]: one launch per step, inject and energy query (each query waits for its result), then one synchronisation |
//! | frame, one command per step | 1000 `RunSteps(1)` + the injects and queries | the batch engine's frame (the same launches) |
//! | inject latency | an `InjectImpulse` request, simulation resident and idle; and one sent right behind a `RunSteps(10)` | `wavesim_inject` launch + synchronisation |

use std::fmt::Write as _;
use std::format;
use std::string::{String, ToString};
use std::time::{Duration, Instant};
use std::vec::Vec;

use ringkernel::{Backend, GangWorkers};

use crate::actor::{self, WaveState};
use crate::fdtd::Params;
use crate::gpu::{self, GpuBatch, GpuError};
use crate::grid::GridDims;
use crate::protocol::{Command, ReplyKind};
use crate::session::{PersistentSim, SessionError};

/// Why the comparison stopped.
#[derive(Debug)]
pub enum BenchError {
    /// The batch engine failed.
    Batch(GpuError),
    /// The persistent engine failed.
    Persistent(SessionError),
    /// A command was not answered as expected.
    Reply(String),
}

impl std::fmt::Display for BenchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Batch(e) => write!(f, "batch engine: {e}"),
            Self::Persistent(e) => write!(f, "persistent engine: {e}"),
            Self::Reply(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for BenchError {}

/// Percentiles of a set of durations, in microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Percentiles {
    /// Samples.
    pub n: usize,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Smallest.
    pub min: f64,
}

impl Percentiles {
    /// Of `samples` (at least one).
    pub fn of(samples: &[Duration]) -> Self {
        let mut us: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e6).collect();
        us.sort_by(f64::total_cmp);
        let at = |q: f64| us[((us.len() - 1) as f64 * q).round() as usize];
        Self { n: us.len(), p50: at(0.5), p99: at(0.99), min: us[0] }
    }
}

/// The mixed frame of the issue at 64³: 1000 steps, 10 injects, 5 queries —
/// ten blocks of `RunSteps(100)` + `InjectImpulse`, a `GetProgress` after
/// every second block. `per_step` sends the steps as 1000 `RunSteps(1)`.
pub fn mixed_frame(dims: GridDims, per_step: bool) -> Vec<Command> {
    let mut cmds = Vec::new();
    for block in 0..10u32 {
        if per_step {
            cmds.extend((0..100).map(|_| Command::run_steps(1)));
        } else {
            cmds.push(Command::run_steps(100));
        }
        let x = 8 + (block * 5) % (dims.nx() - 16);
        cmds.push(Command::inject_impulse([x, dims.ny() / 2, dims.nz() / 2], if block % 2 == 0 { 0.5 } else { -0.5 }));
        if block % 2 == 1 {
            cmds.push(Command::get_progress());
        }
    }
    cmds
}

/// One throughput row.
#[derive(Clone, Copy, Debug)]
pub struct Throughput {
    /// Grid side.
    pub side: u32,
    /// Steps timed.
    pub steps: u32,
    /// Batch engine seconds.
    pub batch_s: f64,
    /// Persistent engine seconds (send to reply).
    pub persistent_s: f64,
    /// Gang workers.
    pub workers: u32,
}

impl Throughput {
    fn gcells(&self, secs: f64) -> f64 {
        f64::from(self.side).powi(3) * f64::from(self.steps) / secs / 1e9
    }
    fn gbs(&self, secs: f64) -> f64 {
        12.0 * self.gcells(secs)
    }
    /// Batch G cells/s, its % of `bw` (GB/s), persistent G cells/s, its %,
    /// and batch time over persistent time.
    fn figures(&self, bw: f64) -> [f64; 5] {
        [
            self.gcells(self.batch_s),
            100.0 * self.gbs(self.batch_s) / bw,
            self.gcells(self.persistent_s),
            100.0 * self.gbs(self.persistent_s) / bw,
            self.batch_s / self.persistent_s,
        ]
    }
}

/// Everything the comparison measured.
#[derive(Clone, Debug)]
pub struct Comparison {
    /// Device name.
    pub device: String,
    /// Copy bandwidth, GB/s.
    pub bandwidth_gbs: f64,
    /// Throughput per size.
    pub throughput: Vec<Throughput>,
    /// Mixed frame: persistent (commands as in [`mixed_frame`]).
    pub frame_persistent: Percentiles,
    /// Mixed frame: persistent, one `RunSteps(1)` per step.
    pub frame_persistent_per_step: Percentiles,
    /// Mixed frame: batch engine, one launch per operation.
    pub frame_batch: Percentiles,
    /// Inject round trip, persistent, idle.
    pub inject_idle: Percentiles,
    /// Inject round trip, persistent, sent behind `RunSteps(10)`.
    pub inject_behind_steps: Percentiles,
    /// `RunSteps(10)` alone, persistent (what the inject waits behind).
    pub steps10: Percentiles,
    /// Inject launch + synchronisation, batch engine.
    pub inject_batch: Percentiles,
    /// Gang workers at 64³.
    pub workers: u32,
    /// Threads per gang worker.
    pub worker_threads: u32,
}

fn check(replies: &[crate::protocol::Reply], cmds: &[Command]) -> Result<(), BenchError> {
    for (r, c) in replies.iter().zip(cmds) {
        if r.kind() == Ok(ReplyKind::ERROR) {
            return Err(BenchError::Reply(format!("command {c:?} was refused: {r:?}")));
        }
    }
    Ok(())
}

/// The batch engine through `actor::handle`: one launch per step, inject
/// and query; queries wait for their result; one synchronisation at the end.
fn batch_frame(engine: &mut GpuBatch, state: &mut WaveState, cmds: &[Command]) -> Result<Duration, BenchError> {
    let start = Instant::now();
    for c in cmds {
        let r = actor::handle(state, engine, c);
        if r.kind() == Ok(ReplyKind::ERROR) {
            return Err(BenchError::Reply(format!("batch engine refused {c:?}: {r:?}")));
        }
    }
    engine.synchronize().map_err(BenchError::Batch)?;
    let t = start.elapsed();
    match engine.take_error() {
        Some(e) => Err(BenchError::Batch(e)),
        None => Ok(t),
    }
}

/// Runs every section. `sizes` are `(side, steps)` of the throughput rows;
/// `frames` the mixed frames timed per engine; `worker_threads` the
/// persistent engine's threads per worker; `bandwidth_gbs` the copy
/// bandwidth measured before.
pub fn compare(
    sizes: &[(u32, u32)],
    frames: usize,
    worker_threads: u32,
    bandwidth_gbs: f64,
) -> Result<Comparison, BenchError> {
    let d64 = GridDims::cube(64).expect("64³ is a valid grid");
    // Batch engine first (module loads and allocations happen here).
    let mut batch_rows = Vec::new();
    for &(side, steps) in sizes {
        let dims = GridDims::cube(side).expect("bench sizes are valid grids");
        batch_rows.push(gpu::bench(&[dims], steps).map_err(BenchError::Batch)?[0]);
    }
    let mut engine = GpuBatch::new(d64).map_err(BenchError::Batch)?;
    let device = engine.device_name().to_string();
    let mut state = WaveState::new(Params::DEFAULT);
    let frame = mixed_frame(d64, false);
    batch_frame(&mut engine, &mut state, &frame)?; // warm-up
    let mut samples = Vec::new();
    for _ in 0..frames {
        samples.push(batch_frame(&mut engine, &mut state, &frame)?);
    }
    let frame_batch = Percentiles::of(&samples);
    let mut inject = Vec::new();
    for i in 0..200u32 {
        let start = Instant::now();
        engine.inject([10 + i % 40, 32, 32], 1e-3).map_err(BenchError::Batch)?;
        engine.synchronize().map_err(BenchError::Batch)?;
        inject.push(start.elapsed());
    }
    let inject_batch = Percentiles::of(&inject);
    drop(engine);

    // Persistent engine: one launch per size, nothing else loads meanwhile.
    let mut throughput = Vec::new();
    let mut workers = 0;
    let mut frames_p = (None, None);
    let mut injects = (Vec::new(), Vec::new(), Vec::new());
    for (&(side, steps), b) in sizes.iter().zip(&batch_rows) {
        let dims = GridDims::cube(side).expect("bench sizes are valid grids");
        let sim = PersistentSim::launch_with(dims, Backend::Cuda, GangWorkers::Fill, worker_threads)
            .map_err(BenchError::Persistent)?;
        let warm = [Command::inject_impulse(dims.centre(), 1.0), Command::run_steps(steps / 10 + 1)];
        check(&sim.commands(&warm).map_err(BenchError::Persistent)?, &warm)?;
        let start = Instant::now();
        let r = sim.command(Command::run_steps(steps)).map_err(BenchError::Persistent)?;
        let persistent_s = start.elapsed().as_secs_f64();
        check(&[r], &[Command::run_steps(steps)])?;
        throughput.push(Throughput { side, steps, batch_s: b.seconds, persistent_s, workers: sim.workers() });
        if side == 64 {
            workers = sim.workers();
            for per_step in [false, true] {
                let frame = mixed_frame(dims, per_step);
                check(&sim.commands(&frame).map_err(BenchError::Persistent)?, &frame)?;
                let mut samples = Vec::new();
                for _ in 0..frames {
                    let start = Instant::now();
                    let replies = sim.commands(&frame).map_err(BenchError::Persistent)?;
                    samples.push(start.elapsed());
                    check(&replies, &frame)?;
                }
                let p = Some(Percentiles::of(&samples));
                if per_step { frames_p.1 = p } else { frames_p.0 = p }
            }
            for i in 0..200u32 {
                let cmd = Command::inject_impulse([10 + i % 40, 32, 32], 1e-3);
                let start = Instant::now();
                sim.command(cmd).map_err(BenchError::Persistent)?;
                injects.0.push(start.elapsed());
                let start = Instant::now();
                sim.command(Command::run_steps(10)).map_err(BenchError::Persistent)?;
                injects.2.push(start.elapsed());
                // Steps and inject sent back to back: the inject's latency
                // from its own send to its reply.
                let (steps_sent, inject_sent, inject_done) = sim.block_on(async {
                    let a = sim.actor();
                    let t0 = Instant::now();
                    let p1 = a.send_request(Command::run_steps(10)).await;
                    let t1 = Instant::now();
                    let p2 = a.send_request(cmd).await;
                    let r = match (p1, p2) {
                        (Ok(p1), Ok(p2)) => p1.await.and(p2.await).map(|_| ()),
                        _ => Err(ringkernel::RequestError::Timeout(Duration::ZERO)),
                    };
                    (t0, t1, r.map(|()| Instant::now()))
                });
                let _ = steps_sent;
                let done = inject_done.map_err(|e| BenchError::Persistent(SessionError::Request(e)))?;
                injects.1.push(done - inject_sent);
            }
        }
        sim.shutdown().map_err(BenchError::Persistent)?;
    }
    let missing = || BenchError::Reply("the bench sizes must include 64".into());
    Ok(Comparison {
        device,
        bandwidth_gbs,
        throughput,
        frame_persistent: frames_p.0.ok_or_else(missing)?,
        frame_persistent_per_step: frames_p.1.ok_or_else(missing)?,
        frame_batch,
        inject_idle: Percentiles::of(&injects.0),
        inject_behind_steps: Percentiles::of(&injects.1),
        steps10: Percentiles::of(&injects.2),
        inject_batch,
        workers,
        worker_threads,
    })
}

fn pct(p: &Percentiles) -> String {
    format!("{{\"n\": {}, \"p50_us\": {:.3}, \"p99_us\": {:.3}, \"min_us\": {:.3}}}", p.n, p.p50, p.p99, p.min)
}

impl Comparison {
    /// The results as JSON (`head` adds fields such as date and command).
    pub fn to_json(&self, head: &[(&str, String)]) -> String {
        let mut s = String::from("{\n");
        for (k, v) in head {
            let _ = writeln!(s, "  \"{k}\": \"{}\",", v.replace('\\', "\\\\").replace('"', "\\\""));
        }
        let _ = writeln!(s, "  \"device\": \"{}\",", self.device);
        let _ = writeln!(s, "  \"copy_bandwidth_gbs\": {:.1},", self.bandwidth_gbs);
        let _ = writeln!(s, "  \"worker_threads\": {},", self.worker_threads);
        s.push_str("  \"throughput\": [\n");
        for (i, t) in self.throughput.iter().enumerate() {
            let [bg, bp, pg, pp, ratio] = t.figures(self.bandwidth_gbs);
            let _ = write!(
                s,
                "    {{\"side\": {}, \"steps\": {}, \"workers\": {}, \"batch_gcells_s\": {bg:.2}, \"batch_pct_bw\": {bp:.1}, \
                 \"persistent_gcells_s\": {pg:.2}, \"persistent_pct_bw\": {pp:.1}, \"persistent_over_batch\": {ratio:.3}}}",
                t.side, t.steps, t.workers,
            );
            s.push_str(if i + 1 < self.throughput.len() { ",\n" } else { "\n" });
        }
        s.push_str("  ],\n");
        let _ = writeln!(s, "  \"mixed_frame_64\": {{\"workers\": {},", self.workers);
        let _ = writeln!(s, "    \"persistent\": {},", pct(&self.frame_persistent));
        let _ = writeln!(s, "    \"persistent_one_command_per_step\": {},", pct(&self.frame_persistent_per_step));
        let _ = writeln!(s, "    \"launch_per_operation\": {},", pct(&self.frame_batch));
        let _ = writeln!(s, "    \"speedup_p50\": {:.2}}},", self.frame_batch.p50 / self.frame_persistent.p50);
        s.push_str("  \"inject_latency_64\": {\n");
        let _ = writeln!(s, "    \"persistent_idle\": {},", pct(&self.inject_idle));
        let _ = writeln!(s, "    \"persistent_behind_runsteps10\": {},", pct(&self.inject_behind_steps));
        let _ = writeln!(s, "    \"persistent_runsteps10_alone\": {},", pct(&self.steps10));
        let _ = writeln!(s, "    \"batch_launch_and_sync\": {}", pct(&self.inject_batch));
        s.push_str("  }\n}\n");
        s
    }

    /// The results as markdown tables.
    pub fn to_markdown(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Device: {}. Copy bandwidth (device to device, read + write): {:.1} GB/s. Persistent engine: \
             {} threads per gang worker.\n",
            self.device, self.bandwidth_gbs, self.worker_threads
        );
        s.push_str("### Throughput: batch (one launch per step) vs persistent (one RunSteps command)\n\n");
        s.push_str("| grid | steps | workers | batch G cells/s | batch % of bw | persistent G cells/s | persistent % of bw | persistent / batch |\n");
        s.push_str("| --- | --- | --- | --- | --- | --- | --- | --- |\n");
        for t in &self.throughput {
            let [bg, bp, pg, pp, ratio] = t.figures(self.bandwidth_gbs);
            let _ = writeln!(
                s,
                "| {}³ | {} | {} | {bg:.1} | {bp:.1} % | {pg:.1} | {pp:.1} % | {ratio:.2}× |",
                t.side, t.steps, t.workers
            );
        }
        s.push_str(
            "\n% of bw: 12 bytes per cell per step (read p and p_prev, write p_next) over the copy bandwidth.\n\n",
        );
        s.push_str("### Mixed frame, 64³: 1000 steps + 10 injects + 5 queries\n\n");
        s.push_str("| engine | frames | p50 (µs) | p99 (µs) | min (µs) | p50 vs launch-per-op |\n| --- | --- | --- | --- | --- | --- |\n");
        for (name, p) in [
            ("persistent, 10 × RunSteps(100) sent back to back", &self.frame_persistent),
            ("persistent, 1000 × RunSteps(1) sent back to back", &self.frame_persistent_per_step),
            ("launch per operation (batch engine)", &self.frame_batch),
        ] {
            let _ = writeln!(
                s,
                "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.2}× |",
                p.n,
                p.p50,
                p.p99,
                p.min,
                self.frame_batch.p50 / p.p50
            );
        }
        s.push_str("\n### Inject latency, 64³ (send to reply)\n\n");
        s.push_str("| what | n | p50 (µs) | p99 (µs) | min (µs) |\n| --- | --- | --- | --- | --- |\n");
        for (name, p) in [
            ("persistent, simulation resident and idle", &self.inject_idle),
            ("persistent, sent right behind RunSteps(10)", &self.inject_behind_steps),
            ("persistent, RunSteps(10) alone", &self.steps10),
            ("batch: wavesim_inject launch + synchronise", &self.inject_batch),
        ] {
            let _ = writeln!(s, "| {name} | {} | {:.1} | {:.1} | {:.1} |", p.n, p.p50, p.p99, p.min);
        }
        s
    }
}
