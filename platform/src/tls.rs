//! Mutual TLS 1.3 between services.
//!
//! [`TlsMaterial`] holds a service's certificate, key and the internal CA, and
//! reloads them from disk when the files change (certificate rotation without a
//! restart). The rustls configurations it hands out read the current material on
//! every handshake, so only new connections see a rotated certificate.
//!
//! A caller's identity is read from its verified client certificate: the URI SAN
//! `spiffe://cloudshop/<service>` and nothing else ([`PeerIdentity`]).
//! [`RequireCaller`] lets a router admit only named callers.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use cloudshop_topology::ServiceId;
use futures_util::future::BoxFuture;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{ClientHello, ResolvesServerCert, WebPkiClientVerifier};
use rustls::sign::CertifiedKey;
use rustls::{
    ClientConfig, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use tokio_util::sync::CancellationToken;

use crate::error::ApiError;
use crate::settings::TlsSettings;

/// URI SAN prefix of CloudShop service identities.
pub const SPIFFE_PREFIX: &str = "spiffe://cloudshop/";

/// The refusal of a caller without an identity: no client certificate, or one
/// without a `spiffe://cloudshop/<service>` URI SAN.
const NO_IDENTITY: &str = "a client certificate with a spiffe://cloudshop/<service> identity is required";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("TLS setting `{setting}` ({path}): {reason}")]
    File {
        setting: &'static str,
        path: String,
        reason: String,
    },
    #[error("TLS configuration: {0}")]
    Config(#[from] rustls::Error),
}

fn file_error(setting: &'static str, path: &Path, reason: impl ToString) -> TlsError {
    TlsError::File {
        setting,
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// Whether a server demands a client certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    /// Internal services: no certificate from the internal CA, no connection.
    Required,
    /// The public edge: a certificate is verified when offered (the storefront
    /// presents one), but browsers and API clients may connect without.
    Optional,
}

struct Loaded {
    fingerprint: Vec<u8>,
    key: Arc<CertifiedKey>,
    client_required: Arc<dyn ClientCertVerifier>,
    client_optional: Arc<dyn ClientCertVerifier>,
    server: Arc<WebPkiServerVerifier>,
}

/// A service's TLS identity and trust, reloaded from disk when it changes.
pub struct TlsMaterial {
    settings: TlsSettings,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<Loaded>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("cert_file", &self.settings.cert_file)
            .field("ca_file", &self.settings.ca_file)
            .finish_non_exhaustive()
    }
}

impl TlsMaterial {
    /// Loads the certificate, key and CA named by `settings`; fails naming the
    /// setting whose file is missing or malformed.
    pub fn load(settings: &TlsSettings) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let loaded = load_files(settings, &provider)?;
        Ok(Arc::new(Self {
            settings: settings.clone(),
            provider,
            current: ArcSwap::from_pointee(loaded),
        }))
    }

    /// Re-reads the files; swaps in the new material when they changed.
    /// Returns whether anything changed.
    pub fn reload(&self) -> Result<bool, TlsError> {
        let fingerprint = fingerprint(&self.settings)?;
        if fingerprint == self.current.load().fingerprint {
            return Ok(false);
        }
        let loaded = load_files(&self.settings, &self.provider)?;
        self.current.store(Arc::new(loaded));
        tracing::info!(cert = %self.settings.cert_file.display(), "reloaded TLS certificate");
        Ok(true)
    }

    /// Checks the files every `reload_interval_ms` until `shutdown`. A failed
    /// reload (say, a half-written file mid-rotation) keeps the old material.
    pub fn spawn_reloader(self: &Arc<Self>, shutdown: CancellationToken) {
        let material = Arc::clone(self);
        let period = Duration::from_millis(self.settings.reload_interval_ms.max(50));
        tokio::spawn(async move {
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = ticker.tick() => {}
                }
                if let Err(err) = material.reload() {
                    tracing::warn!(error = %err, "TLS reload failed; keeping the current certificate");
                }
            }
        });
    }

    /// A TLS 1.3 server configuration that always presents the current
    /// certificate and verifies clients against the current CA.
    pub fn server_config(self: &Arc<Self>, client_auth: ClientAuth) -> Result<Arc<ServerConfig>, TlsError> {
        let verifier = Arc::new(CurrentClientVerifier {
            material: Arc::clone(self),
            client_auth,
        });
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_cert_resolver(Arc::new(CurrentCert(Arc::clone(self))));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }

    /// A TLS 1.3 client configuration that presents the current certificate and
    /// trusts only the internal CA.
    pub fn client_config(self: &Arc<Self>) -> Result<ClientConfig, TlsError> {
        Ok(ClientConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(CurrentServerVerifier(Arc::clone(self))))
            .with_client_cert_resolver(Arc::new(CurrentCert(Arc::clone(self)))))
    }
}

