//! `cloudshop up --config FILE`: overrides of the local shop's settings.
//!
//! The file holds one table per service, named as in
//! [`cloudshop_topology::NAMES`], whose keys are that service's own settings
//! keys (the ones its `CLOUDSHOP_CONFIG` file takes, see
//! `compose/config/*.toml`), and optionally `log`, the filter of `up`'s one
//! logger (`RUST_LOG` syntax; `RUST_LOG` itself still wins):
//!
//! ```toml
//! log = "info,cloudshop_api_gateway=debug"
//!
//! [api-gateway.rate_limit]
//! per_minute = 600
//! burst = 50
//! ```
//!
//! Each table is merged key by key over the settings `up` builds, and the
//! result is read back by the service's own settings type, so an unknown key
//! or a wrong type is refused as the service would refuse it, naming the
//! file, the service and the key. Keys `up` wires itself are refused too
//! ([`own_managed`]): listen addresses (ports come from `--storefront-port` and
//! `--gateway-port`, or are picked free), the TLS files, keys and secrets
//! under `--dir`, the database connection, and the peers' addresses; an
//! override there would cut a service off from the shop. The whole file is
//! checked before `up` creates or starts anything.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use cloudshop_topology::ServiceId;
use cloudshop_wiring::{Backends, Wiring};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::loopback;

/// Settings `up` sets for every service: its listeners and TLS files.
const SERVED: &[&str] = &["http.listen", "http.admin_listen", "tls"];
/// The database connection, for the services with a database
/// ([`cloudshop_topology::Service::database`]).
const DATABASE: &[&str] = &[
    "database.host",
    "database.port",
    "database.name",
    "database.user",
    "database.password_file",
    "database.ca_file",
];

/// Settings `up` sets itself for `service`, beside [`SERVED`] and
/// [`DATABASE`]: a key is refused when it is one of them or lies inside one
/// (`tls.cert_file` inside `tls`).
fn own_managed(service: ServiceId) -> &'static [&'static str] {
    match service {
        ServiceId::Auth => &[
            "tokens.signing_key_file",
            "admin.email_file",
            "admin.password_file",
        ],
        ServiceId::Products => &["jwt.public_keys_file"],
        ServiceId::Orders => &["jwt.public_keys_file", "products_url"],
        ServiceId::ApiGateway => &["jwt.public_keys_file", "backends"],
        ServiceId::Storefront => &[
            "serve_tls",
            "jwt.public_keys_file",
            "gateway_url",
            "cookie_key_file",
        ],
    }
}

/// The overrides read from one `--config` file (none without the flag).
#[derive(Debug, Default)]
pub struct UpConfig {
    path: PathBuf,
    /// `up`'s log filter, when the file sets one.
    pub log: Option<String>,
    services: Vec<(ServiceId, toml::Table)>,
}

impl UpConfig {
    /// Reads and checks `path`: valid TOML, known services, no managed keys,
    /// a valid log filter. Whether each key fits its service's settings is
    /// checked by [`Self::check`].
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let shown = path.display();
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading the config file {shown}"))?;
        let table: toml::Table =
            toml::from_str(&text).with_context(|| format!("{shown} is not valid TOML"))?;
        let mut config = Self {
            path: path.to_owned(),
            ..Self::default()
        };
        for (key, value) in table {
            if key == "log" {
                let Some(filter) = value.as_str() else {
                    bail!("{shown}: `log` must be a string (a RUST_LOG filter such as \"info,sqlx=warn\")");
                };
                tracing_subscriber::EnvFilter::try_new(filter)
                    .with_context(|| format!("{shown}: `log` is not a valid log filter"))?;
                config.log = Some(filter.to_owned());
                continue;
            }
            let service: ServiceId = key
                .parse()
                .map_err(|unknown| anyhow::anyhow!("{shown}: [{key}]: {unknown}, or the key `log`"))?;
            let toml::Value::Table(overrides) = value else {
                bail!("{shown}: `{key}` must be a table of {key}'s settings ([{key}])");
            };
            let managed = managed(service);
            for leaf in leaves(&overrides, String::new()) {
                if let Some(owner) = managed.iter().find(|m| {
                    **m == leaf || leaf.starts_with(&format!("{m}.")) || m.starts_with(&format!("{leaf}."))
                }) {
                    bail!(
                        "{shown}: [{key}] {leaf}: `cloudshop up` sets {owner} itself and does not take it from \
                         --config (ports: --storefront-port, --gateway-port, others are picked free; files \
                         live under --dir; the database and the peers are wired by `up`)"
                    );
                }
            }
            config.services.push((service, overrides));
        }
        Ok(config)
    }

    /// Applies every override to settings built as `up` builds them, so a
    /// key or value a service would refuse stops `up` before it starts.
    pub fn check(&self, wiring: &Wiring<'_>) -> anyhow::Result<()> {
        let peer = cloudshop_wiring::url(1);
        self.apply(ServiceId::Auth, wiring.auth(loopback(0)))?;
        self.apply(ServiceId::Products, wiring.products(loopback(0)))?;
        self.apply(ServiceId::Orders, wiring.orders(loopback(0), &peer))?;
        let backends = Backends {
            auth: peer.clone(),
            products: peer.clone(),
            orders: peer.clone(),
        };
        self.apply(ServiceId::ApiGateway, wiring.gateway(loopback(0), backends))?;
        self.apply(ServiceId::Storefront, wiring.storefront(loopback(0), &peer))?;
        Ok(())
    }

    /// `built` with the overrides of `service` merged over it, read back as
    /// the service's settings.
    pub fn apply<S: Serialize + DeserializeOwned>(&self, service: ServiceId, built: S) -> anyhow::Result<S> {
        let Some((_, overrides)) = self.services.iter().find(|(id, _)| *id == service) else {
            return Ok(built);
        };
        let shown = self.path.display();
        let mut value =
            toml::Value::try_from(&built).with_context(|| format!("writing {service}'s settings as TOML"))?;
        merge(&mut value, overrides);
        serde_path_to_error::deserialize(value).map_err(|err| {
            let key = err.path().to_string();
            let inner = err.into_inner();
            if key == "." {
                anyhow::anyhow!("{shown}: [{service}]: {inner}")
            } else {
                anyhow::anyhow!("{shown}: [{service}] {key}: {inner}")
            }
        })
    }
}

