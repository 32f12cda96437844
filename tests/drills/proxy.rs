//! A TCP proxy between the server and Postgres that can take the database away:
//! while down it refuses new connections (accepts and closes them at once) and cuts
//! every open one, as a network partition or a database restart would. It can also
//! lose the reply to a `COMMIT`: the transaction commits in Postgres, but the server
//! never hears so, as when a link fails right after a commit was sent.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// What the proxy does with traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Forwards both ways.
    Up,
    /// Forwards both ways until a connection sends `COMMIT`: from then on, what
    /// Postgres answers on that connection is dropped (until it is cut).
    LoseCommitReplies,
    /// Cuts every connection and refuses new ones.
    Down,
}

/// The proxy; dropping it stops accepting and cuts what is open.
pub struct Proxy {
    /// Where the server connects instead of Postgres.
    pub addr: SocketAddr,
    mode: watch::Sender<Mode>,
    /// Open connections cut by [`Mode::Down`].
    pub cut: Arc<AtomicU64>,
    /// Connections refused while not up.
    pub refused: Arc<AtomicU64>,
    /// Connections whose `COMMIT` reply was dropped in [`Mode::LoseCommitReplies`].
    pub lost_commits: Arc<AtomicU64>,
    accept: JoinHandle<()>,
}

impl Proxy {
    /// Listens on a free local port and forwards to `target` (`host:port`).
    pub async fn start(target: String) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (mode, _) = watch::channel(Mode::Up);
        let counters = Counters {
            cut: Arc::new(AtomicU64::new(0)),
            refused: Arc::new(AtomicU64::new(0)),
            lost_commits: Arc::new(AtomicU64::new(0)),
        };
        let accept = tokio::spawn(accept_loop(
            listener,
            target,
            mode.clone(),
            counters.clone(),
        ));
        Proxy {
            addr,
            mode,
            cut: counters.cut,
            refused: counters.refused,
            lost_commits: counters.lost_commits,
            accept,
        }
    }

    /// Switches what the proxy does.
    pub fn set(&self, mode: Mode) {
        self.mode.send_replace(mode);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.set(Mode::Down);
    }
}

#[derive(Clone)]
struct Counters {
    cut: Arc<AtomicU64>,
    refused: Arc<AtomicU64>,
    lost_commits: Arc<AtomicU64>,
}

async fn accept_loop(
    listener: TcpListener,
    target: String,
    mode: watch::Sender<Mode>,
    counters: Counters,
) {
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        if *mode.borrow() == Mode::Down {
            counters.refused.fetch_add(1, Ordering::SeqCst);
            drop(client);
            continue;
        }
        let (state, target, counters) = (mode.subscribe(), target.clone(), counters.clone());
        tokio::spawn(async move {
            if let Ok(server) = TcpStream::connect(&target).await {
                pipe(client, server, state, counters).await;
            }
        });
    }
}

/// Forwards one connection until either side closes or the proxy goes down.
async fn pipe(
    client: TcpStream,
    server: TcpStream,
    state: watch::Receiver<Mode>,
    counters: Counters,
) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let mut down = state.clone();
    let swallowing = AtomicBool::new(false);
    let upstream = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = from_client.read(&mut buffer).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            // sqlx ends a transaction with the simple query `COMMIT`.
            let commit = buffer[..n].windows(7).any(|w| w == b"COMMIT\0");
            if commit
                && *state.borrow() == Mode::LoseCommitReplies
                && !swallowing.swap(true, Ordering::SeqCst)
            {
                counters.lost_commits.fetch_add(1, Ordering::SeqCst);
            }
            to_server.write_all(&buffer[..n]).await?;
        }
    };
    let downstream = async {
        let mut buffer = vec![0u8; 16 * 1024];
        loop {
            let n = from_server.read(&mut buffer).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            if !swallowing.load(Ordering::SeqCst) {
                to_client.write_all(&buffer[..n]).await?;
            }
        }
    };
    tokio::select! {
        _ = upstream => {}
        _ = downstream => {}
        _ = down.wait_for(|mode| *mode == Mode::Down) => {
            // Dropping both ends closes them mid-conversation.
            counters.cut.fetch_add(1, Ordering::SeqCst);
        }
    }
}
