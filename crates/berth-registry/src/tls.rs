//! The TLS client configuration: the system's CA certificates are read only when a server's
//! certificate is first checked, not each time a client is made. Reading them costs hundreds of
//! file opens (the bundle and the hashed directory), 20 to 30 ms with a cold cache, which a
//! registry spoken to over plain HTTP (a loopback one) never needs.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{ResolvesClientCert, WebPkiServerVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// A client certificate chain (`NAME.cert`) and its key.
pub(crate) struct Identity {
    pub path: PathBuf,
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

/// Why the client configuration could not be made: a client certificate that is unusable
/// (its key does not match, or is of a kind not supported), or the TLS library's own error.
pub(crate) enum ConfigError {
    Identity(PathBuf, rustls::Error),
    Tls(rustls::Error),
}

/// The configuration for a client that trusts the system's CAs and `extra`, or, when
/// `insecure`, any certificate (the handshake's signatures are still checked), and presents one
/// of `identities` when a server asks for a client certificate (see [`ClientCertificates`]).
pub(crate) fn client_config(
    extra: RootCertStore,
    identities: Vec<Identity>,
    insecure: bool,
) -> Result<ClientConfig, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(Verifier {
        roots: (!insecure).then_some(extra),
        provider: provider.clone(),
        verifier: OnceLock::new(),
    });
    let keys = identities
        .into_iter()
        .map(|id| {
            let key = CertifiedKey::from_der(id.chain, id.key, &provider)
                .map_err(|e| ConfigError::Identity(id.path.clone(), e))?;
            Ok((id.path, Arc::new(key)))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ConfigError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = if keys.is_empty() {
        builder.with_no_client_auth()
    } else {
        builder.with_client_cert_resolver(Arc::new(ClientCertificates(keys)))
    };
    // berth speaks HTTP/1.1 only, and says so, as reqwest's own configuration would.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// The client certificates of the certs.d directories, in name order, chosen among as Go's TLS
/// (and so Docker) chooses: the first whose key can sign with a scheme the server accepts and,
/// when the server names the CAs it accepts, whose chain has a certificate issued by one of them.
/// When none fits, no certificate is sent.
#[derive(Debug)]
struct ClientCertificates(Vec<(PathBuf, Arc<CertifiedKey>)>);

impl ResolvesClientCert for ClientCertificates {
    fn resolve(
        &self,
        acceptable_issuers: &[&[u8]],
        schemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        let (path, key) = self.0.iter().find(|(_, key)| {
            key.key.choose_scheme(schemes).is_some()
                && (acceptable_issuers.is_empty()
                    || key
                        .cert
                        .iter()
                        .any(|c| issuer(c).is_some_and(|name| acceptable_issuers.contains(&name))))
        })?;
        tracing::debug!(certificate = %path.display(), "presenting a client certificate");
        Some(key.clone())
    }

    fn has_certs(&self) -> bool {
        !self.0.is_empty()
    }
}

/// The DER of a certificate's issuer Name (the form a server lists its acceptable CAs in), or
/// `None` if the certificate is not laid out as RFC 5280 says.
fn issuer(cert: &[u8]) -> Option<&[u8]> {
    const SEQUENCE: u8 = 0x30;
    const INTEGER: u8 = 0x02;
    const VERSION: u8 = 0xa0;
    let certificate = Der::split(cert).filter(|d| d.tag == SEQUENCE)?;
    let tbs = Der::split(certificate.content).filter(|d| d.tag == SEQUENCE)?;
    // version [0] EXPLICIT (optional), serialNumber, signature AlgorithmIdentifier, issuer.
    let mut field = Der::split(tbs.content)?;
    if field.tag == VERSION {
        field = Der::split(field.rest)?;
    }
    let serial = Some(field).filter(|d| d.tag == INTEGER)?;
    let algorithm = Der::split(serial.rest).filter(|d| d.tag == SEQUENCE)?;
    let issuer = Der::split(algorithm.rest).filter(|d| d.tag == SEQUENCE)?;
    Some(issuer.whole)
}

/// One DER element at the start of a byte string.
#[derive(Clone, Copy)]
struct Der<'a> {
    tag: u8,
    /// Tag, length and content.
    whole: &'a [u8],
    content: &'a [u8],
    /// What follows the element.
    rest: &'a [u8],
}

impl<'a> Der<'a> {
    /// Only low tag numbers and definite lengths of up to 4 bytes, as certificates use.
    fn split(input: &'a [u8]) -> Option<Self> {
        let (&tag, after_tag) = input.split_first()?;
        if tag & 0x1f == 0x1f {
            return None;
        }
        let (&first, after_len) = after_tag.split_first()?;
        let (len, header) = match first {
            0..=0x7f => (usize::from(first), 2),
            0x81..=0x84 => {
                let n = usize::from(first & 0x7f);
                let len = after_len
                    .get(..n)?
                    .iter()
                    .fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
                (len, 2 + n)
            }
            _ => return None,
        };
        let end = header.checked_add(len)?;
        let whole = input.get(..end)?;
        Some(Self {
            tag,
            whole,
            content: &whole[header..],
            rest: &input[end..],
        })
    }
}

/// Checks server certificates against the system's CAs and the extra ones, reading the
/// system's on first use; or, for `--tls-verify=false` (`roots: None`), takes any certificate,
/// as Docker does for its insecure registries. Either way the handshake must be signed by the
/// certificate's key.
#[derive(Debug)]
struct Verifier {
    roots: Option<RootCertStore>,
    provider: Arc<CryptoProvider>,
    verifier: OnceLock<Result<Arc<WebPkiServerVerifier>, rustls::Error>>,
}

impl Verifier {
    fn webpki(&self, extra: &RootCertStore) -> Result<&WebPkiServerVerifier, rustls::Error> {
        let built = self.verifier.get_or_init(|| {
            let mut roots = extra.clone();
            let system = rustls_native_certs::load_native_certs();
            let (added, ignored) = roots.add_parsable_certificates(system.certs);
            tracing::debug!(
                added,
                ignored,
                errors = system.errors.len(),
                "read the system's CA certificates"
            );
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), self.provider.clone())
                .build()
                .map_err(|e| {
                    rustls::Error::General(format!(
                        "no CA certificate to check the server's against ({e}): the system has \
                         none and no certs.d directory gives one"
                    ))
                })
        });
        built.as_deref().map_err(Clone::clone)
    }
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match &self.roots {
            None => Ok(ServerCertVerified::assertion()),
            Some(extra) => self.webpki(extra)?.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            ),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(cn: &str) -> Vec<u8> {
        // SEQUENCE { SET { SEQUENCE { OID 2.5.4.3, UTF8String cn } } }
        let atv_len = 5 + 2 + cn.len();
        let mut v = vec![0x30, (atv_len + 4) as u8, 0x31, (atv_len + 2) as u8];
        v.extend([0x30, atv_len as u8, 0x06, 0x03, 0x55, 0x04, 0x03, 0x0c]);
        v.push(cn.len() as u8);
        v.extend(cn.as_bytes());
        v
    }

