//! When the cockpit redraws. At once after a key, an engine event or a question (the
//! operator must see what they did, and every stop, without delay); at most once per
//! [`FRAME`] for streamed output, however many lines arrive, so fifty hosts flooding cost
//! about twenty frames a second and the loop stays free for keys. Time is passed in, so
//! this is tested without clocks.

use std::time::{Duration, Instant};

/// The shortest time between two redraws caused by output alone.
pub const FRAME: Duration = Duration::from_millis(50);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Need {
    Nothing,
    /// Within a frame of the last redraw.
    Soon,
    Now,
}

#[derive(Debug, Clone)]
pub struct Pace {
    last: Option<Instant>,
    need: Need,
}

impl Default for Pace {
    fn default() -> Self {
        Self::new()
    }
}

impl Pace {
    /// The first frame is due at once.
    pub fn new() -> Self {
        Self { last: None, need: Need::Now }
    }

    /// Something the operator must see at once changed.
    pub fn now(&mut self) {
        self.need = Need::Now;
    }

    /// Output arrived: draw it within a frame.
    pub fn soon(&mut self) {
        if self.need == Need::Nothing {
            self.need = Need::Soon;
        }
    }

    /// Whether to redraw at `t`.
    pub fn due(&self, t: Instant) -> bool {
        match self.need {
            Need::Nothing => false,
            Need::Now => true,
            Need::Soon => self.last.is_none_or(|last| t >= last + FRAME),
        }
    }

    /// A redraw happened at `t`.
    pub fn drawn(&mut self, t: Instant) {
        self.last = Some(t);
        self.need = Need::Nothing;
    }

    /// When a waiting output redraw falls due, for the loop to wake up then.
    pub fn deadline(&self) -> Option<Instant> {
        match (self.need, self.last) {
            (Need::Soon, Some(last)) => Some(last + FRAME),
            (Need::Soon, None) | (Need::Now, _) => Some(Instant::now()),
            (Need::Nothing, _) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_redraws_are_coalesced_to_one_per_frame() {
        let t0 = Instant::now();
        let mut p = Pace::new();
        assert!(p.due(t0), "the first frame");
        p.drawn(t0);
        assert!(!p.due(t0) && p.deadline().is_none(), "nothing changed");
        // A flood: many batches within one frame make one redraw, at the frame's end.
        for ms in 1..50 {
            p.soon();
            assert!(!p.due(t0 + Duration::from_millis(ms)), "{ms} ms");
        }
        assert_eq!(p.deadline(), Some(t0 + FRAME));
        assert!(p.due(t0 + FRAME));
        p.drawn(t0 + FRAME);
        assert!(p.deadline().is_none());
    }

    #[test]
    fn keys_and_events_redraw_at_once_even_mid_frame() {
        let t0 = Instant::now();
        let mut p = Pace::new();
        p.drawn(t0);
        p.soon();
        p.now();
        assert!(p.due(t0 + Duration::from_millis(1)));
        // Output after an urgent change does not delay it.
        p.soon();
        assert!(p.due(t0 + Duration::from_millis(1)));
    }
}
