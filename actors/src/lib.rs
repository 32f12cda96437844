//! The concert reservation engine (map filled in as modules land).

pub mod domain;
pub mod error;
pub mod store;
