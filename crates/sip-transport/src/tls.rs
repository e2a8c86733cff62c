//! TLS configuration helpers (rustls with the ring provider).

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::TransportError;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A server configuration from a certificate chain and its key (DER).
pub fn server_config(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ServerConfig>, TransportError> {
    let cfg = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    Ok(Arc::new(cfg))
}

/// A client configuration trusting `roots` (no client certificate).
pub fn client_config(
    roots: rustls::RootCertStore,
) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(cfg))
}

/// A client configuration trusting the Mozilla root store (webpki-roots).
pub fn default_client_config() -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    client_config(roots)
}

/// A client configuration trusting `roots` that presents a client
/// certificate (mutual TLS).
pub fn client_config_with_cert(
    roots: rustls::RootCertStore,
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let cfg = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TransportError::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)
        .map_err(|e| TransportError::Tls(e.to_string()))?;
    Ok(Arc::new(cfg))
}

/// A client configuration trusting the platform's root store
/// (rustls-native-certs). Certificates the platform store holds but
/// rustls cannot parse are skipped; an empty store is an error.
pub fn native_client_config() -> Result<Arc<rustls::ClientConfig>, TransportError> {
    let found = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        return Err(TransportError::Tls(
            "no usable certificate in the platform root store".into(),
        ));
    }
    client_config(roots)
}
