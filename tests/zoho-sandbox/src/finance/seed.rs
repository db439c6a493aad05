//! Finance seed data.

use crate::clock::Millis;
use crate::state::State;

/// Add `n` records of each resource to every finance organisation.
pub fn seed_finance(_st: &mut State, _n: usize, _now: Millis) {}
