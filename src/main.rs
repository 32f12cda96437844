//! `concert`: serves the reservation API. See `concert --help` for every setting.
//! `concert check` verifies the database's invariants instead (see `concert check --help`).

use std::process::ExitCode;

use clap::Parser;
use concert::cluster::ClusterSettings;
use concert::config::{Cli, Command, Config};
use concert::http::HttpSettings;
use concert::server::{Application, Settings, shutdown_signal};
use tokio::net::TcpListener;

// mimalloc: the on-sale minute allocates small, short-lived buffers on two threads at
// once; glibc's malloc spent ~17% of the server's CPU on them (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let Cli { command, config } = Cli::parse();
    if let Some(Command::Check) = command {
        return check(&config).await;
    }
    // Held to the end of `main`: the lines still queued are written when it drops.
    let _log = concert::logging::init(&config.log, config.log_format);

    match run(config).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> Result<(), Box<dyn std::error::Error>> {
    concert::transport::raise_descriptor_limit();
    if let Some(lease) = config.cluster.lease_config()? {
        return run_cluster(config, lease).await;
    }
    // One node per database: taken before the database is opened (a second node
    // does not even migrate), held until the engine has stopped. The one place a
    // cluster node will skip (docs/operations.md, "One node per database").
    let lock = actors::NodeLock::acquire(&config.database_url).await?;
    let database = actors::Database::open(&config.database_url)
        .await?
        .guarded_by(&lock);
    tracing::info!(backend = database.backend(), "database ready");
    let listener = TcpListener::bind(config.addr).await?;
    let metrics = bind_metrics(&config).await?;
    let settings = serve_settings(&config)?;
    let mut app = Application::start(database, listener, settings)
        .await?
        .with_lock(lock);
    if let Some(metrics) = metrics {
        app = app.with_metrics(metrics);
    }
    if let Some(address) = app.metrics_addr().transpose()? {
        tracing::info!(%address, "metrics served");
    }
    // The restore read the whole line into memory once and freed it; hand those pages
    // back to the OS now, or mimalloc keeps them until the heaps that freed them
    // allocate again (at 1,000,000 tokens: ~340 MB resident instead of ~140 MB).
    // SAFETY: mi_collect takes no pointers; it only returns free pages to the OS.
    unsafe { libmimalloc_sys::mi_collect(true) };
    tracing::info!(address = %app.local_addr()?, "serving");
    app.run_until(shutdown_signal()).await?;
    Ok(())
}

/// Cluster mode: the single-node lock in shared mode (the nodes share the database by
/// design, the engine's lease and its fenced writes keeping one owner at a time; a
/// single node cannot start beside them, nor they beside one).
async fn run_cluster(
    config: Config,
    lease: cluster::LeaseConfig,
) -> Result<(), Box<dyn std::error::Error>> {
    let cluster = ClusterSettings {
        nats_url: config.cluster.nats_url.clone().unwrap_or_default(),
        lease,
        database_url: config.database_url.clone(),
        forward_timeout: config.cluster.forward_timeout,
        max_forwards: config.cluster.max_forwards as usize,
    };
    let node = cluster.lease.node.clone();
    // After the database URL is known to be Postgres (`start` refuses anything else,
    // with the clearer message), before anything is served.
    let started = concert::cluster::start(cluster).await?;
    let _lock = actors::NodeLock::acquire_shared(&config.database_url).await?;
    tracing::info!(%node, "cluster node: connected to Postgres and NATS; a candidate for the engine");
    let listener = TcpListener::bind(config.addr).await?;
    let metrics = bind_metrics(&config).await?;
    let settings = serve_settings(&config)?;
    tracing::info!(address = %listener.local_addr()?, "serving");
    started
        .run_until(listener, metrics, settings, shutdown_signal())
        .await?;
    Ok(())
}

/// The metrics listener, if any. The recorder is installed first: the engine's rooms
/// register their gauges as they start, and the HTTP layer caches its handles.
async fn bind_metrics(config: &Config) -> Result<Option<TcpListener>, Box<dyn std::error::Error>> {
    let Some(address) = config.metrics_addr.0 else {
        return Ok(None);
    };
    concert::metrics::install();
    let bound = TcpListener::bind(address).await.map_err(|error| {
        format!("metrics address {address}: {error} (set --metrics-addr, or `off`)")
    })?;
    Ok(Some(bound))
}

/// What a node serves with, single or clustered; says whether identities are verified.
fn serve_settings(config: &Config) -> Result<Settings, Box<dyn std::error::Error>> {
    let door = config.door()?;
    if config.identity_verified() {
        tracing::info!("identities verified: a new queue token needs a valid X-User-Token (JWT)");
    } else {
        tracing::warn!(
            "open identities: no JWT key is set, so anyone can act as anyone by naming a userId \
             (set CONCERT_JWT_SECRET or CONCERT_JWT_PUBLIC_KEY; see docs/security.md)"
        );
    }
    Ok(Settings {
        engine: config.engine(),
        http: HttpSettings {
            door,
            ..config.http()
        },
        demo: config.demo,
        shutdown_grace: config.shutdown_grace,
    })
}

/// `concert check`: 0 when every invariant holds, 1 on any violation, 2 when the
/// database cannot be read. Violations and the summary go to stdout, errors to stderr.
async fn check(config: &Config) -> ExitCode {
    match actors::engine::check(&config.database_url, &config.limits()).await {
        Ok(report) if report.is_clean() => {
            println!("ok: {}", report.summary());
            ExitCode::SUCCESS
        }
        Ok(report) => {
            for violation in &report.violations {
                println!("{violation}");
            }
            println!("FAILED: {}", report.summary());
            ExitCode::from(1)
        }
        Err(error) => {
            eprintln!("concert check: {error}");
            ExitCode::from(2)
        }
    }
}
