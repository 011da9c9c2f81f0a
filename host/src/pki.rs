//! A development certificate authority. Service certificates carry the identity
//! `spiffe://cloudshop/<service>` as a URI SAN, the DNS names and addresses the
//! service is reached by, and both serverAuth and clientAuth, since every
//! service is a server to its callers and a client to its backends.

use std::net::IpAddr;

use anyhow::Context;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, SanType,
};
use time::{Duration, OffsetDateTime};

use cloudshop_platform::tls::SPIFFE_PREFIX;

/// A certificate and its private key, PEM encoded.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued").finish_non_exhaustive()
    }
}

/// What a leaf certificate is for.
#[derive(Debug, Clone)]
pub struct LeafRequest {
    /// Service name; becomes the SPIFFE URI SAN and the common name.
    pub service: String,
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl LeafRequest {
    /// A certificate for `service` on this machine (`localhost`, 127.0.0.1,
    /// ::1) and in a cluster (`<service>`, `<service>.cloudshop-prod.svc`),
    /// valid for a year.
    pub fn local(service: &str) -> Self {
        let now = OffsetDateTime::now_utc();
        Self {
            service: service.to_owned(),
            dns_names: vec![
                "localhost".into(),
                service.to_owned(),
                format!("{service}.cloudshop-prod.svc"),
                format!("{service}.cloudshop-prod.svc.cluster.local"),
            ],
            ips: vec![
                IpAddr::from([127, 0, 0, 1]),
                IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]),
            ],
            not_before: now - Duration::minutes(5),
            not_after: now + Duration::days(365),
        }
    }

    /// The same certificate, but expired yesterday.
    pub fn expired(mut self) -> Self {
        let now = OffsetDateTime::now_utc();
        self.not_before = now - Duration::days(30);
        self.not_after = now - Duration::days(1);
        self
    }
}

pub struct CertificateAuthority {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    key_pem: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority").finish_non_exhaustive()
    }
}

impl CertificateAuthority {
    /// A new self-signed CA valid for ten years.
    pub fn generate(common_name: &str) -> anyhow::Result<Self> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, common_name);
        dn.push(DnType::OrganizationName, "CloudShop development");
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let now = OffsetDateTime::now_utc();
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + Duration::days(3650);
        let cert = params.self_signed(&key)?;
        let key_pem = key.serialize_pem();
        Ok(Self {
            issuer: Issuer::new(params, key),
            cert_pem: cert.pem(),
            key_pem,
        })
    }

    /// Loads a CA written earlier by [`Self::cert_pem`] and [`Self::key_pem`].
    pub fn load(cert_pem: &str, key_pem: &str) -> anyhow::Result<Self> {
        let key = KeyPair::from_pem(key_pem).context("CA key")?;
        let issuer = Issuer::from_ca_cert_pem(cert_pem, key).context("CA certificate")?;
        Ok(Self {
            issuer,
            cert_pem: cert_pem.to_owned(),
            key_pem: key_pem.to_owned(),
        })
    }

    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    pub fn key_pem(&self) -> &str {
        &self.key_pem
    }

    /// Issues a leaf certificate with a fresh P-256 key.
    pub fn issue(&self, request: &LeafRequest) -> anyhow::Result<Issued> {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, request.service.as_str());
        let spiffe = SanType::URI(format!("{SPIFFE_PREFIX}{}", request.service).try_into()?);
        self.sign_leaf(
            dn,
            Some(spiffe),
            &request.dns_names,
            &request.ips,
            (request.not_before, request.not_after),
        )
    }

    /// Issues a Kubernetes certificate with a fresh P-256 key, valid for a
    /// year.
    pub fn issue_kubernetes(&self, request: &KubernetesLeaf) -> anyhow::Result<Issued> {
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, request.common_name.as_str());
        if let Some(organization) = &request.organization {
            dn.push(DnType::OrganizationName, organization.as_str());
        }
        let now = OffsetDateTime::now_utc();
        self.sign_leaf(
            dn,
            None,
            &request.dns_names,
            &request.ips,
            (now - Duration::minutes(5), now + Duration::days(365)),
        )
    }

    /// A leaf for both server and client use: `uri` first, then the DNS
    /// names and addresses as SANs.
    fn sign_leaf(
        &self,
        dn: DistinguishedName,
        uri: Option<SanType>,
        dns_names: &[String],
        ips: &[IpAddr],
        (not_before, not_after): (OffsetDateTime, OffsetDateTime),
    ) -> anyhow::Result<Issued> {
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let mut params = CertificateParams::default();
        params.distinguished_name = dn;
        params.subject_alt_names.extend(uri);
        for name in dns_names {
            params
                .subject_alt_names
                .push(SanType::DnsName(name.as_str().try_into()?));
        }
        for ip in ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.not_before = not_before;
        params.not_after = not_after;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        })
    }
}

/// A new Ed25519 key pair for signing JWTs: (PKCS#8 private key PEM,
/// SubjectPublicKeyInfo PEM).
pub fn jwt_signing_key() -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

/// What a certificate of a Kubernetes component or user is for (the local
/// cluster's): no SPIFFE URI; the API server reads the common name as the
/// user and the organization as the group.
#[derive(Debug, Clone)]
pub struct KubernetesLeaf {
    pub common_name: String,
    pub organization: Option<String>,
    pub dns_names: Vec<String>,
    pub ips: Vec<IpAddr>,
}

/// A new P-256 key pair (PKCS#8 private key PEM, SubjectPublicKeyInfo PEM),
/// e.g. the service-account token key of the local cluster.
pub fn p256_key_pair() -> anyhow::Result<(String, String)> {
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    Ok((key.serialize_pem(), key.public_key_pem()))
}

#[cfg(test)]
mod tests {
    use cloudshop_platform::tls::PeerIdentity;
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    use super::*;

    fn identity(issued: &Issued) -> Option<String> {
        let der = CertificateDer::from_pem_slice(issued.cert_pem.as_bytes()).expect("a PEM certificate");
        PeerIdentity::from_certificate(&der).map(|peer| peer.name().to_owned())
    }

    /// Every certificate the local shop and compose get (`LeafRequest::local`,
    /// written by `ShopFiles::ensure`) is its service's SPIFFE identity; the
    /// Kubernetes ones, which name a DNS SAN only, are nobody's.
    #[test]
    fn service_certificates_carry_their_spiffe_identity_and_nothing_else_does() {
        let ca = CertificateAuthority::generate("test CA").expect("CA");
        for service in cloudshop_topology::NAMES.iter().chain(&["postgres"]) {
            let issued = ca.issue(&LeafRequest::local(service)).expect("issued");
            assert_eq!(identity(&issued).as_deref(), Some(*service));
        }
        let dns_only = ca
            .issue_kubernetes(&KubernetesLeaf {
                common_name: "orders".into(),
                organization: None,
                dns_names: vec!["orders".into()],
                ips: vec![],
            })
            .expect("issued");
        assert_eq!(identity(&dns_only), None);
    }

    #[test]
    fn debug_output_holds_none_of_the_private_keys() -> anyhow::Result<()> {
        use crate::redaction::{assert_debug_hides, pem_der};

        let ca = CertificateAuthority::generate("test CA")?;
        let issued = ca.issue(&LeafRequest::local("orders"))?;
        assert_debug_hides(&ca, &pem_der(ca.key_pem().as_bytes())?);
        assert_debug_hides(&issued, &pem_der(issued.key_pem.as_bytes())?);
        Ok(())
    }
}
