//! [`IngressTrust`]: whose word a server takes for a request's lane and caller.
//!
//! `x-sae-tag`, the `sae-tag` baggage member and `x-sae-caller` are written
//! by whoever sends the request. Between the services of one system that is
//! another sae service, and believing it is what carries a lane across the
//! call chain. At the edge of the system it is anyone on the internet: a
//! `curl -H 'x-sae-tag: gray'` would reach the gray instances. So a server
//! at an edge drops those three headers unless the peer is trusted, and only
//! then applies its ingress rules, which decide the lane from what the
//! outside world may choose (a user id, a cookie, a path).

use std::fmt;
use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use ipnet::IpNet;
use sae_core::Error;
use tonic::transport::server::TcpConnectInfo;

/// Whose `x-sae-tag`, `sae-tag` baggage member and `x-sae-caller` a server
/// believes.
///
/// Those headers are written by whoever sends the request. Between the
/// services of one system that is another sae service, and believing it is
/// what carries a lane across the call chain. At the edge of the system it
/// is anyone on the internet: `curl -H 'x-sae-tag: gray'` would reach the
/// gray instances. So a server at an edge drops the three headers unless the
/// peer is trusted, and only then applies its ingress rules, which decide the
/// lane from what the outside world may choose (a user id, a cookie, a path).
///
/// ```
/// use sae_governance::lane::{IngressTrust, LaneLayer};
///
/// // An edge behind an internal gateway on 10.1.0.0/16: trust the gateway only.
/// let trust = IngressTrust::networks(["10.1.0.0/16", "127.0.0.1"])?;
/// let layer = LaneLayer::new().trust(trust);
/// # let _ = layer;
/// # Ok::<(), sae_core::Error>(())
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum IngressTrust {
    /// Believe every peer (the default): a service-to-service hop, where
    /// the caller is another service of the same system.
    #[default]
    All,
    /// Believe no peer: an edge facing the outside world. The three headers
    /// are removed from every request before the ingress rules run.
    None,
    /// Believe peers whose IP is in one of these networks (a gateway, the
    /// cluster's pod range); treat others as [`IngressTrust::None`]. A
    /// request whose peer address is unknown is not believed: the server
    /// must record it: sae's own serve calls do, as do axum's
    /// `into_make_service_with_connect_info::<SocketAddr>()` and tonic's
    /// `Server`.
    Networks(Vec<IpNet>),
}

impl IngressTrust {
    /// [`IngressTrust::Networks`] from CIDR blocks (`10.0.0.0/8`) or single
    /// addresses (`127.0.0.1`, `::1`).
    ///
    /// # Errors
    ///
    /// [`Error::Config`] naming the entry that is neither.
    pub fn networks<I, S>(networks: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let parsed = networks
            .into_iter()
            .enumerate()
            .map(|(index, text)| {
                let text = text.as_ref().trim();
                text.parse::<IpNet>()
                    .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| Error::Config {
                        at: format!("ingress trust networks[{index}]"),
                        message: format!(
                            "{text:?} is neither a CIDR block (10.0.0.0/8) nor an IP address"
                        ),
                    })
            })
            .collect::<Result<_, _>>()?;
        Ok(IngressTrust::Networks(parsed))
    }

    /// Whether a request from `peer` (when known) is believed.
    pub fn believes(&self, peer: Option<IpAddr>) -> bool {
        match self {
            IngressTrust::All => true,
            IngressTrust::None => false,
            IngressTrust::Networks(networks) => {
                peer.is_some_and(|ip| networks.iter().any(|network| network.contains(&ip)))
            }
        }
    }

    /// Whether believing a request depends on its peer address.
    pub(crate) fn needs_peer(&self) -> bool {
        matches!(self, IngressTrust::Networks(_))
    }

    /// Whether requests with `extensions` are believed.
    pub(crate) fn believes_request(&self, extensions: &http::Extensions) -> bool {
        match self {
            IngressTrust::All => true,
            IngressTrust::None => false,
            IngressTrust::Networks(_) => self.believes(peer_ip(extensions)),
        }
    }
}

impl fmt::Display for IngressTrust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IngressTrust::All => f.write_str("all peers"),
            IngressTrust::None => f.write_str("no peer"),
            IngressTrust::Networks(networks) => {
                f.write_str("peers in ")?;
                for (index, network) in networks.iter().enumerate() {
                    if index > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{network}")?;
                }
                Ok(())
            }
        }
    }
}

/// The peer's IP as the server recorded it: axum's [`ConnectInfo`] (sae's
/// serve calls record it too), else tonic's `TcpConnectInfo`.
fn peer_ip(extensions: &http::Extensions) -> Option<IpAddr> {
    if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<SocketAddr>>() {
        return Some(addr.ip());
    }
    extensions
        .get::<TcpConnectInfo>()
        .and_then(TcpConnectInfo::remote_addr)
        .map(|addr| addr.ip())
}
