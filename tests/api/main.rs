//! HTTP integration tests: the app served in-process on a fresh database, driven through
//! `concert-client` like a front end would. Every test runs on SQLite, and on Postgres when
//! `DATABASE_URL=postgres://…` is set (otherwise its Postgres half prints a skip line).

mod helpers;

mod admin;
mod balance;
mod catalog;
mod credits;
mod door;
mod holds;
mod lifecycle;
mod listing;
mod payments;
mod queue;
mod restart;
mod rooms;
mod routing;
mod stats;
mod stream_conn;
mod streams;
mod transport;
mod web;
