//! The waiting room's hot path at the on-sale scale: the exact position of a
//! token among 1,000,000 waiting ones (a Fenwick prefix sum), against reading a
//! slot without computing its position (the floor any lookup pays), and a
//! leave-and-join churn step. Run with `cargo bench -p concert-actors --bench line`.

use std::collections::VecDeque;
use std::hint::black_box;

use actors::domain::QueueToken;
use actors::waiting_room::line::{Line, Slot};
use criterion::{Criterion, criterion_group, criterion_main};

const WAITING: usize = 1_000_000;

/// A line of a million tokens, and their slots.
fn full_line() -> (Line<QueueToken>, Vec<Slot>) {
    let mut line = Line::new();
    let slots = (0..WAITING)
        .map(|_| line.push(QueueToken::generate()))
        .collect();
    (line, slots)
}

/// A cheap deterministic sequence of indexes (xorshift), so both benches visit the same slots.
fn picks() -> impl FnMut() -> usize {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % WAITING as u64) as usize
    }
}

fn position_at_a_million(c: &mut Criterion) {
    let (line, slots) = full_line();
    let mut group = c.benchmark_group("line_1M");
    let mut pick = picks();
    group.bench_function("position", |b| {
        b.iter(|| black_box(line.position(slots[pick()])))
    });
    let mut pick = picks();
    group.bench_function("get (baseline)", |b| {
        b.iter(|| black_box(line.get(slots[pick()]).is_some()))
    });
    group.finish();

    let (mut line, slots) = full_line();
    let mut order: VecDeque<Slot> = slots.into();
    c.bench_function("line_1M/admit_front_and_join_back", |b| {
        b.iter(|| {
            let slot = order.pop_front().expect("the line stays a million long");
            black_box(line.remove(slot));
            order.push_back(line.push(QueueToken::generate()));
        })
    });
}

criterion_group!(benches, position_at_a_million);
criterion_main!(benches);