fn fingerprint(settings: &TlsSettings) -> Result<Vec<u8>, TlsError> {
    let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    for (setting, path) in [
        ("tls.cert_file", &settings.cert_file),
        ("tls.key_file", &settings.key_file),
        ("tls.ca_file", &settings.ca_file),
    ] {
        let bytes = std::fs::read(path).map_err(|e| file_error(setting, path, e))?;
        ctx.update(&bytes);
        ctx.update(&(bytes.len() as u64).to_le_bytes());
    }
    Ok(ctx.finish().as_ref().to_vec())
}

/// Reads the PEM certificates in `path`.
pub fn read_certificates(
    setting: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| file_error(setting, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(setting, path, e))?;
    if certs.is_empty() {
        return Err(file_error(setting, path, "no PEM certificate in the file"));
    }
    Ok(certs)
}

/// A root store holding the certificates of the CA file.
pub fn read_roots(setting: &'static str, path: &Path) -> Result<Arc<RootCertStore>, TlsError> {
    let mut roots = RootCertStore::empty();
    for cert in read_certificates(setting, path)? {
        roots.add(cert).map_err(|e| file_error(setting, path, e))?;
    }
    Ok(Arc::new(roots))
}

fn load_files(settings: &TlsSettings, provider: &Arc<CryptoProvider>) -> Result<Loaded, TlsError> {
    let fingerprint = fingerprint(settings)?;
    let chain = read_certificates("tls.cert_file", &settings.cert_file)?;
    let key = PrivateKeyDer::from_pem_file(&settings.key_file)
        .map_err(|e| file_error("tls.key_file", &settings.key_file, e))?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| file_error("tls.key_file", &settings.key_file, e))?;
    let key = CertifiedKey::new(chain, signing_key);
    key.keys_match().map_err(|e| {
        file_error(
            "tls.key_file",
            &settings.key_file,
            format!("does not match the certificate: {e}"),
        )
    })?;
    let roots = read_roots("tls.ca_file", &settings.ca_file)?;
    let ca_error = |e: &dyn std::fmt::Display| file_error("tls.ca_file", &settings.ca_file, e);
    let client_required =
        WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(provider))
            .build()
            .map_err(|e| ca_error(&e))?;
    let client_optional =
        WebPkiClientVerifier::builder_with_provider(Arc::clone(&roots), Arc::clone(provider))
            .allow_unauthenticated()
            .build()
            .map_err(|e| ca_error(&e))?;
    let server = WebPkiServerVerifier::builder_with_provider(roots, Arc::clone(provider))
        .build()
        .map_err(|e| ca_error(&e))?;
    Ok(Loaded {
        fingerprint,
        key: Arc::new(key),
        client_required,
        client_optional,
        server,
    })
}

#[derive(Debug)]
struct CurrentCert(Arc<TlsMaterial>);

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.current.load().key))
    }
}

impl ResolvesClientCert for CurrentCert {
    fn resolve(&self, _hints: &[&[u8]], _schemes: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0.current.load().key))
    }
    fn has_certs(&self) -> bool {
        true
    }
}

#[derive(Debug)]
struct CurrentClientVerifier {
    material: Arc<TlsMaterial>,
    client_auth: ClientAuth,
}

impl CurrentClientVerifier {
    fn inner(&self) -> Arc<dyn ClientCertVerifier> {
        let loaded = self.material.current.load();
        match self.client_auth {
            ClientAuth::Required => Arc::clone(&loaded.client_required),
            ClientAuth::Optional => Arc::clone(&loaded.client_optional),
        }
    }
}

impl ClientCertVerifier for CurrentClientVerifier {
    fn offer_client_auth(&self) -> bool {
        true
    }
    fn client_auth_mandatory(&self) -> bool {
        self.client_auth == ClientAuth::Required
    }
    // No CA hints: our clients hold one certificate each, and hints would have
    // to borrow from material that can be swapped at any time.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner().verify_client_cert(end_entity, intermediates, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner().supported_verify_schemes()
    }
}

