//! Requests, error replies, pipelining and the output stream, with the
//! `Counter` actor.
//!
//! ```text
//! cargo run --release -p ringkernel --example request_reply
//! ```

use ringkernel::{Backend, LaunchOptions, RequestError, RingKernel};
use ringkernel_example_actors::{COUNTER_ERROR_UNKNOWN_OP, Counter, CounterCmd};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runtime = RingKernel::builder().backend(Backend::Auto).build().await?;
    let counter = runtime.launch::<Counter>("counter", LaunchOptions::default()).await?;
    println!("backend {}, actor {} '{}' is {}", runtime.backend(), counter.id(), counter.name(), counter.state());

    // Requests: each awaits its reply.
    for v in [5, 10, 27] {
        let r = counter.request(CounterCmd::add(v)).await?;
        println!("add {v:>2} -> total {} (op #{})", r.total, r.ops);
    }
    println!("get    -> total {}", counter.request(CounterCmd::get()).await?.total);

    // An unknown op code is answered with an error reply; the actor lives on.
    match counter.request(CounterCmd::raw(77, 0)).await {
        Err(RequestError::ActorError(code)) => {
            assert_eq!(code, COUNTER_ERROR_UNKNOWN_OP);
            println!("op 77  -> error reply, code {code}; state still {}", counter.state());
        }
        other => return Err(format!("expected an error reply, got {other:?}").into()),
    }

    // Pipelining: queue several requests, then collect the replies in order.
    let mut pending = Vec::new();
    for v in 1..=8 {
        pending.push(counter.send_request(CounterCmd::add(v)).await.map_err(|e| e.to_string())?);
    }
    let mut totals = Vec::new();
    for p in pending {
        totals.push(p.await?.total);
    }
    println!("pipelined adds 1..=8 -> running totals {totals:?}");

    // Fire-and-forget sends: the actor's replies become outputs.
    let mut outputs = counter.outputs();
    for v in [100, 200, 300] {
        counter.send(CounterCmd::add(v)).await.map_err(|e| e.to_string())?;
    }
    for _ in 0..3 {
        match outputs.next().await {
            Some(r) => println!("output -> total {}", r.total),
            None => return Err("output stream ended early".into()),
        }
    }

    counter.terminate().await?;
    assert!(outputs.next().await.is_none(), "the stream ends once the actor has stopped");
    // Counters are published by the actor off the message path; after terminate
    // they are final.
    let s = counter.control_snapshot();
    println!(
        "control block: {} in, {} out, {} dead letters, {} failures, state {}",
        s.messages_in, s.messages_out, s.dead_letters, s.failures, s.state
    );
    runtime.shutdown().await?;
    println!("done");
    Ok(())
}
