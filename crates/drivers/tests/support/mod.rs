//! What the driver tests share: the built-in target on loopback and third-party servers run
//! as child processes (both from `meshbench-testkit`), and a TLS server configuration with a
//! self-signed certificate. Each test file uses part of it.
#![allow(dead_code, unused_imports, clippy::unwrap_used)]

use std::sync::Arc;

pub use meshbench_testkit::peer::Peer;
pub use meshbench_testkit::target::Target;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

/// A TLS server configuration with a fresh self-signed certificate for 127.0.0.1, offering
/// `h2` and `http/1.1`.
pub fn self_signed_tls() -> tokio_rustls::TlsAcceptor {
    let certified = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string()]).unwrap();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        certified.signing_key.serialize_der(),
    ));
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![certified.cert.der().clone()], key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}
