//! Where a webhook may be sent: the guard against server-side request forgery.
//!
//! A destination's addresses are classified; loopback, private, link-local, cloud metadata and
//! reserved addresses are refused unless the operator allows their class in `[webhooks]
//! allow`. The check runs when a subscription is made (a clear 400) and again on every
//! connection, inside the HTTP client's resolver, so a name that resolves elsewhere later (DNS
//! rebinding) is refused too. Redirects are never followed (the client's policy).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use serde::{Deserialize, Serialize};

/// A class of addresses a webhook is refused unless the operator allows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressClass {
    /// 127.0.0.0/8 and ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16, 100.64/10 (shared) and fc00::/7.
    Private,
    /// 169.254/16 and fe80::/10 (but the metadata addresses, a class of their own).
    LinkLocal,
    /// Cloud instance metadata: 169.254.169.254, fd00:ec2::254, 100.100.100.200.
    Metadata,
    /// Unspecified, multicast, broadcast, 0/8 and 240/4: never a real receiver.
    Reserved,
}

impl AddressClass {
    /// The class of `ip`, or `None` for a public address.
    pub fn of(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(v4) => Self::of_v4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => Self::of_v4(v4),
                None => Self::of_v6(v6),
            },
        }
    }

    fn of_v4(ip: Ipv4Addr) -> Option<Self> {
        let [a, b, ..] = ip.octets();
        if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) {
            Some(Self::Metadata)
        } else if ip.is_loopback() {
            Some(Self::Loopback)
        } else if ip.is_private() || (a == 100 && (64..128).contains(&b)) {
            Some(Self::Private)
        } else if ip.is_link_local() {
            Some(Self::LinkLocal)
        } else if ip.is_unspecified()
            || ip.is_multicast()
            || ip.is_broadcast()
            || a == 0
            || a >= 240
        {
            Some(Self::Reserved)
        } else {
            None
        }
    }

    fn of_v6(ip: Ipv6Addr) -> Option<Self> {
        let first = ip.segments()[0];
        if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) {
            Some(Self::Metadata)
        } else if ip.is_loopback() {
            Some(Self::Loopback)
        } else if first & 0xfe00 == 0xfc00 {
            Some(Self::Private)
        } else if first & 0xffc0 == 0xfe80 {
            Some(Self::LinkLocal)
        } else if ip.is_unspecified() || ip.is_multicast() {
            Some(Self::Reserved)
        } else {
            None
        }
    }

    /// The name used in settings and messages.
    pub fn name(self) -> &'static str {
        match self {
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link_local",
            Self::Metadata => "metadata",
            Self::Reserved => "reserved",
        }
    }
}

/// Which destinations the operator lets webhooks reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressPolicy {
    /// Classes allowed besides public addresses.
    pub allow: Vec<AddressClass>,
    /// Whether plain `http://` destinations are allowed (otherwise only `https://`).
    pub allow_http: bool,
}

/// Why a destination is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// Not an absolute `https://` (or allowed `http://`) URL with a host.
    #[error("{0}")]
    Malformed(String),
    /// It is, or resolves to, an address of a class the operator does not allow.
    #[error(
        "{host} is a {} address ({ip}), which this server does not send webhooks to",
        class.name()
    )]
    Address {
        /// The host as written.
        host: String,
        /// The address.
        ip: IpAddr,
        /// Its class.
        class: AddressClass,
    },
    /// Its name does not resolve.
    #[error("{0} does not resolve")]
    Unresolved(String),
}

