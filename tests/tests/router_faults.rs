//! The router when SQS becomes unreachable in the middle of a burst of jobs: every 202 matches a
//! message in the queue; the rest are 503s. The router reaches LocalStack through a TCP proxy the
//! test cuts, so LocalStack itself keeps the queue to check afterwards.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use router::{Router, RouterConfig};
use switchyard_algorithms::Time;
use switchyard_tests::{apigw_event, localstack, unique_name};
use tokio::net::{TcpListener, TcpStream};

/// Forwards 127.0.0.1:<port> to `upstream` until `cut` is set; then refuses and drops everything.
async fn cuttable_proxy(upstream: String, cut: Arc<AtomicBool>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            if cut.load(Ordering::SeqCst) {
                continue; // dropped: the connection is closed at once
            }
            let upstream = upstream.clone();
            let cut = Arc::clone(&cut);
            tokio::spawn(async move {
                let Ok(mut server) = TcpStream::connect(&upstream).await else { return };
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    _ = async { while !cut.load(Ordering::SeqCst) { tokio::time::sleep(Duration::from_millis(5)).await } } => {}
                }
            });
        }
    });
    address
}

fn now() -> Time {
    Time::from_millis(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64)
}

#[tokio::test]
async fn sqs_cut_off_during_a_burst_of_jobs_every_202_is_stored_and_the_rest_are_503() {
    let direct = localstack().sdk_config().await;
    let sqs = aws_sdk_sqs::Client::new(&direct);
    let url = sqs.create_queue().queue_name(unique_name("burst")).send().await.unwrap().queue_url.unwrap();

    let cut = Arc::new(AtomicBool::new(false));
    let upstream = localstack().endpoint().trim_start_matches("http://").to_owned();
    let proxy = cuttable_proxy(upstream, Arc::clone(&cut)).await;
    let via_proxy = switchyard_tests::sdk_config_for(&format!("http://{proxy}")).await;
    let settings = HashMap::from([
        ("SWITCHYARD_TARGETS", "127.0.0.1:9".to_owned()),
        ("SWITCHYARD_JOBS_ROUTE", "POST /jobs".to_owned()),
        ("SWITCHYARD_WORK_QUEUE_URL", url.clone()),
    ]);
    let router = Arc::new(
        Router::from_sdk(RouterConfig::from_lookup(|k| settings.get(k).cloned()).unwrap(), Some(&via_proxy), now())
            .await
            .unwrap(),
    );

    // The cut comes after the 20th job is sent and once some job has been stored: by the clock
    // alone (200 ms in) a slow LocalStack had answered none yet, and the burst was all 503s.
    let stored_once = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..40u64 {
        if i == 20 {
            tokio::time::timeout(Duration::from_secs(60), async {
                while !stored_once.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            })
            .await
            .expect("no job of the first 20 was stored within a minute, before any cut");
            cut.store(true, Ordering::SeqCst);
        }
        let (router, stored_once) = (Arc::clone(&router), Arc::clone(&stored_once));
        let event = apigw_event("POST", "/jobs", "203.0.113.5", &[], Some(&format!("job {i}")));
        tasks.push(tokio::spawn(async move {
            let request = router::event::HttpEvent::from_json(&event).unwrap().into_request().unwrap();
            let response = router.handle(request, &format!("request-{i}"), now(), i).await;
            if response.status() == 202 {
                stored_once.store(true, Ordering::SeqCst);
            }
            let id = serde_json::from_slice::<serde_json::Value>(response.body())
                .ok()
                .and_then(|v| v["message_id"].as_str().map(str::to_owned));
            (response.status().as_u16(), response.headers().get("retry-after").is_some(), id)
        }));
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let mut accepted = HashSet::new();
    let mut refused = 0;
    for task in tasks {
        match task.await.unwrap() {
            (202, _, Some(id)) => {
                accepted.insert(id);
            }
            (503, true, None) => refused += 1,
            other => panic!("neither a 202 with a message id nor a 503 with Retry-After: {other:?}"),
        }
    }
    assert!(
        !accepted.is_empty() && refused > 0,
        "the cut fell inside the burst: {} accepted, {refused} refused",
        accepted.len()
    );

    let mut stored = HashSet::new();
    loop {
        let batch = sqs.receive_message().queue_url(&url).max_number_of_messages(10).send().await.unwrap();
        if batch.messages().is_empty() {
            break;
        }
        for m in batch.messages() {
            stored.insert(m.message_id().unwrap().to_owned());
            sqs.delete_message().queue_url(&url).receipt_handle(m.receipt_handle().unwrap()).send().await.unwrap();
        }
    }
    let lost: Vec<_> = accepted.difference(&stored).collect();
    assert!(lost.is_empty(), "202 answered for messages not in the queue: {lost:?}");
}
