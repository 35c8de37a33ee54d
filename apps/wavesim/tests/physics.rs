//! The CPU reference checked against physics and against itself: the two
//! engines agree bit for bit, a centred impulse stays symmetric, waves move
//! at the right speed, the CFL check guards a real instability, the energy
//! is conserved without damping and decays with it, checkpoints restore
//! exactly.
//!
//! Grids are small (≤ 49³) so that the suite stays fast in debug builds.

use ringkernel_wavesim::fdtd::{self, Coeffs, MAX_COURANT2};
use ringkernel_wavesim::{Command, Engine, ErrorCode, GridDims, Params, ReplyKind, Simulation};

/// Courant number 0.55 (C = 0.3025) on a unit grid, no damping.
fn undamped() -> Params {
    Params::new(1.0, 0.55, 1.0, 0.0).unwrap()
}

fn energy(sim: &mut Simulation) -> f64 {
    let r = sim.apply(&Command::get_progress());
    assert_eq!(r.kind(), Ok(ReplyKind::PROGRESS));
    r.energy
}

/// A run with impulses of both signs, a reconfiguration and a restore, on a
/// grid with three different sides.
fn scenario(dims: GridDims) -> Vec<Command> {
    vec![
        Command::inject_impulse([5, 6, 7], 1.0),
        Command::run_steps(17),
        Command::inject_impulse([15, 4, 11], -0.75),
        Command::checkpoint(),
        Command::run_steps(20),
        Command::get_progress(),
        Command::configure(343.0, 8e-6, 5e-3, 0.02),
        Command::inject_impulse([dims.nx() - 2, dims.ny() - 2, dims.nz() - 2], 0.5),
        Command::run_steps(25),
        Command::get_progress(),
        Command::restore(),
        Command::run_steps(9),
        Command::get_progress(),
    ]
}

#[test]
fn rayon_and_naive_agree_bit_for_bit() {
    let dims = GridDims::new(23, 17, 19).unwrap();
    let mut naive = Simulation::with_params(dims, Engine::Naive, undamped());
    let mut rayon = Simulation::with_params(dims, Engine::Rayon, undamped());
    let cmds = scenario(dims);
    let (a, b) = (naive.run(&cmds), rayon.run(&cmds));
    // Replies, energies included, are identical: compare their bytes.
    assert_eq!(bytemuck::cast_slice::<_, u8>(&a), bytemuck::cast_slice::<_, u8>(&b));
    let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(naive.field().pressure()), bits(rayon.field().pressure()));
    assert_eq!(bits(naive.field().previous()), bits(rayon.field().previous()));
    assert!(naive.field().pressure().iter().any(|&v| v != 0.0));
    // Engines can be switched mid-run without a trace.
    naive.set_engine(Engine::Rayon);
    rayon.set_engine(Engine::Naive);
    naive.apply(&Command::run_steps(5));
    rayon.apply(&Command::run_steps(5));
    assert_eq!(bits(naive.field().pressure()), bits(rayon.field().pressure()));
}

#[test]
fn centred_impulse_stays_symmetric() {
    let n = 21;
    let dims = GridDims::cube(n).unwrap();
    let mut sim = Simulation::with_params(dims, Engine::Rayon, undamped());
    sim.apply(&Command::inject_impulse(dims.centre(), 1.0));
    sim.apply(&Command::run_steps(40)); // reflected off the walls more than once
    let p = sim.field().pressure();
    let at = |x: u32, y: u32, z: u32| p[dims.index(x, y, z)];
    let peak = p.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak > 1e-3, "the wave is still there: {peak}");
    let m = n - 1;
    let mut worst = 0.0f32;
    for z in 0..n {
        for y in 0..n {
            for x in 0..n {
                let v = at(x, y, z);
                // Mirrors: the stencil sums each axis's neighbours as a pair, so
                // mirrored fields are equal to the bit.
                assert_eq!(v.to_bits(), at(m - x, y, z).to_bits(), "x mirror at {x} {y} {z}");
                assert_eq!(v.to_bits(), at(x, m - y, z).to_bits(), "y mirror at {x} {y} {z}");
                assert_eq!(v.to_bits(), at(x, y, m - z).to_bits(), "z mirror at {x} {y} {z}");
                // Swapping axes changes the order of the additions, so only
                // rounding differences are allowed.
                for w in [at(y, x, z), at(z, y, x), at(x, z, y), at(y, z, x)] {
                    worst = worst.max((v - w).abs());
                }
            }
        }
    }
    eprintln!("axis-swap asymmetry {worst:e}, peak {peak:e}");
    assert!(worst <= 1e-5 * peak, "axis-swap asymmetry {worst} against peak {peak}");
}

