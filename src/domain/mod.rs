//! Plain types and rules with no I/O: what makes a name, a version string or a
//! pack valid, and which components a pack may hold. Unit-tested here.

pub mod account;
pub mod component;
pub mod pack;
pub mod release;
pub mod schedule;
pub mod text;
