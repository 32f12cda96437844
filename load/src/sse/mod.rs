//! A lean Server-Sent Events reader for holding many streams open: raw TCP, the chunked
//! framing and the event grammar, each in its own file.

pub mod chunked;
pub mod conn;
pub mod parse;

pub use conn::{SseError, SseStream};
pub use parse::Event;

#[cfg(test)]
mod tests;
