//! The public API, as a table: which prefix goes to which service, under which
//! upstream path, and what a caller needs to use it. The prefixes are paths
//! of [`cloudshop_api::paths`], but for `/api/auth`, the parent of several.

use cloudshop_api::paths;
use cloudshop_platform::ServiceId;

/// The services behind the gateway: the ones the topology says it calls
/// (tested), as a type of their own so that each has a backend URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Auth,
    Products,
    Orders,
}

impl Backend {
    pub const ALL: [Backend; 3] = [Self::Auth, Self::Products, Self::Orders];

    pub fn id(self) -> ServiceId {
        match self {
            Self::Auth => ServiceId::Auth,
            Self::Products => ServiceId::Products,
            Self::Orders => ServiceId::Orders,
        }
    }

    pub fn name(self) -> &'static str {
        self.id().name()
    }
}

/// What the gateway checks before forwarding (the services check again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Public,
    /// A valid access token on every method.
    Bearer,
    /// Reads are public; writes need a valid access token.
    BearerForWrites,
}

#[derive(Debug)]
pub struct Route {
    /// Public path prefix; matches itself and anything below it.
    pub public: &'static str,
    pub backend: Backend,
    /// What replaces `public` in the upstream path.
    pub upstream: &'static str,
    pub access: Access,
}

/// First match wins: specific prefixes come before general ones.
pub const ROUTES: &[Route] = &[
    Route {
        public: paths::ME,
        backend: Backend::Auth,
        upstream: "/me",
        access: Access::Bearer,
    },
    // Register, login and the keys; `paths` names each, not their parent.
    Route {
        public: "/api/auth",
        backend: Backend::Auth,
        upstream: "",
        access: Access::Public,
    },
    Route {
        public: paths::PRODUCTS,
        backend: Backend::Products,
        upstream: "/products",
        access: Access::BearerForWrites,
    },
    Route {
        public: paths::CATEGORIES,
        backend: Backend::Products,
        upstream: "/categories",
        access: Access::Public,
    },
    Route {
        public: paths::ORDERS,
        backend: Backend::Orders,
        upstream: "/orders",
        access: Access::Bearer,
    },
];

impl Route {
    /// The upstream path for `path`, when this route serves it.
    pub fn upstream_path(&self, path: &str) -> Option<String> {
        let rest = path.strip_prefix(self.public)?;
        if !(rest.is_empty() || rest.starts_with('/')) {
            return None;
        }
        let upstream = format!("{}{rest}", self.upstream);
        Some(if upstream.is_empty() { "/".into() } else { upstream })
    }
}

/// The route serving `path`, and its upstream path.
pub fn resolve(path: &str) -> Option<(&'static Route, String)> {
    ROUTES
        .iter()
        .find_map(|route| route.upstream_path(path).map(|upstream| (route, upstream)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backends_are_the_services_the_topology_says_the_gateway_calls() {
        let ids: Vec<ServiceId> = Backend::ALL.into_iter().map(Backend::id).collect();
        assert_eq!(ids, ServiceId::ApiGateway.service().calls);
        for route in ROUTES {
            assert!(Backend::ALL.contains(&route.backend), "{}", route.public);
        }
    }

    #[test]
    fn prefixes_map_to_upstream_paths() {
        let (product, cancel) = (paths::product(42), paths::fill(paths::ORDER_CANCEL, 7));
        let cases = [
            (paths::REGISTER, Some((Backend::Auth, "/register"))),
            (paths::LOGIN, Some((Backend::Auth, "/login"))),
            (paths::ME, Some((Backend::Auth, "/me"))),
            (paths::JWKS, Some((Backend::Auth, "/.well-known/jwks.json"))),
            (paths::PRODUCTS, Some((Backend::Products, "/products"))),
            (&product, Some((Backend::Products, "/products/42"))),
            (paths::CATEGORIES, Some((Backend::Products, "/categories"))),
            (&cancel, Some((Backend::Orders, "/orders/7/cancel"))),
            // Not public paths: a longer segment, an unknown one, no prefix.
            ("/api/productsx", None),
            ("/api/unknown", None),
            ("/products", None),
        ];
        for (path, expected) in cases {
            let got = resolve(path).map(|(route, upstream)| (route.backend, upstream));
            assert_eq!(got, expected.map(|(b, p)| (b, p.to_owned())), "{path}");
        }
    }

    #[test]
    fn me_needs_a_token_but_login_does_not() {
        assert_eq!(resolve(paths::ME).map(|(r, _)| r.access), Some(Access::Bearer));
        assert_eq!(resolve(paths::LOGIN).map(|(r, _)| r.access), Some(Access::Public));
    }
}
