//! Quick start: launch a `Hello` actor, talk to it, pause it, resume it,
//! stop it.
//!
//! ```text
//! cargo run --release -p ringkernel --example basic_hello_kernel
//! ```
//!
//! Uses `Backend::Auto`: the GPU when the CUDA backend can run here, the CPU
//! backend otherwise. The actor is the same code either way
//! (`ringkernel_example_actors::Hello`).

use ringkernel::{Backend, LaunchOptions, RingKernel};
use ringkernel_example_actors::{Hello, HelloRequest};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = RingKernel::builder().backend(Backend::Auto).build().await?;
    print!("backend: {}", runtime.backend());
    match runtime.fallback_reason() {
        Some(why) => println!(" (fell back: {why})"),
        None => println!(),
    }

    let hello = runtime.launch::<Hello>("hello", LaunchOptions::default()).await?;
    println!("launched actor {} '{}': state {}", hello.id(), hello.name(), hello.state());

    let reply = hello.request(HelloRequest::new("World")?).await?;
    println!("reply: {}", reply.as_str()?);

    hello.deactivate().await?;
    println!("after deactivate: state {}", hello.state());

    hello.activate().await?;
    println!("after activate: state {}", hello.state());

    let reply = hello.request(HelloRequest::new("RingKernel")?).await?;
    println!("reply: {}", reply.as_str()?);

    hello.terminate().await?;
    println!("after terminate: state {}", hello.state());

    // Telemetry is published by the actor off the message path; after terminate
    // it is final.
    let t = hello.telemetry();
    println!(
        "telemetry: {} messages processed, mean service time {} ns, max {} ns",
        t.messages_processed,
        t.mean_latency_ns(),
        t.max_latency_ns
    );

    runtime.shutdown().await?;
    println!("runtime shut down");
    Ok(())
}
