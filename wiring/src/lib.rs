//! How the five services are wired together on one host: each service's
//! settings from the shop's files (certificates, secrets), its listeners, its
//! database and the addresses of the services it calls.
//!
//! `cloudshop up` (in-process, ports chosen as each service starts),
//! `cloudshop bench` (processes on fixed ports), the backend and browser tests
//! and the container test all start the same shop from here, so a setting a
//! service gains is wired once.

use cloudshop_host::files::ShopFiles;
use cloudshop_platform::db::DatabaseSettings;
use cloudshop_platform::settings::HttpSettings;
use cloudshop_topology::ServiceId;

pub use cloudshop_api_gateway::settings::Backends;

pub mod start;

/// The URL of a service's API on this host.
pub fn url(port: u16) -> String {
    format!("https://127.0.0.1:{port}")
}

/// Builds each service's settings for one shop: its files, and how each
/// service's database role connects.
pub struct Wiring<'a> {
    files: &'a ShopFiles,
    database: Box<dyn Fn(ServiceId) -> DatabaseSettings + 'a>,
}

impl std::fmt::Debug for Wiring<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Wiring")
            .field("files", &self.files.root())
            .finish_non_exhaustive()
    }
}

impl<'a> Wiring<'a> {
    /// `database(service)` gives how that service's role connects (its
    /// password file, the CA, the database name and port).
    pub fn new(files: &'a ShopFiles, database: impl Fn(ServiceId) -> DatabaseSettings + 'a) -> Self {
        Self {
            files,
            database: Box::new(database),
        }
    }

    pub fn auth(&self, http: HttpSettings) -> cloudshop_auth::settings::Settings {
        let mut settings = cloudshop_auth::settings::Settings {
            http,
            tls: self.files.tls(ServiceId::Auth),
            database: (self.database)(ServiceId::Auth),
            ..Default::default()
        };
        settings.tokens.signing_key_file = self.files.jwt_signing_key();
        settings.admin.email_file = Some(self.files.admin_email());
        settings.admin.password_file = Some(self.files.admin_password());
        settings
    }

    pub fn products(&self, http: HttpSettings) -> cloudshop_products::settings::Settings {
        let mut settings = cloudshop_products::settings::Settings {
            http,
            tls: self.files.tls(ServiceId::Products),
            database: (self.database)(ServiceId::Products),
            ..Default::default()
        };
        settings.jwt.public_keys_file = self.files.jwt_public_keys();
        settings
    }

    pub fn orders(&self, http: HttpSettings, products_url: &str) -> cloudshop_orders::settings::Settings {
        let mut settings = cloudshop_orders::settings::Settings {
            http,
            tls: self.files.tls(ServiceId::Orders),
            database: (self.database)(ServiceId::Orders),
            products_url: products_url.to_owned(),
            ..Default::default()
        };
        settings.jwt.public_keys_file = self.files.jwt_public_keys();
        settings
    }

    pub fn gateway(
        &self,
        http: HttpSettings,
        backends: Backends,
    ) -> cloudshop_api_gateway::settings::Settings {
        let mut settings = cloudshop_api_gateway::settings::Settings {
            http,
            tls: self.files.tls(ServiceId::ApiGateway),
            backends,
            ..Default::default()
        };
        settings.jwt.public_keys_file = self.files.jwt_public_keys();
        settings
    }

    pub fn storefront(
        &self,
        http: HttpSettings,
        gateway_url: &str,
    ) -> cloudshop_storefront::settings::Settings {
        let mut settings = cloudshop_storefront::settings::Settings {
            http,
            tls: self.files.tls(ServiceId::Storefront),
            gateway_url: gateway_url.to_owned(),
            cookie_key_file: self.files.cookie_key(),
            ..Default::default()
        };
        settings.jwt.public_keys_file = self.files.jwt_public_keys();
        settings
    }

    /// All five, each on its fixed API and admin port on 127.0.0.1, calling
    /// the others there.
    pub fn fixed(&self, ports: &FixedPorts) -> ShopSettings {
        let http = |(api, admin): (u16, u16)| HttpSettings::with_ports(api, admin);
        let products_url = url(ports.products.0);
        let gateway_url = url(ports.gateway.0);
        ShopSettings {
            auth: self.auth(http(ports.auth)),
            products: self.products(http(ports.products)),
            orders: self.orders(http(ports.orders), &products_url),
            gateway: self.gateway(
                http(ports.gateway),
                Backends {
                    auth: url(ports.auth.0),
                    products: products_url,
                    orders: url(ports.orders.0),
                },
            ),
            storefront: self.storefront(http(ports.storefront), &gateway_url),
        }
    }
}

/// Each service's API port and admin port, when all five are fixed.
#[derive(Debug, Clone, Copy)]
pub struct FixedPorts {
    pub auth: (u16, u16),
    pub products: (u16, u16),
    pub orders: (u16, u16),
    pub gateway: (u16, u16),
    pub storefront: (u16, u16),
}

