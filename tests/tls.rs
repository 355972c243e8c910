//! `https://` really goes through TLS (rustls on aws-lc-rs): a loopback server with a certificate
//! from a test CA is reached when that CA is an extra root, and refused when it is not; a server
//! that offers the hybrid post-quantum key exchange gets it.

mod support;

use std::sync::Arc;

use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use preventor::{ComplianceClient, Error, HttpOptions, RootCertificate};
use rustls::pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer};
use serde_json::json;
use support::*;
use tower::ServiceExt;

/// The key exchange group each TLS connection to the server negotiated.
type Groups = Arc<std::sync::Mutex<Vec<String>>>;

/// A TLS server for `localhost` answering like Preventor (rustls's aws-lc-rs provider, which
/// offers X25519MLKEM768); returns its port, the CA's PEM and the groups negotiated.
async fn tls_server() -> (u16, String, Groups) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::from_pem_slice(leaf_key.serialize_pem().as_bytes()).unwrap(),
        )
        .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let app = axum::Router::new().fallback(
        |request: axum::http::Request<axum::body::Body>| async move {
            let recorded = Recorded {
                peer: ([127, 0, 0, 1], 0).into(),
                method: request.method().to_string(),
                path: request.uri().path().to_string(),
                headers: vec![],
                body: Default::default(),
            };
            let reply = default_reply(&recorded);
            axum::response::Response::builder()
                .status(reply.status)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(reply.body))
                .unwrap()
        },
    );
    let groups = Groups::default();
    let negotiated = groups.clone();
    tokio::spawn(async move {
        loop {
            let Ok((tcp, _)) = listener.accept().await else {
                continue;
            };
            let (acceptor, app) = (acceptor.clone(), app.clone());
            let negotiated = negotiated.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(tcp).await else {
                    return;
                };
                if let Some(group) = tls.get_ref().1.negotiated_key_exchange_group() {
                    negotiated
                        .lock()
                        .unwrap()
                        .push(format!("{:?}", group.name()));
                }
                let service =
                    hyper::service::service_fn(move |r: hyper::Request<hyper::body::Incoming>| {
                        app.clone().oneshot(r.map(axum::body::Body::new))
                    });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (port, ca.pem(), groups)
}

fn client(port: u16, extra_roots: Vec<RootCertificate>) -> ComplianceClient {
    ComplianceClient::builder()
        .base_url(format!("https://localhost:{port}"))
        .tenant(tenant())
        .credentials(preventor::OAuthCredentials {
            client_id: "c".into(),
            client_secret: "s".into(),
            username: "u".into(),
            password: "p".into(),
            scope: "read".into(),
        })
        .http_options(HttpOptions {
            extra_roots,
            ..fast_retries()
        })
        .build()
        .unwrap()
}

#[tokio::test]
async fn https_works_with_a_trusted_root_and_is_refused_without_it() {
    let (port, ca_pem, groups) = tls_server().await;
    let update = serde_json::from_value(json!({"request_type": "U", "id": "c-1"})).unwrap();
    let trusted = client(port, RootCertificate::from_pem(ca_pem.as_bytes()).unwrap());
    let ack = trusted.customer_maintenance(update).await.unwrap();
    assert_eq!(ack.message.as_deref(), Some("OK"));
    // Hybrid post-quantum key exchange: "record now, decrypt later" does not apply.
    let negotiated = groups.lock().unwrap().clone();
    assert!(!negotiated.is_empty());
    assert!(
        negotiated.iter().all(|g| g == "X25519MLKEM768"),
        "{negotiated:?}"
    );

    let untrusted = client(port, vec![]);
    let update = serde_json::from_value(json!({"request_type": "U", "id": "c-1"})).unwrap();
    let err = untrusted.customer_maintenance(update).await.unwrap_err();
    match &err {
        Error::Transport {
            operation: "oauthToken",
            message,
            ..
        } => {
            assert!(message.to_lowercase().contains("certificate"), "{message}")
        }
        other => panic!("expected a TLS failure, got {other:?}"),
    }
}

#[test]
fn a_pem_without_certificates_is_refused() {
    let err = RootCertificate::from_pem(b"not a pem").unwrap_err();
    assert_eq!(
        err.to_string(),
        "invalid input: root certificate PEM: holds no certificate"
    );
}
