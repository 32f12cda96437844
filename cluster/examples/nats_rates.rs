//! The NATS figures docs/scale-out.md's capacity plan rests on, measured against the NATS
//! at `NATS_URL` (default nats://127.0.0.1:4222) on this machine:
//!
//! 1. a lease renewal (KV update, compare-and-set on the revision): one at a time
//!    (latency) and many leases at once (renewals/s);
//! 2. a request/reply round trip with a 200-byte body, as a forwarded call would make:
//!    one at a time and 64 in flight;
//! 3. acknowledged publishes to a file-stored stream, as the line's replication would.
//!
//! `cargo run --release -p concert-cluster --example nats_rates`. Prints; asserts nothing.
//! Makes its own bucket and stream and deletes them.

use std::time::{Duration, Instant};

use async_nats::jetstream::{self, stream};
use futures::StreamExt;
use tokio::task::JoinSet;

const RUN: Duration = Duration::from_secs(3);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let url = std::env::var("NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let client = async_nats::connect(&url).await?;
    let js = jetstream::new(client.clone());
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];

    // 1. Lease renewals.
    let bucket = format!("bench_leases_{suffix}");
    js.create_stream(stream::Config {
        name: format!("KV_{bucket}"),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age: Duration::from_secs(3),
        duplicate_window: Duration::from_secs(3),
        storage: stream::StorageType::File,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    })
    .await?;
    let kv = js.get_key_value(bucket.clone()).await?;
    let mut revision = kv.create("one", "node-a".into()).await?;
    let mut samples = Vec::new();
    for _ in 0..2_000 {
        let t = Instant::now();
        revision = kv.update("one", "node-a".into(), revision).await?;
        samples.push(t.elapsed());
    }
    report("lease renewal, one at a time", &mut samples);
    for leases in [64, 512] {
        let deadline = Instant::now() + RUN;
        let mut tasks = JoinSet::new();
        for i in 0..leases {
            let kv = kv.clone();
            tasks.spawn(async move {
                let key = format!("k{leases}_{i}");
                let mut revision = kv.create(&key, "node-a".into()).await.unwrap();
                let mut done = 0u64;
                while Instant::now() < deadline {
                    revision = kv.update(&key, "node-a".into(), revision).await.unwrap();
                    done += 1;
                }
                done
            });
        }
        let total: u64 = tasks.join_all().await.into_iter().sum();
        println!(
            "lease renewals, {leases} leases at once: {:.0}/s",
            total as f64 / RUN.as_secs_f64()
        );
    }
    js.delete_stream(format!("KV_{bucket}")).await?;

    // 2. Request/reply.
    let subject = format!("bench.echo.{suffix}");
    let mut requests = client.subscribe(subject.clone()).await?;
    let responder = client.clone();
    let echo = tokio::spawn(async move {
        while let Some(request) = requests.next().await {
            if let Some(reply) = request.reply {
                let _ = responder.publish(reply, request.payload).await;
            }
        }
    });
    let body = bytes_of(200);
    let mut samples = Vec::new();
    for _ in 0..5_000 {
        let t = Instant::now();
        client.request(subject.clone(), body.clone().into()).await?;
        samples.push(t.elapsed());
    }
    report("request/reply (200 B), one at a time", &mut samples);
    let deadline = Instant::now() + RUN;
    let mut tasks = JoinSet::new();
    for _ in 0..64 {
        let (client, subject, body) = (client.clone(), subject.clone(), body.clone());
        tasks.spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                client
                    .request(subject.clone(), body.clone().into())
                    .await
                    .unwrap();
                done += 1;
            }
            done
        });
    }
    let total: u64 = tasks.join_all().await.into_iter().sum();
    println!(
        "request/reply (200 B), 64 in flight: {:.0}/s",
        total as f64 / RUN.as_secs_f64()
    );
    echo.abort();

    // 3. Acknowledged publishes to a file-stored stream (the line's replication).
    let name = format!("bench_line_{suffix}");
    js.create_stream(stream::Config {
        name: name.clone(),
        subjects: vec![format!("bench.line.{suffix}.>")],
        storage: stream::StorageType::File,
        max_age: Duration::from_secs(60),
        ..Default::default()
    })
    .await?;
    let deadline = Instant::now() + RUN;
    let mut tasks = JoinSet::new();
    for _ in 0..64 {
        let (js, body) = (js.clone(), bytes_of(400));
        let subject = format!("bench.line.{suffix}.room");
        tasks.spawn(async move {
            let mut done = 0u64;
            while Instant::now() < deadline {
                js.publish(subject.clone(), body.clone().into())
                    .await
                    .unwrap()
                    .await
                    .unwrap();
                done += 1;
            }
            done
        });
    }
    let total: u64 = tasks.join_all().await.into_iter().sum();
    println!(
        "stream publish (400 B, acknowledged), 64 in flight: {:.0}/s",
        total as f64 / RUN.as_secs_f64()
    );
    js.delete_stream(name).await?;
    Ok(())
}

fn bytes_of(len: usize) -> Vec<u8> {
    vec![b'x'; len]
}

fn report(what: &str, samples: &mut [Duration]) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{what}: p50 {:?}, p99 {:?} ({} samples)",
        at(0.50),
        at(0.99),
        samples.len()
    );
}
