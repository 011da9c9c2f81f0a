//! The five services of the shop, written once. The host crate (certificates,
//! database roles), the wiring (settings), the supply chain (builds, images,
//! releases), `cloudshop bench`, the cluster deployment and the tests read
//! this table instead of keeping their own lists.
//!
//! The manifests (`k8s/`, `compose/`) are data, not code: this crate's tests
//! check their listeners and container ports against the table.

pub mod tools;
pub mod versions;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Which of the five a service is: the type every crate passes around
/// instead of a name. Its name ([`ServiceId::name`], also its serde form)
/// is the binary (`dist/bin/<name>`), the image (`cloudshop/<name>`), the
/// Kubernetes deployment, and its identity: the name its certificate
/// carries (`spiffe://cloudshop/<name>`), which the services it calls
/// check. A name becomes a `ServiceId` only through [`FromStr`] (settings,
/// certificates, command lines), so no other code compares names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ServiceId {
    Auth,
    Products,
    Orders,
    ApiGateway,
    Storefront,
}

impl ServiceId {
    /// The five, each after the services it calls: the order of [`SERVICES`].
    pub const ALL: [ServiceId; 5] = [
        Self::Auth,
        Self::Products,
        Self::Orders,
        Self::ApiGateway,
        Self::Storefront,
    ];

    /// Its row of [`SERVICES`].
    pub const fn service(self) -> &'static Service {
        &SERVICES[self as usize]
    }

    /// Its one name (see the type's documentation).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Products => "products",
            Self::Orders => "orders",
            Self::ApiGateway => "api-gateway",
            Self::Storefront => "storefront",
        }
    }

    /// Where it listens in a container, and by default on 127.0.0.1.
    pub const fn ports(self) -> Ports {
        self.service().ports
    }

    /// Its API at its default address, on 127.0.0.1: the URL its callers'
    /// settings default to (every API but the storefront's is HTTPS).
    pub fn local_url(self) -> String {
        format!("https://127.0.0.1:{}", self.ports().api)
    }
}

impl fmt::Display for ServiceId {
    /// The name, padded as the format asks (`{:<12}` lines up tables).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

impl AsRef<str> for ServiceId {
    fn as_ref(&self) -> &str {
        self.name()
    }
}

impl FromStr for ServiceId {
    type Err = UnknownService;

    fn from_str(name: &str) -> Result<Self, UnknownService> {
        Self::ALL
            .into_iter()
            .find(|id| id.name() == name)
            .ok_or_else(|| UnknownService(name.to_owned()))
    }
}

/// One service of the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Which one it is.
    pub id: ServiceId,
    /// Its one name: [`ServiceId::name`].
    pub name: &'static str,
    /// The cargo package that builds it.
    pub package: &'static str,
    /// Where it listens in a container (compose, Kubernetes).
    pub ports: Ports,
    /// Whether it has a database role and schema of its own.
    pub database: bool,
    /// The services it calls.
    pub calls: &'static [ServiceId],
}

/// A service's two listeners.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ports {
    /// The API, over TLS (mutual TLS between services).
    pub api: u16,
    /// Health, readiness and metrics, plain HTTP.
    pub admin: u16,
}

/// The five services, each after the services it calls: the order they
/// start in, are built, released and listed in.
pub const SERVICES: [Service; 5] = [
    Service {
        id: ServiceId::Auth,
        name: ServiceId::Auth.name(),
        package: "cloudshop-auth",
        ports: Ports {
            api: 8081,
            admin: 9081,
        },
        database: true,
        calls: &[],
    },
    Service {
        id: ServiceId::Products,
        name: ServiceId::Products.name(),
        package: "cloudshop-products",
        ports: Ports {
            api: 8082,
            admin: 9082,
        },
        database: true,
        calls: &[],
    },
    Service {
        id: ServiceId::Orders,
        name: ServiceId::Orders.name(),
        package: "cloudshop-orders",
        ports: Ports {
            api: 8083,
            admin: 9083,
        },
        database: true,
        calls: &[ServiceId::Products],
    },
    Service {
        id: ServiceId::ApiGateway,
        name: ServiceId::ApiGateway.name(),
        package: "cloudshop-api-gateway",
        ports: Ports {
            api: 8080,
            admin: 9080,
        },
        database: false,
        calls: &[ServiceId::Auth, ServiceId::Products, ServiceId::Orders],
    },
    Service {
        id: ServiceId::Storefront,
        name: ServiceId::Storefront.name(),
        package: "cloudshop-storefront",
        ports: Ports {
            api: 3000,
            admin: 9000,
        },
        database: false,
        calls: &[ServiceId::ApiGateway],
    },
];

/// Every service's name, in the order of [`SERVICES`].
pub const NAMES: [&str; 5] = {
    let mut names = [""; 5];
    let mut i = 0;
    while i < SERVICES.len() {
        names[i] = SERVICES[i].name;
        i += 1;
    }
    names
};

