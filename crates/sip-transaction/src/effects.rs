//! What a state machine may do: queue outputs and arm or disarm its timers.

use std::time::{Duration, Instant};

use crate::id::TransactionId;
use crate::output::{OutQueue, TransactionEvent, Transmit};
use crate::timer::{Timer, TimerConfig, TimerQueue, TIMER_COUNT};

pub(crate) struct Effects<'a> {
    pub(crate) now: Instant,
    pub(crate) id: TransactionId,
    pub(crate) config: &'a TimerConfig,
    pub(crate) out: &'a mut OutQueue,
    pub(crate) timers: &'a mut TimerQueue,
    pub(crate) gens: &'a mut [u32; TIMER_COUNT],
}

impl Effects<'_> {
    pub(crate) fn arm(&mut self, t: Timer, after: Duration) {
        let g = &mut self.gens[t.index()];
        *g = g.wrapping_add(1);
        self.timers.push(self.now, after, self.id, t, *g);
    }

    pub(crate) fn disarm(&mut self, t: Timer) {
        let g = &mut self.gens[t.index()];
        *g = g.wrapping_add(1);
    }

    pub(crate) fn transmit(&mut self, t: Transmit) {
        self.out.transmit(t);
    }

    pub(crate) fn event(&mut self, e: TransactionEvent) {
        self.out.event(e);
    }
}
