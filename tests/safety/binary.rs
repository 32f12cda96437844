//! The real `concert` binary in a child process: what an operator runs, with its own
//! logging, its own runtime and an RSS the kernel reports.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A running `concert` process and everything it has printed so far.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    output: Arc<Mutex<String>>,
    readers: Vec<JoinHandle<()>>,
}

impl Server {
    /// Starts the binary on `database_url` with `args` (flags), listening on a free port,
    /// and waits until it says it is serving. The environment's own `CONCERT_*`,
    /// `DATABASE_URL` and `RUST_LOG` are not inherited; `log` is the log filter.
    pub async fn start(database_url: &str, log: &str, args: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_concert"));
        for (name, _) in std::env::vars() {
            if name.starts_with("CONCERT_") || name == "DATABASE_URL" || name == "RUST_LOG" {
                command.env_remove(name);
            }
        }
        // No metrics listener unless a test asks for one (`--metrics-addr`): the default
        // port would be taken by the first of the servers that tests run at once.
        command.env("CONCERT_METRICS_ADDR", "off");
        command
            .args([
                "--addr",
                "127.0.0.1:0",
                "--database-url",
                database_url,
                "--log",
                log,
            ])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().expect("start the concert binary");
        let output = Arc::new(Mutex::new(String::new()));
        let (lines_tx, mut lines) = mpsc::unbounded_channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        let readers = vec![
            tokio::spawn(collect(stdout, output.clone(), lines_tx.clone())),
            tokio::spawn(collect(stderr, output.clone(), lines_tx)),
        ];
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.recv().await {
                if let Some(address) = serving_address(&line) {
                    return format!("http://{address}");
                }
            }
            panic!("the server exited before serving");
        })
        .await
        .unwrap_or_else(|_| panic!("the server did not start: {}", output.lock().unwrap()));
        Server {
            child,
            address,
            output,
            readers,
        }
    }

    /// Everything printed so far (stdout and stderr, line by line as they came).
    #[allow(dead_code)] // used by tests/observability, not by every suite sharing this file
    pub fn printed(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    /// A field of `/proc/<pid>/status` in KiB (`VmRSS`: resident now; `VmHWM`: the peak).
    pub fn memory_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("/proc/<pid>/status (Linux)");
        status
            .lines()
            .find_map(|line| line.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc/<pid>/status"))
    }

    /// Stops the server with SIGTERM, waits for it to exit cleanly, and returns all it printed.
    pub async fn stop(mut self) -> String {
        let pid = self.pid().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill -TERM");
        assert!(killed.success(), "kill -TERM {pid}");
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .expect("the server stops within 30 s of SIGTERM")
            .expect("the server's exit status");
        // The readers finish at the end of the pipes, which the exit closes.
        for reader in self.readers.drain(..) {
            reader.await.expect("an output reader");
        }
        let printed = self.output.lock().unwrap().clone();
        assert!(
            status.success(),
            "the server exits 0 on SIGTERM: {status}\n{printed}"
        );
        printed
    }
}

/// The address in the line that says the server is serving, in either log format:
/// `… INFO concert: serving address=127.0.0.1:40123`, or a JSON object whose
/// `message` is `serving` and whose `address` is the address.
fn serving_address(line: &str) -> Option<String> {
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_str(line) {
        return (object.get("message")?.as_str()? == "serving")
            .then(|| object.get("address")?.as_str().map(str::to_owned))
            .flatten();
    }
    let (_, address) = line.split_once("serving address=")?;
    Some(address.trim().to_owned())
}

/// Copies `stream` line by line into `output`, and each line to `lines`.
async fn collect(
    stream: impl AsyncRead + Unpin,
    output: Arc<Mutex<String>>,
    lines: mpsc::UnboundedSender<String>,
) {
    let mut reader = BufReader::new(stream).lines();
    while let Ok(Some(line)) = reader.next_line().await {
        {
            let mut output = output.lock().unwrap();
            output.push_str(&line);
            output.push('\n');
        }
        let _ = lines.send(line);
    }
}