#[test]
fn wave_front_moves_at_the_courant_speed() {
    // In 3D a bump at rest launches a shell whose leading edge is positive
    // and trailing edge negative; its middle (the zero crossing) travels at
    // c·dt/dx = 0.55 cells per step.
    // The grid is big enough that the shell has not reached a wall.
    let dims = GridDims::cube(61).unwrap();
    let mut sim = Simulation::with_params(dims, Engine::Rayon, undamped());
    let [cx, cy, cz] = dims.centre();
    sim.apply(&Command::inject_impulse([cx, cy, cz], 1.0));
    for steps in [20u32, 16] {
        sim.apply(&Command::run_steps(steps));
        let t = sim.state().step() as f32;
        let row: Vec<f32> = (cx..dims.nx()).map(|x| sim.field().pressure()[dims.index(x, cy, cz)]).collect();
        let (min_at, _) = row.iter().enumerate().fold((0, 0.0f32), |b, (i, &v)| if v < b.1 { (i, v) } else { b });
        let (max_at, _) = row.iter().enumerate().fold((0, 0.0f32), |b, (i, &v)| if v > b.1 { (i, v) } else { b });
        assert!(min_at < max_at, "trailing negative before leading positive: {row:?}");
        let middle = (min_at + max_at) as f32 / 2.0;
        eprintln!("after {t} steps the front's middle is at {middle} cells (0.55·t = {})", 0.55 * t);
        assert!((middle - 0.55 * t).abs() <= 2.0, "front at {middle} cells after {t} steps: {row:?}");
        // Nothing ahead of the shell: signals move at most one cell a step
        // in the scheme, and the bump reaches only IMPULSE_RADIUS further.
        let reach = t as usize + fdtd::IMPULSE_RADIUS as usize;
        if let Some(ahead) = row.get(reach..) {
            assert!(ahead.iter().all(|&v| v == 0.0), "signal ahead of {reach}: {row:?}");
        }
    }
}

#[test]
fn configure_rejects_unstable_parameters() {
    let dims = GridDims::cube(9).unwrap();
    let mut sim = Simulation::new(dims, Engine::Rayon);
    // Courant number just below and above 1/√3 ≈ 0.57735.
    let ok = sim.apply(&Command::configure(1.0, 0.577, 1.0, 0.0));
    assert_eq!(ok.kind(), Ok(ReplyKind::ACK));
    let before = *sim.state().params();
    let r = sim.apply(&Command::configure(1.0, 0.578, 1.0, 0.0));
    assert_eq!(r.error_code(), Some(Ok(ErrorCode::UNSTABLE)));
    let r = sim.apply(&Command::configure(343.0, 1e-5, 5e-3, 0.0)); // 0.686
    assert_eq!(r.error_code(), Some(Ok(ErrorCode::UNSTABLE)));
    assert_eq!(*sim.state().params(), before, "a refused Configure changes nothing");
}

#[test]
fn the_cfl_limit_guards_a_real_instability() {
    // Straight through the update functions (the protocol would refuse C > 1/3).
    let dims = GridDims::cube(12).unwrap();
    // Largest |p| after 100 steps over largest |p| at the start; a NaN or
    // infinity counts as infinite growth.
    let grow = |courant2: f32| {
        let k = Coeffs { courant2, keep: 1.0 };
        let mut cur = vec![0.0f32; dims.cells()];
        let mut prev = vec![0.0f32; dims.cells()];
        fdtd::inject_bump(&mut cur, &mut prev, dims, [5, 6, 6], 1.0);
        let peak = |f: &[f32]| f.iter().fold(0.0f32, |m, v| if v.is_finite() { m.max(v.abs()) } else { f32::INFINITY });
        let start = peak(&cur);
        for _ in 0..100 {
            fdtd::step_serial(&cur, &mut prev, dims, k);
            std::mem::swap(&mut cur, &mut prev);
        }
        peak(&cur) / start
    };
    eprintln!("growth over 100 steps: C = 1/3: {}, C = 0.36: {}", grow(MAX_COURANT2), grow(0.36));
    assert!(grow(MAX_COURANT2) < 2.0, "stable at the limit: {}", grow(MAX_COURANT2));
    assert!(grow(0.36) > 1e3, "unstable above it: {}", grow(0.36));
}

#[test]
fn energy_is_conserved_without_damping() {
    let dims = GridDims::new(20, 18, 16).unwrap();
    let mut sim = Simulation::with_params(dims, Engine::Rayon, undamped());
    sim.apply(&Command::inject_impulse([7, 9, 8], 1.0));
    sim.apply(&Command::inject_impulse([12, 6, 9], -0.5));
    let e0 = energy(&mut sim);
    assert!(e0 > 0.0);
    let mut worst = 0.0f64;
    for _ in 0..30 {
        sim.apply(&Command::run_steps(10)); // 300 steps, many reflections
        let e = energy(&mut sim);
        worst = worst.max((e - e0).abs() / e0);
    }
    eprintln!("relative energy drift over 300 steps: {worst:e}");
    // Exact in exact arithmetic; f32 rounding of the field is all that moves it.
    assert!(worst < 1e-6, "relative energy drift {worst}");
}