/// Every key `up` sets itself for `service`.
fn managed(service: ServiceId) -> Vec<&'static str> {
    let database = if service.service().database { DATABASE } else { &[] };
    [SERVED, database, own_managed(service)].concat()
}

/// The dotted keys of the values (not tables) in `table`.
fn leaves(table: &toml::Table, prefix: String) -> Vec<String> {
    let mut keys = Vec::new();
    for (key, value) in table {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            toml::Value::Table(inner) => keys.extend(leaves(inner, path)),
            _ => keys.push(path),
        }
    }
    keys
}

/// Merges `overrides` into `base`: tables key by key, anything else replaced.
fn merge(base: &mut toml::Value, overrides: &toml::Table) {
    let toml::Value::Table(base) = base else {
        *base = toml::Value::Table(overrides.clone());
        return;
    };
    for (key, value) in overrides {
        match (base.get_mut(key), value) {
            (Some(existing @ toml::Value::Table(_)), toml::Value::Table(inner)) => merge(existing, inner),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cloudshop_host::files::ShopFiles;
    use cloudshop_platform::db::DatabaseSettings;

    fn config(text: &str) -> anyhow::Result<UpConfig> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("up.toml");
        std::fs::write(&path, text)?;
        UpConfig::load(&path)
    }

    fn wiring(files: &ShopFiles) -> Wiring<'_> {
        Wiring::new(files, DatabaseSettings::for_service)
    }

    #[test]
    fn a_key_is_merged_over_the_built_settings() {
        let files = ShopFiles::new("/shop");
        let wiring = wiring(&files);
        let config = config("[api-gateway.rate_limit]\nburst = 3\n").expect("config");
        config.check(&wiring).expect("fits");
        let built = wiring.gateway(loopback(8443), Backends::default());
        let gateway = config.apply(ServiceId::ApiGateway, built).expect("applies");
        assert_eq!(gateway.rate_limit.burst, 3);
        // Everything else is as built.
        assert_eq!(gateway.rate_limit.per_minute, 60_000);
        assert_eq!(gateway.http.listen.port(), 8443);
    }

    #[test]
    fn bad_keys_values_and_services_are_refused_by_name() {
        let files = ShopFiles::new("/shop");
        let wiring = wiring(&files);
        let unknown = config("[api-gateway.rate_limit]\nburts = 3\n")
            .expect("loads")
            .check(&wiring)
            .expect_err("unknown key");
        let unknown = unknown.to_string();
        assert!(unknown.contains("up.toml: [api-gateway] rate_limit"), "{unknown}");
        assert!(unknown.contains("burts"), "{unknown}");
        let wrong = config("[orders]\nproducts_timeout_ms = \"soon\"\n")
            .expect("loads")
            .check(&wiring)
            .expect_err("wrong type")
            .to_string();
        assert!(wrong.contains("[orders] products_timeout_ms"), "{wrong}");
        let service = config("[payments]\nx = 1\n")
            .expect_err("no such service")
            .to_string();
        assert!(service.contains("payments"), "{service}");
        for name in cloudshop_topology::NAMES {
            assert!(service.contains(name), "{service}");
        }
        let managed = config("[storefront.http]\nlisten = \"0.0.0.0:80\"\n")
            .expect_err("managed")
            .to_string();
        assert!(managed.contains("[storefront] http.listen"), "{managed}");
        let database = config("[orders.database]\nhost = \"db.example\"\n")
            .expect_err("managed")
            .to_string();
        assert!(database.contains("[orders] database.host"), "{database}");
        let log = config("log = 3\n").expect_err("not a string").to_string();
        assert!(log.contains("`log`"), "{log}");
    }
}