impl AddressPolicy {
    /// Refuses `ip` when its class is not allowed.
    pub fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), Refused> {
        match AddressClass::of(ip) {
            Some(class) if !self.allow.contains(&class) => Err(Refused::Address {
                host: host.to_owned(),
                ip,
                class,
            }),
            _ => Ok(()),
        }
    }

    /// Checks `url`'s form, then every address it resolves to now.
    pub async fn check(&self, url: &str) -> Result<Url, Refused> {
        let parsed = self.check_form(url)?;
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let port = parsed.port_or_known_default().unwrap_or(443);
        match literal_ip(&parsed) {
            Some(ip) => self.check_ip(&host, ip)?,
            None => {
                let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                    .await
                    .map_err(|_| Refused::Unresolved(host.clone()))?
                    .collect();
                if addrs.is_empty() {
                    return Err(Refused::Unresolved(host));
                }
                for addr in addrs {
                    self.check_ip(&host, addr.ip())?;
                }
            }
        }
        Ok(parsed)
    }

    /// Checks `url`'s form only: scheme, host, no credentials, and a literal address's class.
    pub fn check_form(&self, url: &str) -> Result<Url, Refused> {
        let parsed = Url::parse(url)
            .map_err(|e| Refused::Malformed(format!("{url:?} is not a URL: {e}")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => {
                return Err(Refused::Malformed(
                    "webhooks are sent over https:// only on this server".into(),
                ));
            }
            other => {
                return Err(Refused::Malformed(format!(
                    "a webhook URL is https://, not {other}://"
                )));
            }
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(Refused::Malformed("a webhook URL names a host".into()));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(Refused::Malformed(
                "a webhook URL carries no user name or password".into(),
            ));
        }
        if let Some(ip) = literal_ip(&parsed) {
            self.check_ip(parsed.host_str().unwrap_or_default(), ip)?;
        }
        Ok(parsed)
    }

    /// The HTTP client's resolver: names resolved by the system, every address checked.
    pub fn resolver(self: &Arc<Self>) -> Arc<impl Resolve + 'static> {
        Arc::new(GuardedResolver {
            policy: self.clone(),
        })
    }
}

/// The address a URL's host writes literally, if it does.
pub fn literal_ip(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    }
}

/// Resolves names for the HTTP client and refuses any answer with a refused address.
struct GuardedResolver {
    policy: Arc<AddressPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if addrs.is_empty() {
                return Err(Box::new(Refused::Unresolved(host)) as _);
            }
            for addr in &addrs {
                if let Err(refused) = policy.check_ip(&host, addr.ip()) {
                    return Err(Box::new(refused) as _);
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> Option<AddressClass> {
        AddressClass::of(ip.parse().unwrap())
    }

    #[test]
    fn every_class_is_recognised() {
        use AddressClass::*;
        for (ip, expected) in [
            ("127.0.0.1", Some(Loopback)),
            ("127.8.9.10", Some(Loopback)),
            ("::1", Some(Loopback)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("10.1.2.3", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("100.64.0.1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("169.254.1.1", Some(LinkLocal)),
            ("fe80::1", Some(LinkLocal)),
            ("169.254.169.254", Some(Metadata)),
            ("fd00:ec2::254", Some(Metadata)),
            ("100.100.100.200", Some(Metadata)),
            ("0.0.0.0", Some(Reserved)),
            ("::", Some(Reserved)),
            ("224.0.0.1", Some(Reserved)),
            ("255.255.255.255", Some(Reserved)),
            ("240.0.0.1", Some(Reserved)),
            ("ff02::1", Some(Reserved)),
            ("93.184.215.14", None),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("2606:4700::6810:84e5", None),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn forms_are_checked_before_any_lookup() {
        let strict = AddressPolicy::default();
        assert!(strict.check_form("https://hooks.example.com/x").is_ok());
        for bad in [
            "http://hooks.example.com/x",
            "ftp://hooks.example.com/x",
            "https://user:pw@hooks.example.com/x",
            "not a url",
            "https://127.0.0.1/x",
            "https://[::1]/x",
            "https://169.254.169.254/latest/meta-data",
        ] {
            assert!(strict.check_form(bad).is_err(), "{bad}");
        }
        let loopback = AddressPolicy {
            allow: vec![AddressClass::Loopback],
            allow_http: true,
        };
        assert!(loopback.check_form("http://127.0.0.1:9/x").is_ok());
        assert!(loopback.check_form("http://10.0.0.1/x").is_err());
    }
}
