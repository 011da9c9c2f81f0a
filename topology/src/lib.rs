//! The five services of the shop, written once. The devkit (certificates,
//! database roles), the wiring (settings), the supply chain (builds, images,
//! releases), `cloudshop bench`, the cluster deployment and the tests read
//! this table instead of keeping their own lists.
//!
//! The manifests (`k8s/`, `compose/`) are data, not code: this crate's tests
//! check their listeners and container ports against the table.

pub mod tools;
pub mod versions;

/// One service of the shop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Service {
    /// Its one name: the binary (`dist/bin/<name>`), the image
    /// (`cloudshop/<name>`), the Kubernetes deployment, and its identity:
    /// the name its certificate carries, which the services it calls check.
    pub name: &'static str,
    /// The cargo package that builds it.
    pub package: &'static str,
    /// Where it listens in a container (compose, Kubernetes).
    pub ports: Ports,
    /// Whether it has a database role and schema of its own.
    pub database: bool,
    /// The services it calls, by name.
    pub calls: &'static [&'static str],
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
        name: "auth",
        package: "cloudshop-auth",
        ports: Ports {
            api: 8081,
            admin: 9081,
        },
        database: true,
        calls: &[],
    },
    Service {
        name: "products",
        package: "cloudshop-products",
        ports: Ports {
            api: 8082,
            admin: 9082,
        },
        database: true,
        calls: &[],
    },
    Service {
        name: "orders",
        package: "cloudshop-orders",
        ports: Ports {
            api: 8083,
            admin: 9083,
        },
        database: true,
        calls: &["products"],
    },
    Service {
        name: "api-gateway",
        package: "cloudshop-api-gateway",
        ports: Ports {
            api: 8080,
            admin: 9080,
        },
        database: false,
        calls: &["auth", "products", "orders"],
    },
    Service {
        name: "storefront",
        package: "cloudshop-storefront",
        ports: Ports {
            api: 3000,
            admin: 9000,
        },
        database: false,
        calls: &["api-gateway"],
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
        SERVICES
            .iter()
            .find(|s| s.name == name)
            .ok_or_else(|| UnknownService(name.to_owned()))
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
                let position = NAMES.iter().position(|name| name == callee);
                assert!(
                    position.is_some_and(|p| p < index),
                    "{} calls {callee}, which is not listed before it",
                    service.name
                );
            }
        }
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
