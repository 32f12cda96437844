//! Server-Sent Events, incrementally: bytes in, complete events out.
//!
//! The event-stream grammar of the HTML standard, reduced to what a load generator needs:
//! `event:` and `data:` fields, comments (`:` lines, counted), any of CRLF / LF / CR as a
//! line end, and an event dispatched on a blank line. `id:` and `retry:` are read and
//! dropped (the generator never reconnects). Bytes may arrive split anywhere, so a partial
//! line is kept until its end arrives; a line longer than the bound is an error rather
//! than a buffer that grows with whatever the server sends.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The `event:` field; `message` when the event had none.
    pub name: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
}

/// A line longer than the parser's bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineTooLong;

/// The incremental parser of one stream.
#[derive(Debug)]
pub struct SseParser {
    /// The current, unterminated line.
    line: Vec<u8>,
    /// A CR ended the last line: an LF right after it belongs to that line end.
    after_cr: bool,
    name: String,
    data: String,
    has_data: bool,
    max_line_bytes: usize,
    /// Comment lines seen (the server's keep-alives).
    pub comments: u64,
}

impl SseParser {
    /// A parser refusing lines longer than `max_line_bytes`.
    pub fn new(max_line_bytes: usize) -> Self {
        Self {
            line: Vec::new(),
            after_cr: false,
            name: String::new(),
            data: String::new(),
            has_data: false,
            max_line_bytes,
            comments: 0,
        }
    }

    /// Feeds the next bytes of the body; complete events are pushed to `events`.
    pub fn feed(&mut self, bytes: &[u8], events: &mut Vec<Event>) -> Result<(), LineTooLong> {
        let mut rest = bytes;
        while !rest.is_empty() {
            if self.after_cr {
                self.after_cr = false;
                if rest[0] == b'\n' {
                    rest = &rest[1..];
                    continue;
                }
            }
            match memchr::memchr2(b'\n', b'\r', rest) {
                Some(end) => {
                    self.extend_line(&rest[..end])?;
                    self.after_cr = rest[end] == b'\r';
                    rest = &rest[end + 1..];
                    let line = std::mem::take(&mut self.line);
                    self.take_line(&line, events);
                    // Keep the allocation: lines are short and many.
                    self.line = line;
                    self.line.clear();
                }
                None => {
                    self.extend_line(rest)?;
                    rest = &[];
                }
            }
        }
        Ok(())
    }

    fn extend_line(&mut self, part: &[u8]) -> Result<(), LineTooLong> {
        if self.line.len() + part.len() > self.max_line_bytes {
            return Err(LineTooLong);
        }
        self.line.extend_from_slice(part);
        Ok(())
    }

    fn take_line(&mut self, line: &[u8], events: &mut Vec<Event>) {
        if line.is_empty() {
            self.dispatch(events);
            return;
        }
        if line[0] == b':' {
            self.comments += 1;
            return;
        }
        let (field, value) = match memchr::memchr(b':', line) {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        let value = String::from_utf8_lossy(value);
        match field {
            b"event" => self.name = value.into_owned(),
            b"data" => {
                if self.has_data {
                    self.data.push('\n');
                }
                self.data.push_str(&value);
                self.has_data = true;
            }
            // id, retry and unknown fields: nothing the generator acts on.
            _ => {}
        }
    }

    fn dispatch(&mut self, events: &mut Vec<Event>) {
        let name = std::mem::take(&mut self.name);
        if !self.has_data {
            // The standard drops an event without data (its name too).
            return;
        }
        self.has_data = false;
        events.push(Event {
            name: if name.is_empty() {
                "message".to_string()
            } else {
                name
            },
            data: std::mem::take(&mut self.data),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(parser: &mut SseParser, parts: &[&[u8]]) -> Vec<Event> {
        let mut events = Vec::new();
        for p in parts {
            parser.feed(p, &mut events).unwrap();
        }
        events
    }

    fn ev(name: &str, data: &str) -> Event {
        Event {
            name: name.into(),
            data: data.into(),
        }
    }

    #[test]
    fn events_comments_and_multiline_data() {
        let mut p = SseParser::new(1024);
        let text = b": keep-alive\n\nevent: queue\ndata: {\"a\":1}\n\ndata:x\ndata: y\nid: 4\n\n";
        let got = all(&mut p, &[text]);
        assert_eq!(got, vec![ev("queue", "{\"a\":1}"), ev("message", "x\ny")]);
        assert_eq!(p.comments, 1);
    }

    #[test]
    fn any_split_and_any_line_end_give_the_same_events() {
        let text = b"event: queue\r\ndata: one\r\n\r\nevent: seat\rdata: two\r\revent: queue\ndata: three\n\n";
        let want = vec![ev("queue", "one"), ev("seat", "two"), ev("queue", "three")];
        for cut in 0..text.len() {
            for cut2 in cut..text.len() {
                let mut p = SseParser::new(64);
                let got = all(&mut p, &[&text[..cut], &text[cut..cut2], &text[cut2..]]);
                assert_eq!(got, want, "cuts at {cut}, {cut2}");
            }
        }
    }

    #[test]
    fn an_event_without_data_is_dropped_with_its_name() {
        let mut p = SseParser::new(64);
        let got = all(&mut p, &[b"event: expired\n\ndata: d\n\n"]);
        assert_eq!(got, vec![ev("message", "d")]);
    }

    #[test]
    fn a_line_past_the_bound_is_refused() {
        let mut p = SseParser::new(8);
        let mut events = Vec::new();
        assert!(p.feed(b"data: 1234", &mut events).is_err());
        let mut p = SseParser::new(8);
        p.feed(b"data: 12\n", &mut events).unwrap();
        assert!(p.feed(b"data:", &mut events).is_ok());
        assert!(p.feed(b" 123456", &mut events).is_err());
    }
}