impl Service {
    /// The service called `name`.
    pub fn named(name: &str) -> Result<&'static Service, UnknownService> {
        name.parse::<ServiceId>().map(ServiceId::service)
    }

    /// The image repository below a registry: `cloudshop/<name>`.
    pub fn repository(&self) -> String {
        format!("cloudshop/{}", self.name)
    }
}

/// The services with a database role and schema of their own.
pub fn database_roles() -> impl Iterator<Item = &'static str> {
    SERVICES.iter().filter(|s| s.database).map(|s| s.name)
}

/// A name that is none of the five.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownService(pub String);

impl std::fmt::Display for UnknownService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "no service named {:?} (there are: {})",
            self.0,
            NAMES.join(", ")
        )
    }
}

impl std::error::Error for UnknownService {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_comes_after_the_services_it_calls() {
        for (index, service) in SERVICES.iter().enumerate() {
            for callee in service.calls {
                assert!(
                    (*callee as usize) < index,
                    "{} calls {callee}, which is not listed before it",
                    service.name
                );
            }
        }
    }

    /// `ServiceId` indexes `SERVICES`, and its three forms of a name (the
    /// table's, `FromStr`'s and serde's) agree.
    #[test]
    fn each_id_is_its_rows_and_its_names_agree() {
        for (index, id) in ServiceId::ALL.into_iter().enumerate() {
            let service = id.service();
            assert_eq!((service.id, index), (id, id as usize));
            assert_eq!(service.name, id.name());
            assert_eq!(id.to_string().parse::<ServiceId>(), Ok(id));
            assert_eq!(serde_json::to_value(id).ok(), Some(serde_json::json!(id.name())));
            assert_eq!(
                serde_json::from_value::<ServiceId>(serde_json::json!(id.name())).ok(),
                Some(id)
            );
            assert_eq!(id.ports(), service.ports);
        }
        assert!(serde_json::from_value::<ServiceId>(serde_json::json!("payments")).is_err());
        assert_eq!(format!("{:<12}|", ServiceId::Auth), "auth        |");
        assert!("Auth".parse::<ServiceId>().is_err());
    }

    #[test]
    fn names_packages_and_ports_are_unique() {
        let mut ports: Vec<u16> = SERVICES
            .iter()
            .flat_map(|s| [s.ports.api, s.ports.admin])
            .collect();
        ports.sort_unstable();
        ports.dedup();
        assert_eq!(ports.len(), 10);
        let mut names = NAMES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 5);
        assert!(
            SERVICES
                .iter()
                .all(|s| s.package == format!("cloudshop-{}", s.name))
        );
    }

    fn read(path: &str) -> String {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
    }

    /// The compose and Kubernetes settings listen where the table says, and
    /// each deployment declares those two container ports.
    #[test]
    fn the_manifests_use_the_tables_ports() {
        for service in SERVICES {
            let Ports { api, admin } = service.ports;
            for config in ["compose/config", "k8s/base/config"] {
                let path = format!("{config}/{}.toml", service.name);
                let text = read(&path);
                assert!(
                    text.contains(&format!("\nlisten = \"0.0.0.0:{api}\"")),
                    "{path}: not on {api}"
                );
                assert!(
                    text.contains(&format!("\nadmin_listen = \"0.0.0.0:{admin}\"")),
                    "{path}: not on {admin}"
                );
            }
            let path = format!("k8s/base/services/{}.yaml", service.name);
            let text = read(&path);
            for (name, port) in [("api", api), ("admin", admin)] {
                assert!(
                    text.contains(&format!("{{name: {name}, containerPort: {port}, protocol: TCP}}")),
                    "{path}: no {name} container port {port}"
                );
            }
        }
    }

    /// Services know each other only by their SPIFFE URI SAN, so every
    /// certificate cert-manager issues in the cluster must carry one.
    #[test]
    fn every_cluster_certificate_carries_its_spiffe_identity() {
        let path = "k8s/base/pki/certificates.yaml";
        let text = read(path);
        for name in NAMES.iter().chain(&["postgres"]) {
            let certificate = text
                .split("\n---\n")
                .find(|doc| {
                    doc.contains("kind: Certificate") && doc.contains(&format!("\n  name: {name}-tls\n"))
                })
                .unwrap_or_else(|| panic!("{path}: no Certificate {name}-tls"));
            assert!(
                certificate.contains(&format!("\n  uris:\n    - spiffe://cloudshop/{name}\n")),
                "{path}: {name}-tls has no spiffe://cloudshop/{name} URI"
            );
        }
    }

    #[test]
    fn an_unknown_name_lists_the_five() {
        let err = Service::named("payments").expect_err("no such service");
        assert_eq!(
            err.to_string(),
            "no service named \"payments\" (there are: auth, products, orders, api-gateway, storefront)"
        );
        assert_eq!(Service::named("orders").map(|s| s.ports.api), Ok(8083));
        assert_eq!(
            database_roles().collect::<Vec<_>>(),
            ["auth", "products", "orders"]
        );
    }
}