    #[test]
    fn issuer_of_a_certificate() {
        let issuer_name = name("berth-ca");
        // TBSCertificate with and without the version field.
        for with_version in [true, false] {
            let mut tbs = Vec::new();
            if with_version {
                tbs.extend([0xa0, 0x03, 0x02, 0x01, 0x02]);
            }
            tbs.extend([0x02, 0x02, 0x01, 0x02]); // serial
            tbs.extend([
                0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02,
            ]);
            tbs.extend(&issuer_name);
            tbs.extend(name("subject"));
            let mut tbs_el = vec![0x30, 0x81, tbs.len() as u8];
            tbs_el.extend(&tbs);
            let mut cert = vec![0x30, 0x81, (tbs_el.len() + 2) as u8];
            cert.extend(&tbs_el);
            cert.extend([0x03, 0x00]);
            assert_eq!(issuer(&cert), Some(&issuer_name[..]), "{with_version}");
            // Cut anywhere, or with a length running past the end: no issuer, no panic.
            for cut in 0..cert.len() {
                let _ = issuer(&cert[..cut]);
            }
            let mut long = cert.clone();
            long[2] = 0xff;
            assert_eq!(issuer(&long), None);
        }
        for bad in [
            &[][..],
            &[0x30],
            &[0x30, 0x85, 0, 0, 0, 0, 1],
            &[0x1f, 0x00],
            &[0x02, 0x00],
        ] {
            assert_eq!(issuer(bad), None);
        }
    }
}
