//! `concert`: the HTTP server in front of the reservation engine (`actors`).
//!
//! - [`cluster`]: cluster mode (`--nats-url`): the engine's owner, forwarding to it;
//! - [`config`]: every setting as a command-line flag with an environment fallback;
//! - [`http`]: routes, extractors, error mapping and the OpenAPI document;
//! - [`logging`]: log lines as text or JSON;
//! - [`metrics`]: the Prometheus recorder and its own listener;
//! - [`server`]: starting the engine, serving, and shutting both down in order;
//! - [`transport`]: the accept loop: connection caps, header timeout, graceful drain.
//!
//! The binary (`src/main.rs`) parses the configuration and calls [`server`] (or, in
//! cluster mode, [`cluster`]); the integration tests (`tests/api/`) start the same
//! [`server::Application`] in-process, and `tests/cluster/` runs three binaries.

#![warn(missing_docs)]

pub mod cluster;
pub mod config;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod server;
pub mod transport;
