//! The outbound half of webhook delivery: resolving an endpoint's host under
//! the address policy, and sending one signed attempt. Which deliveries are
//! due, and what an attempt's outcome does to them, is the delivery job's.

mod dns;
pub mod resolver;
pub mod sender;

pub use resolver::{addresses_for, permitted_addresses, Resolver, StaticResolver, SystemResolver};
pub use sender::{Attempt, AttemptError, OutboundMessage, Sender, SenderConfig, EXCERPT_LIMIT};
