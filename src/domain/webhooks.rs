//! The rules of webhook delivery that need no I/O: how a message is signed
//! (Standard Webhooks), when a failed delivery is tried again, and which
//! URLs and addresses a delivery may go to. `delivery` does the sending.

mod address;
mod endpoint_url;
mod retry;
mod signing;

pub use address::{is_public, AllowedNetworks, Cidr};
pub(crate) use endpoint_url::address_refusal;
pub use endpoint_url::{check_url_syntax, AddressPolicy, CheckedUrl, Host, UrlRefusal, MAX_URL_LENGTH};
pub use retry::{jittered, parse_retry_after, random_unit, RetrySchedule, MAX_RETRY_AFTER};
pub use signing::{new_secret, sign, signature_header, InvalidSecret, SECRET_PREFIX};
