//! Server-sent events stay incremental through the gateway: the client reads the first event
//! while the upstream is still waiting to send the second (it sends it only when the test says
//! so), so a gateway that buffered the body would never deliver it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use axum::body::Body;
use axum::routing::get;
use common::{TestApp, test_config};
use std::time::Duration;
use tokio::sync::{Mutex, mpsc};

#[tokio::test]
async fn server_sent_events_reach_the_client_one_by_one() {
    let (release, released) = mpsc::channel::<()>(1);
    let released = std::sync::Arc::new(Mutex::new(Some(released)));
    let events = get(move || {
        let released = released.clone();
        async move {
            let mut released = released.lock().await.take().expect("one stream");
            let stream = async_stream(move |sender| async move {
                let _ = sender.send(Ok("data: first\n\n".to_owned())).await;
                released.recv().await;
                let _ = sender.send(Ok("data: second\n\n".to_owned())).await;
            });
            axum::response::Response::builder()
                .header("content-type", "text/event-stream")
                .body(Body::from_stream(stream))
                .unwrap()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, axum::Router::new().route("/events", events))
            .await
            .unwrap();
    });
    let mut config = test_config();
    config.gateway.upstream = Some(format!("http://{upstream}"));
    let app = TestApp::spawn_with(config, false).await;
    app.add_user("alice", "alice-pw", false).await;
    let (_, token) = app.add_token("alice").await;
    let mut response = app.get_bearer("/events", &token).await;
    assert_eq!(response.status(), 200);
    let first = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .expect("the first event arrives while the upstream still holds the second")
        .unwrap()
        .unwrap();
    assert_eq!(&first[..], b"data: first\n\n");
    release.send(()).await.unwrap();
    let second = tokio::time::timeout(Duration::from_secs(10), response.chunk())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(&second[..], b"data: second\n\n");
}

/// A body stream fed by `produce` through a channel.
fn async_stream<F, Fut>(
    produce: F,
) -> impl futures_util::Stream<Item = Result<String, std::io::Error>>
where
    F: FnOnce(mpsc::Sender<Result<String, std::io::Error>>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (sender, receiver) = mpsc::channel(4);
    tokio::spawn(produce(sender));
    futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    })
}