impl FixedPorts {
    /// Two free ports on 127.0.0.1 for each service (reserved for this
    /// process's lifetime, see [`cloudshop_host::ports`]).
    pub fn reserve() -> anyhow::Result<Self> {
        let ports = cloudshop_host::ports::reserve(10)?;
        let pair = |i: usize| (ports[2 * i], ports[2 * i + 1]);
        Ok(Self {
            auth: pair(0),
            products: pair(1),
            orders: pair(2),
            gateway: pair(3),
            storefront: pair(4),
        })
    }

    /// A service's (API, admin) ports.
    pub fn of(&self, service: ServiceId) -> (u16, u16) {
        match service {
            ServiceId::Auth => self.auth,
            ServiceId::Products => self.products,
            ServiceId::Orders => self.orders,
            ServiceId::ApiGateway => self.gateway,
            ServiceId::Storefront => self.storefront,
        }
    }
}

/// The settings of all five services.
#[derive(Debug, Clone)]
pub struct ShopSettings {
    pub auth: cloudshop_auth::settings::Settings,
    pub products: cloudshop_products::settings::Settings,
    pub orders: cloudshop_orders::settings::Settings,
    pub gateway: cloudshop_api_gateway::settings::Settings,
    pub storefront: cloudshop_storefront::settings::Settings,
}

impl ShopSettings {
    /// Each service's settings as the TOML file `CLOUDSHOP_CONFIG` names,
    /// by service, in the order of [`ServiceId::ALL`].
    pub fn to_toml(&self) -> Result<[(ServiceId, String); 5], toml::ser::Error> {
        Ok([
            (ServiceId::Auth, toml::to_string(&self.auth)?),
            (ServiceId::Products, toml::to_string(&self.products)?),
            (ServiceId::Orders, toml::to_string(&self.orders)?),
            (ServiceId::ApiGateway, toml::to_string(&self.gateway)?),
            (ServiceId::Storefront, toml::to_string(&self.storefront)?),
        ])
    }
}

