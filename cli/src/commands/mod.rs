//! One file per command that works on a journal: its arguments and what it does. `main.rs`
//! parses the command line and dispatches here.

pub mod customer;
pub mod import;
pub mod journal_key;
pub mod onboard;
pub mod report;
pub mod resolve;
pub mod sandbox;
pub mod status;
pub mod token;
pub mod work;