#[test]
fn energy_decays_with_damping() {
    let dims = GridDims::new(20, 18, 16).unwrap();
    let damped = Params::new(1.0, 0.55, 1.0, 0.01).unwrap();
    let mut sim = Simulation::with_params(dims, Engine::Naive, damped);
    sim.apply(&Command::inject_impulse([7, 9, 8], 1.0));
    let e0 = energy(&mut sim);
    let mut last = e0;
    for _ in 0..20 {
        sim.apply(&Command::run_steps(10));
        let e = energy(&mut sim);
        assert!(e < last, "energy {e} after {} steps did not fall below {last}", sim.state().step());
        assert!(e >= 0.0);
        last = e;
    }
    // Each step keeps 1 − γ of the new field; with two time levels in the
    // scheme every mode's amplitude falls by √(1 − γ) a step, so the energy
    // by 1 − γ: after 200 steps about 0.99^200 = 0.134 of it is left.
    let expected = 0.99f64.powi(200) * e0;
    eprintln!("energy after 200 damped steps: {last} of {e0}; (1 - γ)^200 predicts {expected}");
    assert!(last > 0.8 * expected && last < 1.25 * expected, "{last} of {e0}, expected about {expected}");
}

#[test]
fn restore_replays_exactly() {
    let dims = GridDims::new(14, 15, 16).unwrap();
    let mut sim = Simulation::new(dims, Engine::Rayon);
    sim.run(&[Command::inject_impulse([6, 7, 8], 1.0), Command::run_steps(12), Command::checkpoint()]);
    sim.run(&[Command::inject_impulse([4, 4, 4], 0.3), Command::run_steps(30)]);
    let first = (sim.field().pressure().to_vec(), energy(&mut sim));
    let r = sim.apply(&Command::restore());
    assert_eq!((r.kind(), r.step), (Ok(ReplyKind::ACK), 12));
    sim.run(&[Command::inject_impulse([4, 4, 4], 0.3), Command::run_steps(30)]);
    assert_eq!(sim.state().step(), 42);
    let second = (sim.field().pressure().to_vec(), energy(&mut sim));
    assert_eq!(first, second);
}

#[test]
fn every_bad_command_gets_its_error_and_the_run_goes_on() {
    let dims = GridDims::cube(10).unwrap();
    let mut sim = Simulation::new(dims, Engine::Rayon);
    sim.run(&[Command::inject_impulse([5, 5, 5], 1.0), Command::run_steps(4)]);
    let field = sim.field().pressure().to_vec();
    let cases = [
        (Command { kind: 0, ..Command::get_progress() }, ErrorCode::UNKNOWN_KIND),
        (Command { kind: 8, ..Command::get_progress() }, ErrorCode::UNKNOWN_KIND),
        (Command::run_steps(0), ErrorCode::ZERO_STEPS),
        (Command::inject_impulse([10, 5, 5], 1.0), ErrorCode::POSITION_OUT_OF_RANGE),
        (Command::inject_impulse([5, 9, 5], 1.0), ErrorCode::POSITION_OUT_OF_RANGE),
        (Command::inject_impulse([5, 5, 0], 1.0), ErrorCode::POSITION_OUT_OF_RANGE),
        (Command::inject_impulse([5, 5, 5], f32::INFINITY), ErrorCode::NON_FINITE),
        (Command::configure(f32::NAN, 1e-6, 1e-3, 0.0), ErrorCode::NON_FINITE),
        (Command::configure(343.0, 0.0, 1e-3, 0.0), ErrorCode::INVALID_PARAMETER),
        (Command::configure(343.0, 1e-6, 1e-3, -0.5), ErrorCode::INVALID_PARAMETER),
        (Command::configure(343.0, 1e-3, 1e-3, 0.0), ErrorCode::UNSTABLE),
        (Command::restore(), ErrorCode::NO_CHECKPOINT),
    ];
    for (i, (cmd, code)) in cases.iter().enumerate() {
        let r = sim.apply(&cmd.with_tag(i as u32));
        assert_eq!(r.error_code(), Some(Ok(*code)), "{cmd:?}");
        assert_eq!((r.tag, r.step, r.command), (i as u32, 4, cmd.kind));
    }
    assert_eq!(sim.field().pressure(), &field[..], "refused commands leave the field alone");
    let r = sim.apply(&Command::run_steps(3));
    assert_eq!((r.kind(), r.step), (Ok(ReplyKind::ACK), 7));
    assert_eq!(sim.apply(&Command::terminate()).kind(), Ok(ReplyKind::TERMINATED));
    assert_eq!(sim.apply(&Command::run_steps(1)).error_code(), Some(Ok(ErrorCode::TERMINATED)));
    assert!(sim.state().is_terminated());
}