/// Turns auth's per-address and per-account login throttles off, so every
/// login is a full argon2id verification (load and fault tests).
pub fn without_login_throttle(auth: &mut cloudshop_auth::settings::Settings) {
    let throttle = &mut auth.throttle;
    for limit in [
        &mut throttle.per_address,
        &mut throttle.per_account_address,
        &mut throttle.per_account,
    ] {
        limit.per_minute = u32::MAX;
        limit.burst = u32::MAX;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shop() -> ShopSettings {
        let files = ShopFiles::new("/shop");
        let wiring = Wiring::new(&files, |role| DatabaseSettings {
            port: 5999,
            ..DatabaseSettings::for_service(role)
        });
        wiring.fixed(&FixedPorts {
            auth: (1001, 2001),
            products: (1002, 2002),
            orders: (1003, 2003),
            gateway: (1004, 2004),
            storefront: (1005, 2005),
        })
    }

    #[test]
    fn each_service_calls_its_peers_on_their_api_ports() {
        let shop = shop();
        assert_eq!(shop.orders.products_url, "https://127.0.0.1:1002");
        assert_eq!(shop.gateway.backends.auth, "https://127.0.0.1:1001");
        assert_eq!(shop.gateway.backends.products, "https://127.0.0.1:1002");
        assert_eq!(shop.gateway.backends.orders, "https://127.0.0.1:1003");
        assert_eq!(shop.storefront.gateway_url, "https://127.0.0.1:1004");
        assert_eq!(shop.auth.http.admin_listen.port(), 2001);
        assert_eq!(shop.storefront.http.listen.port(), 1005);
        for database in [
            &shop.auth.database,
            &shop.products.database,
            &shop.orders.database,
        ] {
            assert_eq!(database.port, 5999);
        }
        assert_eq!(shop.orders.database.user, "orders");
        assert_eq!(
            shop.storefront.cookie_key_file.path(),
            ShopFiles::new("/shop").cookie_key().path()
        );
    }

    #[test]
    fn each_service_has_ports_of_its_own() {
        let ports = FixedPorts::reserve().expect("free ports");
        let mut all = Vec::new();
        for id in ServiceId::ALL {
            let (api, admin) = ports.of(id);
            all.extend([api, admin]);
        }
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 10);
        assert_eq!(ports.of(ServiceId::ApiGateway), ports.gateway);
    }

    /// A service started with its own defaults listens where the topology
    /// (and so every manifest, see its tests) says, and calls its peers there.
    #[test]
    fn each_services_defaults_are_the_topologys_ports() {
        let ports = |id: ServiceId| {
            let p = id.ports();
            (
                std::net::SocketAddr::from(([127, 0, 0, 1], p.api)),
                std::net::SocketAddr::from(([127, 0, 0, 1], p.admin)),
            )
        };
        let listens = |http: &HttpSettings| (http.listen, http.admin_listen);
        let auth = cloudshop_auth::settings::Settings::default();
        let products = cloudshop_products::settings::Settings::default();
        let orders = cloudshop_orders::settings::Settings::default();
        let gateway = cloudshop_api_gateway::settings::Settings::default();
        let storefront = cloudshop_storefront::settings::Settings::default();
        assert_eq!(listens(&auth.http), ports(ServiceId::Auth));
        assert_eq!(listens(&products.http), ports(ServiceId::Products));
        assert_eq!(listens(&orders.http), ports(ServiceId::Orders));
        assert_eq!(listens(&gateway.http), ports(ServiceId::ApiGateway));
        assert_eq!(listens(&storefront.http), ports(ServiceId::Storefront));
        assert_eq!(orders.products_url, "https://127.0.0.1:8082");
        assert_eq!(gateway.backends.auth, "https://127.0.0.1:8081");
        assert_eq!(gateway.backends.products, "https://127.0.0.1:8082");
        assert_eq!(gateway.backends.orders, "https://127.0.0.1:8083");
        assert_eq!(storefront.gateway_url, "https://127.0.0.1:8080");
        for (database, id) in [
            (&auth.database, ServiceId::Auth),
            (&products.database, ServiceId::Products),
            (&orders.database, ServiceId::Orders),
        ] {
            assert_eq!(database.user, id.name());
        }
        assert_eq!(auth.trusted_proxies, [ServiceId::ApiGateway]);
        assert_eq!(gateway.trusted_proxies, [ServiceId::Storefront]);
    }

    /// What `to_toml` writes is what each service reads back (its settings
    /// refuse unknown fields), and names no secret, only files.
    #[test]
    fn the_written_files_read_back_as_the_same_settings() {
        let shop = shop();
        let texts = shop.to_toml().expect("toml");
        let ids: Vec<_> = texts.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, ServiceId::ALL);
        let [
            (_, auth),
            (_, products),
            (_, orders),
            (_, gateway),
            (_, storefront),
        ] = texts;
        let auth: cloudshop_auth::settings::Settings = toml::from_str(&auth).expect("auth");
        assert_eq!(auth.http.listen, shop.auth.http.listen);
        assert_eq!(
            auth.tokens.signing_key_file.path(),
            shop.auth.tokens.signing_key_file.path()
        );
        let products: cloudshop_products::settings::Settings = toml::from_str(&products).expect("products");
        assert_eq!(products.jwt.public_keys_file, shop.products.jwt.public_keys_file);
        let orders: cloudshop_orders::settings::Settings = toml::from_str(&orders).expect("orders");
        assert_eq!(orders.products_url, shop.orders.products_url);
        let gateway: cloudshop_api_gateway::settings::Settings = toml::from_str(&gateway).expect("gateway");
        assert_eq!(gateway.backends.orders, shop.gateway.backends.orders);
        let storefront: cloudshop_storefront::settings::Settings =
            toml::from_str(&storefront).expect("storefront");
        assert_eq!(storefront.gateway_url, shop.storefront.gateway_url);
    }

    /// Settings carry only the paths of secret files: neither `Debug` of any
    /// service's settings nor the TOML written for it holds a secret's bytes.
    #[test]
    fn debug_output_of_each_services_settings_holds_none_of_the_secrets() -> anyhow::Result<()> {
        use cloudshop_host::redaction::{assert_debug_hides, pem_der};

        let dir = tempfile::tempdir()?;
        let files = ShopFiles::new(dir.path());
        files.ensure()?;
        let wiring = Wiring::new(&files, |role| DatabaseSettings {
            password_file: files.db_password(role),
            ca_file: files.ca_cert(),
            ..DatabaseSettings::for_service(role)
        });
        let shop = wiring.fixed(&FixedPorts {
            auth: (1001, 2001),
            products: (1002, 2002),
            orders: (1003, 2003),
            gateway: (1004, 2004),
            storefront: (1005, 2005),
        });
        let texts = shop.to_toml()?;

        let mut secrets = Vec::new();
        for folder in ["secrets", "pki"] {
            for entry in std::fs::read_dir(dir.path().join(folder))? {
                let path = entry?.path();
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
                let contents = std::fs::read(&path)?;
                let secret = match folder {
                    _ if name.ends_with("-key.pem") => pem_der(&contents)?,
                    // Not secrets: the public keys, and the admin's fixed email
                    // (`admin@cloudshop.local`, which shares `cloudshop` with the issuer).
                    "secrets" if !name.ends_with(".pem") && name != "admin-email" => {
                        contents.trim_ascii_end().to_vec()
                    }
                    _ => continue,
                };
                secrets.push((name.to_owned(), secret));
            }
        }
        let names: Vec<&str> = secrets.iter().map(|(name, _)| name.as_str()).collect();
        for expected in [
            "cookie-key",
            "admin-password",
            "db-password-auth",
            "jwt-signing-key.pem",
            "auth-key.pem",
        ] {
            assert!(names.contains(&expected), "{expected} missing from {names:?}");
        }
        for (_, secret) in &secrets {
            assert_debug_hides(&shop.auth, secret);
            assert_debug_hides(&shop.products, secret);
            assert_debug_hides(&shop.orders, secret);
            assert_debug_hides(&shop.gateway, secret);
            assert_debug_hides(&shop.storefront, secret);
            assert_debug_hides(&texts, secret);
        }
        Ok(())
    }
}
