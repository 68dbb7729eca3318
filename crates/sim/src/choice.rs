//! Every choice a schedule makes, from one seed — and the record of them that replays it.
//!
//! The simulator asks [`Choices`] for each decision (which call proceeds, whether a person
//! acts and how, which fault, how far time moves). Each answer is a draw; the draws made
//! are recorded, so a schedule is replayed exactly from its seed, or from its draws with
//! some of them changed. A draw of 0 is always the benign answer (the first call proceeds,
//! nobody acts, no fault), so a shrinker makes a failing schedule shorter by zeroing draws
//! and keeping what still fails.

/// Where draws come from.
#[derive(Clone, Debug)]
enum Source {
    /// SplitMix64 over the seed.
    Seeded(u64),
    /// Recorded draws; past their end every draw is 0 (benign).
    Replay(Vec<u32>, usize),
}

/// The decisions of one schedule.
#[derive(Clone, Debug)]
pub struct Choices {
    source: Source,
    drawn: Vec<u32>,
}

impl Choices {
    /// Draws from `seed`.
    pub fn seeded(seed: u64) -> Choices {
        Choices {
            source: Source::Seeded(seed),
            drawn: Vec::new(),
        }
    }

    /// Draws `draws` in order, then zeros.
    pub fn replay(draws: Vec<u32>) -> Choices {
        Choices {
            source: Source::Replay(draws, 0),
            drawn: Vec::new(),
        }
    }

    /// The draws made so far.
    pub fn drawn(&self) -> &[u32] {
        &self.drawn
    }

    fn draw(&mut self) -> u32 {
        let d = match &mut self.source {
            Source::Seeded(state) => {
                *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
                let mut z = *state;
                z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
                // The high half: SplitMix64's best bits.
                u32::try_from((z ^ (z >> 31)) >> 32).unwrap_or(0)
            }
            Source::Replay(draws, at) => {
                let d = draws.get(*at).copied().unwrap_or(0);
                *at += 1;
                d
            }
        };
        self.drawn.push(d);
        d
    }

    /// A number below `n` (0 when `n` is 0 or 1).
    pub fn below(&mut self, n: usize) -> usize {
        let d = self.draw();
        if n <= 1 {
            return 0;
        }
        usize::try_from(d).unwrap_or(0) % n
    }

    /// True with probability `per_mille`/1000; a draw of 0 is false.
    pub fn chance(&mut self, per_mille: u32) -> bool {
        let d = self.draw();
        d != 0 && d % 1000 < per_mille
    }

    /// An index into `weights`, each chosen in proportion to its weight; a draw of 0 is
    /// index 0 (put the benign choice first).
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let d = self.draw();
        if total == 0 || d == 0 {
            return 0;
        }
        let mut x = d % total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_and_its_record_give_the_same_draws() {
        let mut a = Choices::seeded(7);
        let first: Vec<usize> = (0..50).map(|_| a.below(1000)).collect();
        let mut b = Choices::replay(a.drawn().to_vec());
        let again: Vec<usize> = (0..50).map(|_| b.below(1000)).collect();
        assert_eq!(first, again);
        assert_ne!(first, vec![first[0]; 50], "the draws vary");
    }

    #[test]
    fn past_a_record_every_draw_is_benign() {
        let mut c = Choices::replay(vec![5]);
        assert_eq!(c.below(3), 2);
        assert_eq!(c.weighted(&[1, 100, 100]), 0);
        assert!(!c.chance(999));
        assert_eq!(c.drawn(), &[5, 0, 0]);
    }

    #[test]
    fn weights_are_followed() {
        let mut c = Choices::seeded(1);
        let mut counts = [0u32; 3];
        for _ in 0..3000 {
            counts[c.weighted(&[1, 0, 2])] += 1;
        }
        assert_eq!(counts[1], 0, "a weight of 0 is never chosen");
        assert!(counts[2] > counts[0], "{counts:?}");
    }
}
