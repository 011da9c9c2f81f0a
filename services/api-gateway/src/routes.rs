//! The public API, as a table: which prefix goes to which service, under which
//! upstream path, and what a caller needs to use it.

/// The services behind the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Auth,
    Products,
    Orders,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::Auth => "auth",
            Self::Products => "products",
            Self::Orders => "orders",
        }
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
        public: "/api/auth/me",
        backend: Backend::Auth,
        upstream: "/me",
        access: Access::Bearer,
    },
    Route {
        public: "/api/auth",
        backend: Backend::Auth,
        upstream: "",
        access: Access::Public,
    },
    Route {
        public: "/api/products",
        backend: Backend::Products,
        upstream: "/products",
        access: Access::BearerForWrites,
    },
    Route {
        public: "/api/categories",
        backend: Backend::Products,
        upstream: "/categories",
        access: Access::Public,
    },
    Route {
        public: "/api/orders",
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
    fn prefixes_map_to_upstream_paths() {
        let cases = [
            ("/api/auth/login", Some((Backend::Auth, "/login"))),
            ("/api/auth/me", Some((Backend::Auth, "/me"))),
            (
                "/api/auth/.well-known/jwks.json",
                Some((Backend::Auth, "/.well-known/jwks.json")),
            ),
            ("/api/products", Some((Backend::Products, "/products"))),
            ("/api/products/42", Some((Backend::Products, "/products/42"))),
            ("/api/categories", Some((Backend::Products, "/categories"))),
            (
                "/api/orders/7/cancel",
                Some((Backend::Orders, "/orders/7/cancel")),
            ),
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
        assert_eq!(
            resolve("/api/auth/me").map(|(r, _)| r.access),
            Some(Access::Bearer)
        );
        assert_eq!(
            resolve("/api/auth/login").map(|(r, _)| r.access),
            Some(Access::Public)
        );
    }
}
