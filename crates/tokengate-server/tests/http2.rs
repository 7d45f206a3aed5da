//! HTTP/2 from clients: with prior knowledge on a plain port (h2c) and by ALPN over TLS, a
//! request is authenticated as over HTTP/1.1 and reaches the upstream (over HTTP/1.1) with the
//! identity headers and the client's `:authority` as `Host`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use common::certificate::TestCertificate;
use common::{TestApp, test_config};
use http_body_util::BodyExt;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use std::sync::Arc;

/// One HTTP/2 GET over `io`, with `authorization`: the status and the body as JSON (if any).
async fn get_h2<I>(io: I, uri: &str, authorization: Option<&str>) -> (u16, Option<Value>)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    tokio::spawn(connection);
    let mut request = hyper::Request::get(uri);
    if let Some(value) = authorization {
        request = request.header("authorization", value);
    }
    let response = sender
        .send_request(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.version(), hyper::Version::HTTP_2);
    let status = response.status().as_u16();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).ok())
}

#[tokio::test]
async fn http2_with_prior_knowledge_is_authenticated_and_proxied() {
    let app = TestApp::spawn().await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let uri = format!("http://gateway.test:{}/api/items?x=1", app.address.port());
    let connect = || tokio::net::TcpStream::connect(app.address);
    let (status, _) = get_h2(connect().await.unwrap(), &uri, None).await;
    assert_eq!(status, 401);
    let bearer = format!("Bearer {token}");
    let (status, echo) = get_h2(connect().await.unwrap(), &uri, Some(&bearer)).await;
    assert_eq!(status, 200);
    let echo = echo.unwrap();
    assert_eq!(echo["uri"], "/api/items?x=1");
    assert_eq!(echo["headers"]["x-authenticated-user"][0], "alice");
    assert_eq!(
        echo["headers"]["host"][0],
        format!("gateway.test:{}", app.address.port())
    );
    assert!(echo["headers"].get("authorization").is_none());
}

#[tokio::test]
async fn http2_by_alpn_over_tls_is_authenticated_and_proxied() {
    let certificate = TestCertificate::new();
    let app = TestApp::spawn_with(certificate.serve_with(test_config()), true).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(certificate.certified.cert.der().clone()).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
    let tcp = tokio::net::TcpStream::connect(app.address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let tls = connector.connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let uri = format!("https://localhost:{}/api/items", app.address.port());
    let (status, echo) = get_h2(tls, &uri, Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, 200);
    let echo = echo.unwrap();
    assert_eq!(echo["headers"]["x-authenticated-user"][0], "alice");
    assert_eq!(echo["headers"]["x-forwarded-proto"][0], "https");
}

/// An HTTP/2-only upstream shaped like a gRPC service: it answers data, then trailers with
/// `grpc-status` and the identity it was given; it refuses requests without `te: trailers`.
async fn grpc_like_upstream() -> std::net::SocketAddr {
    grpc_like_upstream_over(None).await
}

/// The same, over TLS when `acceptor` is given (ALPN `h2`).
async fn grpc_like_upstream_over(
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) -> std::net::SocketAddr {
    use http_body_util::StreamBody;
    use hyper::body::Frame;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = hyper::service::service_fn(
                |request: hyper::Request<hyper::body::Incoming>| async move {
                    assert_eq!(request.version(), hyper::Version::HTTP_2);
                    let te = request.headers().get("te").cloned();
                    let user = request
                        .headers()
                        .get("x-authenticated-user")
                        .cloned()
                        .unwrap_or(hyper::header::HeaderValue::from_static("-"));
                    let mut trailers = hyper::HeaderMap::new();
                    trailers.insert(
                        "grpc-status",
                        hyper::header::HeaderValue::from_static(if te.is_some() {
                            "0"
                        } else {
                            "3"
                        }),
                    );
                    trailers.insert("x-user", user);
                    let frames = vec![
                        Ok::<_, std::convert::Infallible>(Frame::data(
                            hyper::body::Bytes::from_static(b"\0\0\0\0\x05hello"),
                        )),
                        Ok(Frame::trailers(trailers)),
                    ];
                    let body = StreamBody::new(futures_util::stream::iter(frames));
                    Ok::<_, std::convert::Infallible>(
                        hyper::Response::builder()
                            .header("content-type", "application/grpc")
                            .body(body)
                            .unwrap(),
                    )
                },
            );
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
                match acceptor {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(stream).await else {
                            return;
                        };
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                    None => {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
            });
        }
    });
    address
}

#[tokio::test]
async fn an_h2c_route_carries_grpc_style_calls_with_the_token_and_keeps_trailers() {
    let upstream = grpc_like_upstream().await;
    grpc_style_calls_through(format!("h2c://{upstream}"), String::new()).await;
}

#[tokio::test]
async fn an_https_upstream_that_offers_h2_by_alpn_carries_grpc_style_calls_with_trailers() {
    let certificate = TestCertificate::new();
    let acceptor =
        tokengate_server::tls::acceptor(&certificate.cert_path, &certificate.key_path).unwrap();
    let upstream = grpc_like_upstream_over(Some(acceptor)).await;
    let url = format!("https://localhost:{}", upstream.port());
    grpc_style_calls_through(url, certificate.cert_path.clone()).await;
}

/// Calls through a gateway whose route `grpc` goes to `upstream` (checked with `ca_file`).
async fn grpc_style_calls_through(upstream: String, ca_file: String) {
    let mut config = test_config();
    config.routes = vec![tokengate_server::config::routes::RouteConfig {
        name: "grpc".into(),
        upstream,
        ca_file,
        ..Default::default()
    }];
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let call = |authorization: Option<String>| async move {
        let tcp = tokio::net::TcpStream::connect(app.address).await.unwrap();
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tcp))
                .await
                .unwrap();
        tokio::spawn(connection);
        let mut request = hyper::Request::post(format!(
            "http://gateway.test:{}/echo.Echo/Say",
            app.address.port()
        ))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
        if let Some(value) = authorization {
            request = request.header("authorization", value);
        }
        let response = sender
            .send_request(request.body(Body::from(&b"\0\0\0\0\x02hi"[..])).unwrap())
            .await
            .unwrap();
        let status = response.status().as_u16();
        let collected = response.into_body().collect().await.unwrap();
        (status, collected.trailers().cloned(), collected.to_bytes())
    };
    let (status, _, _) = call(None).await;
    assert_eq!(status, 401);
    let (status, trailers, body) = call(Some(format!("Bearer {token}"))).await;
    assert_eq!(status, 200);
    assert_eq!(&body[..], b"\0\0\0\0\x05hello");
    let trailers = trailers.expect("the upstream's trailers reach the client");
    assert_eq!(
        trailers["grpc-status"], "0",
        "te: trailers reached the upstream"
    );
    assert_eq!(trailers["x-user"], "alice");
}
