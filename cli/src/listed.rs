//! A kind of problem in a report: the first records of it, and a count of all.

use serde_json::Value;

/// Most records listed per kind of problem in a report (the rest are counted).
pub const LISTED: usize = 100;

/// Records of one kind of problem: the first [`LISTED`] (ids and lines, never values) and a
/// count of all.
#[derive(Default, Debug)]
pub struct Listed {
    pub count: u64,
    pub first: Vec<Value>,
}

impl Listed {
    /// Counts `item`, and keeps it while fewer than [`LISTED`] are kept.
    pub fn push(&mut self, item: Value) {
        self.count += 1;
        if self.first.len() < LISTED {
            self.first.push(item);
        }
    }
}
