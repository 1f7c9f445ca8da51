//! TLS material for the simulated clusters: a certificate authority made at
//! start, one server certificate for `127.0.0.1` and `localhost` that it signs,
//! and client certificates that it signs on request.
//!
//! Every cluster serves the same certificate, so one `certificate-authority-data`
//! entry in the kubeconfig verifies them all. A cluster with the `wrong_ca` fault
//! serves a second certificate for the same names, signed by another authority
//! that no kubeconfig names.
//!
//! Servers request a client certificate but do not require one, as
//! kube-apiserver does with `--client-ca-file`. A client that presents a
//! certificate the fleet's authority signed is authenticated by it. A client
//! without one, such as a bearer token client, completes the handshake too. A
//! certificate that another authority signed fails the handshake.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::ClientCertVerifier;
use rustls::{RootCertStore, ServerConfig};

use super::SimError;

/// A client certificate and its private key, both PEM, as the kubeconfig fields
/// `client-certificate-data` and `client-key-data` carry them once base64-encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCertificate {
    /// PEM of the certificate, whose subject common name is the user name.
    pub certificate_pem: String,
    /// PEM of the PKCS #8 private key. Never logged.
    pub private_key_pem: String,
}

/// The fleet's certificate authority and the server configurations built on it.
pub(crate) struct TlsMaterial {
    /// PEM of the certificate authority, for kubeconfig `certificate-authority-data`.
    pub(crate) ca_pem: String,
    /// The certificate authority's name and key, which sign client certificates.
    issuer: Issuer<'static, KeyPair>,
    /// rustls configuration that serves the signed certificate over HTTP/1.1.
    pub(crate) server_config: Arc<ServerConfig>,
    /// rustls configuration whose certificate another authority signed, for the
    /// `wrong_ca` fault. It verifies client certificates as `server_config` does.
    pub(crate) wrong_ca_config: Arc<ServerConfig>,
}

impl TlsMaterial {
    /// Generates the fleet's certificate authority and a server certificate
    /// signed by it, and the same for the `wrong_ca` fault.
    pub(crate) fn generate() -> Result<Self, SimError> {
        let (ca_pem, ca_der, issuer) = generate_authority("lazyhost simulator CA")?;
        let client_verifier = client_verifier(ca_der)?;
        let server_config = build_server_config(&issuer, client_verifier.clone())?;
        let (_, _, wrong_issuer) = generate_authority("lazyhost simulator wrong CA")?;
        let wrong_ca_config = build_server_config(&wrong_issuer, client_verifier)?;
        Ok(Self {
            ca_pem,
            issuer,
            server_config,
            wrong_ca_config,
        })
    }

    /// Issues a client certificate for `user`, signed by the fleet's certificate
    /// authority, with a new ECDSA P-256 key.
    ///
    /// # Errors
    ///
    /// Fails for an empty user name, which kube-apiserver would not authenticate,
    /// or when rcgen cannot generate the key or the certificate.
    pub(crate) fn issue_client_certificate(
        &self,
        user: &str,
    ) -> Result<ClientCertificate, SimError> {
        if user.is_empty() {
            return Err(SimError::EmptyUserName);
        }
        let key = KeyPair::generate()?;
        let certificate = client_params(user).signed_by(&key, &self.issuer)?;
        Ok(ClientCertificate {
            certificate_pem: certificate.pem(),
            private_key_pem: key.serialize_pem(),
        })
    }
}

/// Generates a self-signed certificate authority named `common_name`; returns
/// its PEM, its DER and the issuer that signs with it.
fn generate_authority(
    common_name: &str,
) -> Result<(String, CertificateDer<'static>, Issuer<'static, KeyPair>), SimError> {
    let key = KeyPair::generate()?;
    let params = authority_params(common_name);
    let certificate = params.self_signed(&key)?;
    let issuer = Issuer::new(params, key);
    Ok((certificate.pem(), certificate.der().clone(), issuer))
}

/// Builds a verifier that accepts client certificates that the authority
/// `ca_der` signed, and clients that present none.
fn client_verifier(
    ca_der: CertificateDer<'static>,
) -> Result<Arc<dyn ClientCertVerifier>, SimError> {
    let mut roots = RootCertStore::empty();
    roots.add(ca_der)?;
    let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
        .allow_unauthenticated()
        .build()?;
    Ok(verifier)
}

/// Builds a server configuration whose certificate `issuer` signs, verifying
/// client certificates with `client_verifier`.
fn build_server_config(
    issuer: &Issuer<'static, KeyPair>,
    client_verifier: Arc<dyn ClientCertVerifier>,
) -> Result<Arc<ServerConfig>, SimError> {
    let server_key = KeyPair::generate()?;
    let server_cert = server_params()?.signed_by(&server_key, issuer)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![server_cert.der().clone()];
    let mut server_config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(client_verifier)
        .with_single_cert(chain, key)?;
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(server_config))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn authority_params(common_name: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(common_name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params
}

fn server_params() -> Result<CertificateParams, SimError> {
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])?;
    params.distinguished_name = distinguished_name("kube-apiserver");
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    Ok(params)
}

/// Parameters of a client certificate whose subject common name is `user`, the
/// user name kube-apiserver takes from a client certificate.
fn client_params(user: &str) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(user);
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params
}

fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, common_name);
    name
}

/// Generates a bearer token of 32 hexadecimal digits from the system random number generator.
pub(crate) fn random_token() -> Result<String, SimError> {
    let mut bytes = [0u8; 16];
    rustls::crypto::ring::default_provider()
        .secure_random
        .fill(&mut bytes)
        .map_err(|_| SimError::Random)?;
    Ok(bytes.iter().map(|byte| format!("{byte:02x}")).collect())
}
