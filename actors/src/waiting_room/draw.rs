//! The draw: when a room opens, everyone in its pre-queue gets a uniformly random
//! place, so arriving early in the pre-queue (or scripting the join) buys nothing.
//!
//! Fisher–Yates over the pre-queue, driven by a cryptographically secure generator
//! (rand's thread generator: ChaCha12 seeded and reseeded from the OS), so that nobody
//! can predict or steer the order from the outside. The actor writes the drawn order
//! (new seqs, in drawn order) and the room's `drawn_at` in one transaction before it
//! tells anyone a place.

use rand::{CryptoRng, RngExt};

/// Shuffles `items` in place: every order equally likely (given a uniform `rng`).
pub fn shuffle<T, R: CryptoRng + ?Sized>(items: &mut [T], rng: &mut R) {
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
}

/// `items` in a freshly drawn order, from the thread's CSPRNG.
pub fn draw<T>(mut items: Vec<T>) -> Vec<T> {
    shuffle(&mut items, &mut rand::rng());
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    /// Items of a line drawn in these tests, and how many draws.
    const N: usize = 8;
    const DRAWS: usize = 40_000;

    /// Each item's place over many draws: counts[item][place].
    fn places(rng: &mut StdRng) -> Vec<Vec<u64>> {
        let mut counts = vec![vec![0u64; N]; N];
        let mut line: Vec<usize> = (0..N).collect();
        for _ in 0..DRAWS {
            line.sort_unstable();
            shuffle(&mut line, rng);
            for (place, item) in line.iter().enumerate() {
                counts[*item][place] += 1;
            }
        }
        counts
    }

    /// Every item's place is uniform: for each item, Pearson's chi-square of its
    /// place counts against DRAWS/N each, with N-1 = 7 degrees of freedom, stays below
    /// 47. P(chi2_7 > 47) ≈ 5.6e-8, so over the N items a false alarm is < 4.5e-7 for
    /// any seed (the seed is fixed besides, so the test never flakes), while a
    /// shuffle off by one (`0..i` instead of `0..=i`, Sattolo's: nobody stays put)
    /// or a biased one (e.g. `0..N` at each step) scores in the thousands.
    #[test]
    fn every_place_is_equally_likely_for_every_token() {
        let counts = places(&mut StdRng::seed_from_u64(12));
        let expected = DRAWS as f64 / N as f64;
        for (item, row) in counts.iter().enumerate() {
            let chi2: f64 = row
                .iter()
                .map(|observed| (*observed as f64 - expected).powi(2) / expected)
                .sum();
            assert!(chi2 < 47.0, "item {item}: chi-square {chi2:.1}, places {row:?}");
        }
    }

    /// Any two items come in either order about half the time: the count of draws
    /// with a before b is Binomial(DRAWS, 1/2), sd = 100; a deviation past 5.7 sd
    /// (570) has probability < 1.2e-8 per pair, < 3.4e-7 over the 28 pairs.
    #[test]
    fn any_two_tokens_are_in_either_order_half_the_time() {
        let mut rng = StdRng::seed_from_u64(34);
        let mut before = vec![vec![0u64; N]; N];
        let mut line: Vec<usize> = (0..N).collect();
        for _ in 0..DRAWS {
            line.sort_unstable();
            shuffle(&mut line, &mut rng);
            for (i, a) in line.iter().enumerate() {
                for b in &line[i + 1..] {
                    before[*a][*b] += 1;
                }
            }
        }
        let half = DRAWS as f64 / 2.0;
        let sd = (DRAWS as f64 * 0.25).sqrt();
        for (a, row) in before.iter().enumerate() {
            for (b, count) in row.iter().enumerate().skip(a + 1) {
                let deviation = (*count as f64 - half).abs();
                assert!(
                    deviation < 5.7 * sd,
                    "{a} before {b} in {count} of {DRAWS} draws"
                );
            }
        }
    }

    #[test]
    fn a_draw_is_a_permutation() {
        let drawn = draw((0..1000).collect::<Vec<u32>>());
        let mut sorted = drawn.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
        assert_ne!(drawn, sorted, "1000 items left in order: odds 1/1000!");
        assert!(draw(Vec::<u32>::new()).is_empty());
    }
}
