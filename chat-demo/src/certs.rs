//! Certificates for the chat over TLS: a server's from PEM files (`--tls-cert`, `--tls-key`),
//! one made at start-up for trying it locally (`--self-signed`), and a client's trust in one
//! authority (`chat-client --tls --ca FILE`). Everything runs on rustls through
//! `greenhub::tls`, with ring as the crypto provider.

use greenhub::tls::rustls::pki_types::pem::{Error as PemError, PemObject};
use greenhub::tls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use greenhub::tls::rustls::{ClientConfig, RootCertStore, ServerConfig};
use greenhub::tls::{TlsAcceptor, TlsConnector};
use std::io;
use std::path::Path;
use std::sync::Arc;

/// A certificate made at start-up, with what a client needs to trust it.
pub struct SelfSigned {
    /// The server side, ready for `Options::tls`.
    pub acceptor: TlsAcceptor,
    /// The certificate in PEM, for `chat-client --ca` or a browser's trust store.
    pub cert_pem: String,
    /// The base64 SHA-256 of the certificate's public key, the pin that Chromium's
    /// `--ignore-certificate-errors-spki-list` takes.
    pub spki_sha256: String,
}

/// Makes a self-signed certificate for `names` (host names or IP addresses) and a server
/// configuration that presents it.
///
/// # Errors
///
/// When the key or the certificate cannot be made.
///
/// # Examples
///
/// ```
/// let made = chat_demo::certs::self_signed(&["localhost", "127.0.0.1"])?;
/// assert!(made.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
/// assert_eq!(made.spki_sha256.len(), 44); // 32 bytes in base64
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn self_signed(names: &[&str]) -> io::Result<SelfSigned> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let made = rcgen::generate_simple_self_signed(names).map_err(io::Error::other)?;
    let key = PrivateKeyDer::Pkcs8(made.key_pair.serialize_der().into());
    let acceptor = acceptor(vec![made.cert.der().clone()], key)?;
    Ok(SelfSigned {
        acceptor,
        cert_pem: made.cert.pem(),
        spki_sha256: spki_sha256(&made.key_pair.public_key_der()),
    })
}

/// A server configuration from a PEM certificate chain and a PEM private key.
///
/// # Errors
///
/// When a file cannot be read, holds no certificate or key, or the key does not match.
///
/// # Examples
///
/// ```no_run
/// use std::path::Path;
/// let acceptor = chat_demo::certs::acceptor_from_files(Path::new("cert.pem"), Path::new("key.pem"))?;
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn acceptor_from_files(cert: &Path, key: &Path) -> io::Result<TlsAcceptor> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| pem_error(cert, err))?;
    if chain.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no certificate in it", cert.display()),
        ));
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|err| match err {
        PemError::NoItemsFound => pem_error(key, "no private key in it"),
        err => pem_error(key, err),
    })?;
    acceptor(chain, key)
}

fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> io::Result<TlsAcceptor> {
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|err| io::Error::new(io::ErrorKind::InvalidData, err))?;
    Ok(TlsAcceptor::new(Arc::new(config)))
}

/// A client configuration that trusts the certificates in the PEM file `ca` (an authority,
/// or a server's self-signed certificate) and nothing else.
///
/// # Errors
///
/// When the file cannot be read or holds no usable certificate.
///
/// # Examples
///
/// ```
/// let made = chat_demo::certs::self_signed(&["localhost"])?;
/// let path = std::env::temp_dir().join(format!("chat-doc-ca-{}.pem", std::process::id()));
/// std::fs::write(&path, &made.cert_pem)?;
/// let connector = chat_demo::certs::connector_trusting(&path)?;
/// # std::fs::remove_file(&path)?;
/// # drop(connector);
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn connector_trusting(ca: &Path) -> io::Result<TlsConnector> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(ca)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|err| pem_error(ca, err))?;
    let (added, _ignored) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: no usable certificate in it", ca.display()),
        ));
    }
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::new(Arc::new(config)))
}

fn pem_error(path: &Path, err: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {err}", path.display()),
    )
}

/// The base64 SHA-256 of a DER SubjectPublicKeyInfo.
///
/// # Examples
///
/// ```
/// // SHA-256 of nothing, in base64.
/// assert_eq!(
///     chat_demo::certs::spki_sha256(b""),
///     "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="
/// );
/// ```
pub fn spki_sha256(spki_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, spki_der);
    base64(digest.as_ref())
}

/// Standard base64 with padding (RFC 4648, section 4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
