//! TLS material for the simulated clusters: a certificate authority made at
//! start and one server certificate for `127.0.0.1` and `localhost` that it signs.
//!
//! Every cluster serves the same certificate, so one `certificate-authority-data`
//! entry in the kubeconfig verifies them all. A cluster with the `wrong_ca` fault
//! serves a second certificate for the same names, signed by another authority
//! that no kubeconfig names.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use super::SimError;

/// The fleet's certificate authority and the server configuration built on it.
pub(crate) struct TlsMaterial {
    /// PEM of the certificate authority, for kubeconfig `certificate-authority-data`.
    pub(crate) ca_pem: String,
    /// rustls configuration that serves the signed certificate over HTTP/1.1.
    pub(crate) server_config: Arc<ServerConfig>,
    /// rustls configuration whose certificate another authority signed, for the
    /// `wrong_ca` fault.
    pub(crate) wrong_ca_config: Arc<ServerConfig>,
}

impl TlsMaterial {
    /// Generates the fleet's certificate authority and a server certificate
    /// signed by it, and the same for the `wrong_ca` fault.
    pub(crate) fn generate() -> Result<Self, SimError> {
        let (ca_pem, server_config) = generate_pair("lazyhost simulator CA")?;
        let (_, wrong_ca_config) = generate_pair("lazyhost simulator wrong CA")?;
        Ok(Self {
            ca_pem,
            server_config,
            wrong_ca_config,
        })
    }
}

/// Generates a certificate authority named `authority` and a server configuration
/// whose certificate it signs; returns the authority's PEM with the configuration.
fn generate_pair(authority: &str) -> Result<(String, Arc<ServerConfig>), SimError> {
    let ca_key = KeyPair::generate()?;
    let ca_params = authority_params(authority);
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let server_key = KeyPair::generate()?;
    let server_cert = server_params()?.signed_by(&server_key, &issuer)?;

    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
    let chain: Vec<CertificateDer<'static>> = vec![server_cert.der().clone()];
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut server_config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    server_config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((ca_cert.pem(), Arc::new(server_config)))
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
