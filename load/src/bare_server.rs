//! `concert-bare`: the yardstick every HTTP figure of `concert-load` is divided by.
//!
//! A bare axum server: one route, `GET /bare`, answering a fixed JSON body the size and
//! shape of the queue poll's answer (`GET /concert/wating`, the hottest route), with no
//! middleware at all. It runs as its own process with the real server's runtime settings
//! (tokio's multi-threaded runtime with one worker per core, `TOKIO_WORKER_THREADS`
//! honoured alike; mimalloc; `TCP_NODELAY`), so that on the same machine, the same
//! connections and the same minute, `real / bare` is what the server's own work costs,
//! and a slow day moves both. `GET /health` of the real server over this one is what its
//! middleware and accept loop cost (issue 16).
//!
//! `concert-load` starts it (`--bare auto`, the default) from the directory its own
//! binary is in, or is pointed at one already running (`--bare http://127.0.0.1:PORT`).

use std::io::Write as _;
use std::net::SocketAddr;

use axum::Router;
use axum::http::HeaderValue;
use axum::http::header::CONTENT_TYPE;
use axum::routing::get;
use axum::serve::ListenerExt as _;
use clap::Parser;
use tokio::io::AsyncReadExt as _;

// The real server's allocator (src/main.rs): the bare server must not be faster or
// slower for a reason the real one does not share.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// A poll's answer as the server writes it for a token deep in a large line, with a
/// user id as `concert-load` names them: 149 bytes (`tests` checks both).
const POLL_SIZED_BODY: &str = r#"{"watingNumber":523417,"token":"0b9f0c3e-5c1a-4a53-9a55-2f2f5a0a6c11","isProcessing":false,"userId":"rmiv0k3xa-p-523417","estimatedWaitSeconds":5234}"#;

/// The bare server for concert-load's ratios.
#[derive(Debug, Parser)]
#[command(name = "concert-bare", version, about)]
struct Args {
    /// Address to listen on (loopback; port 0 picks a free one).
    #[arg(long, env = "CONCERT_BARE_ADDR", default_value = "127.0.0.1:0")]
    addr: SocketAddr,
    /// Exit when standard input closes: set by the `concert-load` that started it, so
    /// the server never outlives it even if it is killed.
    #[arg(long)]
    until_stdin_closes: bool,
}

/// `#[tokio::main]` as in the real server's `main`: the same runtime, built the same way.
#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    if !args.addr.ip().is_loopback() {
        eprintln!("concert-bare: refusing {}: loopback only", args.addr);
        std::process::exit(2);
    }
    let listener = tokio::net::TcpListener::bind(args.addr).await?;
    let bound = listener.local_addr()?;
    // The one line the starting `concert-load` reads to learn the port.
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on http://{bound}")?;
    out.flush()?;
    drop(out);
    let app = router();
    let listener = listener.tap_io(|tcp| {
        // As the real accept loop does (src/transport): small answers, no Nagle delay.
        let _ = tcp.set_nodelay(true);
    });
    let serve = axum::serve(listener, app);
    if args.until_stdin_closes {
        tokio::select! {
            served = serve => served,
            () = stdin_closed() => Ok(()),
        }
    } else {
        serve.await
    }
}

/// The one route. The body is a `&'static str` with its content type set once: the
/// cheapest answer axum can give, which is the point.
fn router() -> Router {
    Router::new().route(
        "/bare",
        get(|| async {
            (
                [(CONTENT_TYPE, HeaderValue::from_static("application/json"))],
                POLL_SIZED_BODY,
            )
        }),
    )
}

async fn stdin_closed() {
    let mut stdin = tokio::io::stdin();
    let mut buf = [0u8; 64];
    while matches!(stdin.read(&mut buf).await, Ok(n) if n > 0) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_body_is_a_poll_answer_of_its_size() {
        assert_eq!(POLL_SIZED_BODY.len(), 149);
        let v: serde_json::Value = serde_json::from_str(POLL_SIZED_BODY).unwrap();
        for key in [
            "watingNumber",
            "token",
            "isProcessing",
            "userId",
            "estimatedWaitSeconds",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
    }
}
