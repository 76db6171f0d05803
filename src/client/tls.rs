//! FTPS in the client (RFC 4217): the TLS configuration (the system's
//! trusted roots, or `--ca-file`, or no check with `--insecure`), the TLS
//! connections of the control and data connections, and errors a user can
//! act on when a certificate is refused.
//!
//! Data connections resume the control connection's TLS session (RFC 4217
//! section 10): one configuration, with its session cache, serves every
//! connection to the server, all under the server's name, so rustls offers
//! the session it has. Servers such as vsftpd refuse a data connection
//! that does not.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::limits::CLIENT_TLS_TICKETS;
use crate::net::{tls_provider, TLS_VERSIONS};

/// How the client speaks TLS.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    /// Explicit: AUTH TLS after the greeting (`--tls`, `FTP_TLS=1`).
    Explicit,
    /// Implicit: TLS from the first byte (`--implicit`, `ftps://`).
    Implicit,
}

/// The client's TLS settings, as the user chose them.
#[derive(Clone, Debug, Default)]
pub struct TlsOptions {
    /// Certificates to trust instead of the system's roots.
    pub ca_file: Option<std::path::PathBuf>,
    /// Accept any certificate (the connection is encrypted, but the server
    /// is not known to be the one named).
    pub insecure: bool,
}

/// A ready TLS configuration and the name the server must prove.
#[derive(Clone)]
pub struct Tls {
    config: Arc<rustls::ClientConfig>,
    name: ServerName<'static>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Tls({:?})", self.name)
    }
}

/// The trusted roots: `ca_file`'s certificates, or the system's.
fn roots(ca_file: Option<&Path>) -> Result<RootCertStore, String> {
    let mut store = RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
                .and_then(|it| it.collect::<Result<_, _>>())
                .map_err(|e| format!("--ca-file {}: {e}", path.display()))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!("--ca-file {}: holds no usable PEM certificate", path.display()));
            }
        }
        None => {
            let found = rustls_native_certs::load_native_certs();
            store.add_parsable_certificates(found.certs);
            if store.is_empty() {
                return Err("no trusted certificates found on this system (install ca-certificates, \
                            or give --ca-file FILE, or --insecure)"
                    .into());
            }
        }
    }
    Ok(store)
}

impl Tls {
    /// The configuration for talking to `host` (the name, or the address,
    /// the certificate must be for).
    pub fn new(host: &str, opts: &TlsOptions) -> Result<Tls, String> {
        let name =
            ServerName::try_from(host.to_string()).map_err(|_| format!("{host}: not a valid TLS server name"))?;
        let builder = rustls::ClientConfig::builder_with_provider(tls_provider())
            .with_protocol_versions(TLS_VERSIONS)
            .map_err(|e| format!("TLS: {e}"))?;
        let config = if opts.insecure {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(tls_provider())))
                .with_no_client_auth()
        } else {
            builder.with_root_certificates(roots(opts.ca_file.as_deref())?).with_no_client_auth()
        };
        let mut config = config;
        // Data connections take their keys over after the handshake.
        config.enable_secret_extraction = true;
        // RFC 9149: a ticket for every data connection, even on servers
        // (ours) that send none unasked on an upload's connection, since
        // rustls uses each TLS 1.3 ticket once.
        config.send_ticket_request =
            Some(rustls::client::TicketRequest { new_session_count: CLIENT_TLS_TICKETS, resumption_count: 1 });
        Ok(Tls { config: Arc::new(config), name })
    }

    /// A new client connection for the control connection.
    pub fn connect(&self) -> Result<rustls::Connection, String> {
        rustls::ClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map(rustls::Connection::Client)
            .map_err(|e| e.to_string())
    }

    /// A new client connection for a data connection: rustls runs the
    /// handshake, `net::records` the records (as the server's do).
    pub fn connect_data(&self) -> Result<rustls::client::UnbufferedClientConnection, String> {
        rustls::client::UnbufferedClientConnection::new(Arc::clone(&self.config), self.name.clone())
            .map_err(|e| e.to_string())
    }
}

/// What a failed handshake means for the user: a refused certificate says
/// what to do about it.
pub fn handshake_error(e: &std::io::Error, host: &str) -> String {
    let text = e.to_string();
    let inner = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>());
    match inner {
        Some(rustls::Error::InvalidCertificate(why)) => format!(
            "The server's certificate is refused ({why:?}): it is not one that {host} can prove with a trusted \
             authority. Give --ca-file FILE with the certificate (or its issuer) to trust, or --insecure to \
             encrypt without checking who the server is."
        ),
        _ => format!("TLS handshake with {host} failed: {text}"),
    }
}

/// `--insecure`: every certificate is accepted; the handshake's signatures
/// are still checked (so the connection is encrypted to whoever holds the
/// key of the certificate shown, whoever that is).
#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
