//! The response body's framing: chunked, a `Content-Length`, or until the server closes.
//!
//! A streamed answer over HTTP/1.1 is chunked (its length is not known when it starts), so
//! the reader must take the chunk framing off before the event parser sees the bytes. The
//! decoder hands out slices of the input it was given, never copies, and keeps only a few
//! integers of state between reads: it costs nothing per open stream.

/// Malformed chunk framing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadChunk;

/// How the body ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// `Content-Length: n`.
    Length(u64),
    /// Neither: the body ends when the connection does.
    UntilClose,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading the hex size; `seen` once a digit was read.
    Size { size: u64, seen: bool },
    /// A chunk extension after the size: skipped up to the line end.
    Extension { size: u64 },
    /// The LF of the size line.
    SizeLf { size: u64 },
    /// Inside a chunk's data.
    Data { left: u64 },
    /// The CR after a chunk's data.
    DataCr,
    /// The LF after a chunk's data.
    DataLf,
    /// After the last chunk: trailer lines up to an empty one; `empty` while the current
    /// line has no byte yet.
    Trailer { empty: bool },
    /// The body is complete.
    Done,
    /// A `Content-Length` body with `left` bytes to go, or one that runs until close.
    Plain { left: Option<u64> },
}

/// The body decoder of one response.
#[derive(Debug, Clone)]
pub struct BodyDecoder {
    state: State,
}

/// Longest size line accepted (16 hex digits fill a u64).
const MAX_SIZE_DIGITS: u32 = 15;

impl BodyDecoder {
    /// A decoder for a body framed as `framing`.
    pub fn new(framing: Framing) -> Self {
        let state = match framing {
            Framing::Chunked => State::Size {
                size: 0,
                seen: false,
            },
            Framing::Length(0) => State::Done,
            Framing::Length(n) => State::Plain { left: Some(n) },
            Framing::UntilClose => State::Plain { left: None },
        };
        Self { state }
    }

    /// Whether the whole body was read.
    pub fn is_done(&self) -> bool {
        self.state == State::Done
    }

    /// Decodes `input`, handing each piece of body data to `sink`. Bytes after the end of
    /// the body are ignored (the reader never sends a second request on a stream).
    pub fn decode<'a>(
        &mut self,
        mut input: &'a [u8],
        mut sink: impl FnMut(&'a [u8]),
    ) -> Result<(), BadChunk> {
        while !input.is_empty() {
            match self.state {
                State::Done => return Ok(()),
                State::Plain { left: None } => {
                    sink(input);
                    return Ok(());
                }
                State::Plain { left: Some(left) } | State::Data { left } => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX).min(input.len());
                    sink(&input[..n]);
                    input = &input[n..];
                    let left = left - n as u64;
                    self.state = match self.state {
                        State::Plain { .. } if left == 0 => State::Done,
                        State::Plain { .. } => State::Plain { left: Some(left) },
                        _ if left == 0 => State::DataCr,
                        _ => State::Data { left },
                    };
                }
                _ => {
                    self.state = self.step(input[0])?;
                    input = &input[1..];
                }
            }
        }
        Ok(())
    }

    /// One byte of framing (everything but data).
    fn step(&self, b: u8) -> Result<State, BadChunk> {
        Ok(match self.state {
            State::Size { size, seen } => match (b as char).to_digit(16) {
                Some(d) if size >> (4 * MAX_SIZE_DIGITS) == 0 => State::Size {
                    size: size * 16 + u64::from(d),
                    seen: true,
                },
                Some(_) => return Err(BadChunk),
                None if !seen => return Err(BadChunk),
                None if b == b'\r' => State::SizeLf { size },
                None if b == b';' || b == b' ' || b == b'\t' => State::Extension { size },
                None => return Err(BadChunk),
            },
            State::Extension { size } if b == b'\r' => State::SizeLf { size },
            State::Extension { size } => State::Extension { size },
            State::SizeLf { size: 0 } if b == b'\n' => State::Trailer { empty: true },
            State::SizeLf { size } if b == b'\n' => State::Data { left: size },
            State::DataCr if b == b'\r' => State::DataLf,
            State::DataLf if b == b'\n' => State::Size {
                size: 0,
                seen: false,
            },
            State::Trailer { empty } if b == b'\n' => {
                if empty {
                    State::Done
                } else {
                    State::Trailer { empty: true }
                }
            }
            State::Trailer { empty } if b == b'\r' => State::Trailer { empty },
            State::Trailer { .. } => State::Trailer { empty: false },
            _ => return Err(BadChunk),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_parts(framing: Framing, parts: &[&[u8]]) -> Result<(Vec<u8>, bool), BadChunk> {
        let mut d = BodyDecoder::new(framing);
        let mut out = Vec::new();
        for p in parts {
            d.decode(p, |s| out.extend_from_slice(s))?;
        }
        Ok((out, d.is_done()))
    }

    #[test]
    fn chunks_split_anywhere_decode_the_same() {
        let wire = b"5\r\nhello\r\n1;ext=1\r\n \r\nB\r\nworld, SSE!\r\n0\r\nX-T: 1\r\n\r\nrest";
        for cut in 0..wire.len() {
            let (body, done) =
                decode_in_parts(Framing::Chunked, &[&wire[..cut], &wire[cut..]]).unwrap();
            assert_eq!(body, b"hello world, SSE!", "cut at {cut}");
            assert!(done);
        }
    }

    #[test]
    fn an_open_chunked_body_is_not_done() {
        let (body, done) = decode_in_parts(Framing::Chunked, &[b"3\r\nabc\r\n4\r\nde"]).unwrap();
        assert_eq!((body.as_slice(), done), (&b"abcde"[..], false));
    }

    #[test]
    fn bad_framing_is_refused() {
        for wire in [
            &b"\r\n"[..],
            b"zz\r\n",
            b"3\r\nabcX",
            b"ffffffffffffffffff\r\n",
        ] {
            assert!(
                decode_in_parts(Framing::Chunked, &[wire]).is_err(),
                "{wire:?}"
            );
        }
    }

    #[test]
    fn length_and_until_close() {
        let (body, done) = decode_in_parts(Framing::Length(4), &[b"ab", b"cdef"]).unwrap();
        assert_eq!((body.as_slice(), done), (&b"abcd"[..], true));
        let (body, done) = decode_in_parts(Framing::UntilClose, &[b"ab", b"cd"]).unwrap();
        assert_eq!((body.as_slice(), done), (&b"abcd"[..], false));
        assert!(BodyDecoder::new(Framing::Length(0)).is_done());
    }
}
