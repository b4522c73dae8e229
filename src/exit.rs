//! Process exit codes shared by every command.
//!
//! Owns the numbers; must never be bypassed with a literal in `main`.

/// Everything asked for was done.
pub const OK: u8 = 0;
/// Some work failed, some succeeded.
pub const PARTIAL: u8 = 1;
/// Nothing could be done (or the command is not available).
pub const NOTHING_DONE: u8 = 2;
/// The configuration is invalid (EX_CONFIG from sysexits.h).
pub const CONFIG: u8 = 78;
