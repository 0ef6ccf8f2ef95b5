//! The lab's mesh identity: a CA and a workload certificate per host with a SPIFFE ID
//! (`spiffe://cluster.local/ns/<namespace>/sa/<account>`), as Istio's CA issues them, for
//! mutual TLS between the proxies.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::{io, Error, Result};

/// The SPIFFE ID of a workload: its trust domain, namespace and service account.
pub fn spiffe_id(namespace: &str, account: &str) -> String {
    format!("spiffe://cluster.local/ns/{namespace}/sa/{account}")
}

/// A workload's certificate and key, as files.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    /// Its SPIFFE ID (the certificate's only subject alternative name).
    pub spiffe: String,
    /// The certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (PEM).
    pub key: PathBuf,
}

/// Everything mutual TLS in the lab needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Pki {
    /// The CA certificate every proxy trusts (PEM).
    pub ca: PathBuf,
    /// The client host's workload identity.
    pub client: Identity,
    /// The server host's workload identity.
    pub server: Identity,
    /// The waypoint's: the server namespace's `waypoint` service account, as ambient names
    /// a namespace's waypoint.
    pub waypoint: Identity,
}

fn pki_error(e: rcgen::Error) -> Error {
    Error::Pki(e.to_string())
}

fn write(path: &Path, text: &str) -> Result<()> {
    fs::write(path, text).map_err(io(path))
}

/// Issues a fresh CA, one identity per host and the waypoint's into `dir`.
pub fn issue(dir: &Path, client_ns: &str, server_ns: &str) -> Result<Pki> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).map_err(pki_error)?;
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "meshbench lab CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_key = KeyPair::generate().map_err(pki_error)?;
    let ca_cert = ca_params.self_signed(&ca_key).map_err(pki_error)?;
    let ca = dir.join("ca.pem");
    write(&ca, &ca_cert.pem())?;
    let issuer = Issuer::new(ca_params, ca_key);

    let identity = |name: &str, namespace: &str, account: &str| -> Result<Identity> {
        let spiffe = spiffe_id(namespace, account);
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki_error)?;
        params.subject_alt_names =
            vec![SanType::URI(spiffe.as_str().try_into().map_err(pki_error)?)];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        let key = KeyPair::generate().map_err(pki_error)?;
        let cert = params.signed_by(&key, &issuer).map_err(pki_error)?;
        let (cert_path, key_path) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}-key.pem")),
        );
        write(&cert_path, &cert.pem())?;
        write(&key_path, &key.serialize_pem())?;
        Ok(Identity {
            spiffe,
            cert: cert_path,
            key: key_path,
        })
    };
    Ok(Pki {
        waypoint: identity("waypoint", server_ns, "waypoint")?,
        client: identity("client", client_ns, "default")?,
        server: identity("server", server_ns, "default")?,
        ca,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_carry_their_spiffe_ids() {
        let dir = std::env::temp_dir().join(format!("mb-lab-pki-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let pki = issue(&dir, "mb-lab-client", "mb-lab-server").unwrap();
        assert_eq!(
            pki.server.spiffe,
            "spiffe://cluster.local/ns/mb-lab-server/sa/default"
        );
        let pem = fs::read_to_string(&pki.client.cert).unwrap();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(fs::read_to_string(&pki.ca).unwrap().contains("CERTIFICATE"));
        fs::remove_dir_all(&dir).unwrap();
    }
}
