//! The name resolver the HTTP client connects through: it asks our
//! `Resolver` and hands the client only addresses the policy permits, so a
//! name that changed its answer since registration (DNS rebinding) still
//! cannot reach an inside host.

use std::error::Error;
use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use super::resolver::{permitted_addresses, Resolver};
use crate::domain::webhooks::{AddressPolicy, Host, UrlRefusal};

pub(super) struct PolicyResolver {
    pub(super) policy: Arc<AddressPolicy>,
    pub(super) resolver: Arc<dyn Resolver>,
}

impl Resolve for PolicyResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let host = Host::from_name(name.as_str());
        let policy = Arc::clone(&self.policy);
        let resolver = Arc::clone(&self.resolver);
        Box::pin(async move {
            let looked_up =
                tokio::task::spawn_blocking(move || permitted_addresses(&host, 0, &policy, resolver.as_ref())).await;
            let addresses = match looked_up {
                Ok(Ok(addresses)) => addresses,
                Ok(Err(refusal)) => return Err(ConnectRefusal(refusal).into()),
                Err(panicked) => {
                    let refusal =
                        UrlRefusal::new(UrlRefusal::HOST_UNRESOLVABLE, format!("resolver failed: {panicked}"));
                    return Err(ConnectRefusal(refusal).into());
                }
            };
            // Port 0: the client puts in the URL's port.
            let addrs: Addrs = Box::new(addresses.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// Why the client was given no address to connect to; the sender finds it in
/// the client's error chain to tell a refused destination from a network fault.
#[derive(Debug)]
pub(super) struct ConnectRefusal(pub(super) UrlRefusal);

impl ConnectRefusal {
    /// A lookup that failed, as opposed to an address the policy refused.
    pub(super) fn is_lookup_failure(&self) -> bool {
        self.0.code == UrlRefusal::HOST_UNRESOLVABLE
    }
}

impl fmt::Display for ConnectRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.0.code, self.0.message)
    }
}

impl Error for ConnectRefusal {}
