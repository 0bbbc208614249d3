//! A TLS ingress on this machine, for tests of servers reached by `https://`: a private CA made
//! at test time, a certificate it signs for 127.0.0.2 and `localhost`, and a terminator that
//! accepts TLS on 127.0.0.2 and copies the bytes to a plain-HTTP server, as an ingress in front
//! of a pod does.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::{self, ServerConfig};
use tokio_rustls::TlsAcceptor;

/// A TLS terminator in front of a plain-HTTP server; it stops when dropped.
pub struct TlsIngress {
    /// `https://127.0.0.2:PORT`.
    pub url: String,
    /// The PEM file of the CA that signed its certificate, as `server.caFile` names it.
    pub ca_file: PathBuf,
    // Dropping the runtime ends the accept loop and every copy.
    _runtime: tokio::runtime::Runtime,
}

impl TlsIngress {
    /// Makes a CA and a server certificate (written under `dir`) and starts terminating TLS on a
    /// free port of 127.0.0.2 for the server at `upstream` (`http://HOST:PORT`).
    pub fn start(dir: &Path, upstream: &str) -> TlsIngress {
        std::fs::create_dir_all(dir).expect("mkdir");
        let (ca_pem, cert, key) = certificates();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca_pem).expect("write the CA");
        let upstream: SocketAddr = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .parse()
            .expect("an upstream of the form http://IP:PORT");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .expect("the server certificate");
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(TcpListener::bind("127.0.0.2:0"))
            .expect("listen on 127.0.0.2");
        let port = listener.local_addr().expect("address").port();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    // A client that does not trust the certificate ends the handshake: nothing
                    // to copy then.
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        TlsIngress {
            url: format!("https://127.0.0.2:{port}"),
            ca_file,
            _runtime: runtime,
        }
    }
}

/// A new CA (its certificate as PEM), and a certificate it signs for 127.0.0.2 and `localhost`
/// with that certificate's key.
fn certificates() -> (
    String,
    rustls::pki_types::CertificateDer<'static>,
    PrivateKeyDer<'static>,
) {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca.distinguished_name
        .push(DnType::CommonName, "ao test CA (made by the test)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_pem = ca.self_signed(&ca_key).expect("CA certificate").pem();
    let issuer = Issuer::new(ca, ca_key);

    let key = KeyPair::generate().expect("server key");
    let mut server = CertificateParams::new(vec!["127.0.0.2".into(), "localhost".into()])
        .expect("server params");
    server
        .distinguished_name
        .push(DnType::CommonName, "127.0.0.2");
    let cert = server.signed_by(&key, &issuer).expect("server certificate");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    (ca_pem, cert.der().clone(), key)
}