#[derive(Debug)]
struct CurrentServerVerifier(Arc<TlsMaterial>);

impl ServerCertVerifier for CurrentServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let inner = Arc::clone(&self.0.current.load().server);
        inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .current
            .load()
            .server
            .verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0
            .current
            .load()
            .server
            .verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.current.load().server.supported_verify_schemes()
    }
}

/// The verified identity of the peer of a TLS connection: the service name of
/// its `spiffe://cloudshop/<service>` URI SAN, and nothing else. A DNS name is
/// where a service is reached, not who it is: a certificate of the internal CA
/// that names `orders` only as a DNS SAN is no identity at all.
/// The name is read into a [`ServiceId`] once, when the connection's
/// certificate is, not on every request that asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerIdentity {
    name: String,
    service: Option<ServiceId>,
}

impl PeerIdentity {
    /// Reads the identity from a certificate that rustls already verified;
    /// `None` when it carries no `spiffe://cloudshop/<service>` URI SAN.
    pub fn from_certificate(der: &CertificateDer<'_>) -> Option<Self> {
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        let san = cert.subject_alternative_name().ok()??;
        san.value.general_names.iter().find_map(|name| match name {
            x509_parser::extensions::GeneralName::URI(uri) => uri
                .strip_prefix(SPIFFE_PREFIX)
                .filter(|service| !service.is_empty() && !service.contains('/'))
                .map(|name| Self {
                    name: name.to_owned(),
                    service: name.parse().ok(),
                }),
            _ => None,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The shop's service this is, if any (the shop's CA also certifies
    /// PostgreSQL, and a test may name a stranger).
    pub fn service(&self) -> Option<ServiceId> {
        self.service
    }
}

impl<S: Send + Sync> FromRequestParts<S> for PeerIdentity {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<PeerIdentity>()
            .cloned()
            .ok_or_else(|| ApiError::forbidden(NO_IDENTITY))
    }
}

/// A layer admitting only requests whose peer identity is one of `allowed`.
#[derive(Debug, Clone)]
pub struct RequireCaller {
    allowed: Arc<[ServiceId]>,
}

impl RequireCaller {
    pub fn one_of(allowed: &[ServiceId]) -> Self {
        Self {
            allowed: allowed.into(),
        }
    }

    fn check(&self, request: &Request) -> Result<(), ApiError> {
        match request.extensions().get::<PeerIdentity>() {
            Some(peer) if peer.service().is_some_and(|id| self.allowed.contains(&id)) => Ok(()),
            Some(peer) => {
                tracing::warn!(caller = peer.name(), "caller not allowed on this route");
                Err(ApiError::forbidden("this caller may not use this route"))
            }
            None => Err(ApiError::forbidden(NO_IDENTITY)),
        }
    }
}

impl<S> tower::Layer<S> for RequireCaller {
    type Service = RequireCallerService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequireCallerService {
            policy: self.clone(),
            inner,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RequireCallerService<S> {
    policy: RequireCaller,
    inner: S,
}

impl<S> tower::Service<Request> for RequireCallerService<S>
where
    S: tower::Service<Request, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.policy.check(&request) {
            Ok(()) => Box::pin(self.inner.call(request)),
            Err(err) => Box::pin(async move { Ok(err.into_response()) }),
        }
    }
}

#[cfg(test)]
mod tests {
    use cloudshop_host::files::ShopFiles;
    use cloudshop_host::redaction::assert_debug_hides;

    use super::*;

    #[test]
    fn debug_output_holds_none_of_the_private_key() -> Result<(), Box<dyn std::error::Error>> {
        let dir = tempfile::tempdir()?;
        let files = ShopFiles::new(dir.path());
        files.ensure()?;
        let settings = TlsSettings {
            cert_file: files.cert("orders"),
            key_file: files.key("orders"),
            ca_file: files.ca_cert(),
            reload_interval_ms: 200,
        };
        let material = TlsMaterial::load(&settings)?;
        let key = PrivateKeyDer::from_pem_file(&settings.key_file)?;

        assert_debug_hides(&material, key.secret_der());
        // The configurations reach the material through their resolvers.
        assert_debug_hides(&material.server_config(ClientAuth::Required)?, key.secret_der());
        assert_debug_hides(&material.client_config()?, key.secret_der());
        Ok(())
    }
}
