//! The worker process of a CUDA actor launched with a restarting recovery
//! policy: started by the runtime, never by hand (see
//! `ringkernel::cuda::isolated`).

fn main() -> std::process::ExitCode {
    ringkernel::cuda::isolated::worker_main()
}
