//! The client against real local servers: HTTPS with a certificate from a test CA, and plain HTTP
//! answering errors, to check TLS verification, signing headers and the retry rules on the wire.
//! (LocalStack tests in `tests/` cover the four calls against LocalStack's own implementations.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: a panic is a failed test

use std::convert::Infallible;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use switchyard_aws::sqs::SendMessage;
use switchyard_aws::{Client, Config, Credentials, ErrorKind};
use tokio::net::TcpListener;

/// What the server saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    headers: http::HeaderMap,
    body: Bytes,
}

/// A server on 127.0.0.1 answering the n-th request with `answers[n]` (the last one repeats);
/// with `tls`, over TLS with the fixture certificate.
async fn server(tls: bool, answers: Vec<(StatusCode, &'static str)>) -> (u16, Arc<Mutex<Vec<Seen>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let acceptor = tls.then(|| {
        let certs = vec![CertificateDer::from_pem_slice(include_bytes!("fixtures/server.pem")).unwrap()];
        let key = PrivateKeyDer::from_pem_slice(include_bytes!("fixtures/server.key")).unwrap();
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        tokio_rustls::TlsAcceptor::from(Arc::new(config))
    });
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let (record, answers, acceptor) = (Arc::clone(&record), answers.clone(), acceptor.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let (record, answers) = (Arc::clone(&record), answers.clone());
                    async move {
                        let (parts, body) = request.into_parts();
                        let body = body.collect().await.unwrap().to_bytes();
                        let n = {
                            let mut seen = record.lock().unwrap();
                            seen.push(Seen { headers: parts.headers, body });
                            seen.len() - 1
                        };
                        let (status, text) = answers[n.min(answers.len() - 1)];
                        let mut response = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
                        *response.status_mut() = status;
                        Ok::<_, Infallible>(response)
                    }
                });
                let http = hyper::server::conn::http1::Builder::new();
                match acceptor {
                    Some(acceptor) => {
                        let Ok(stream) = acceptor.accept(stream).await else { return };
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                    None => {
                        let _ = http.serve_connection(TokioIo::new(stream), service).await;
                    }
                }
            });
        }
    });
    (port, seen)
}

fn config(endpoint: &str) -> Config {
    let credentials = Credentials::new("AKIDEXAMPLE", "secret", Some("session-token".into()));
    Config::new("eu-west-1", credentials, false).unwrap().with_endpoint_url(endpoint).unwrap()
}

fn test_ca() -> rustls::RootCertStore {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(include_bytes!("fixtures/ca.pem")).unwrap()).unwrap();
    roots
}

const SENT: &str = r#"{"MD5OfMessageBody":"d","MessageId":"m-1"}"#;

fn message() -> SendMessage<'static> {
    SendMessage {
        queue_url: "https://sqs.eu-west-1.amazonaws.com/1/q",
        message_body: "job",
        message_group_id: None,
        message_deduplication_id: None,
    }
}

#[tokio::test]
async fn a_call_goes_over_tls_to_a_server_the_roots_trust_signed_and_targeted() {
    let (port, seen) = server(true, vec![(StatusCode::OK, SENT)]).await;
    let client = Client::with_root_certificates(config(&format!("https://localhost:{port}")), test_ca());
    assert_eq!(client.send_message(&message()).await.unwrap(), "m-1");

    let seen = seen.lock().unwrap();
    let header = |name: &str| seen[0].headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert_eq!(header("host"), format!("localhost:{port}"));
    assert_eq!(header("x-amz-target"), "AmazonSQS.SendMessage");
    assert_eq!(header("x-amz-security-token"), "session-token");
    assert_eq!(header("content-type"), "application/x-amz-json-1.0");
    let authorization = header("authorization");
    assert!(
        authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/")
            && authorization.contains("/eu-west-1/sqs/aws4_request, SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, Signature="),
        "{authorization}"
    );
    assert!(!authorization.contains("secret"));
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body["MessageBody"], "job");
}

#[tokio::test]
async fn a_server_the_roots_do_not_trust_gets_no_request() {
    let (port, seen) = server(true, vec![(StatusCode::OK, SENT)]).await;
    let client =
        Client::with_root_certificates(config(&format!("https://localhost:{port}")), rustls::RootCertStore::empty());
    let error = client.send_message(&message()).await.unwrap_err();
    assert!(matches!(&error.kind, ErrorKind::Transport(m) if m.contains("certificate")), "{error}");
    assert!(seen.lock().unwrap().is_empty(), "nothing was sent over the untrusted connection");
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_until_an_answer() {
    let throttled =
        r#"<ErrorResponse><Error><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>"#;
    let sent_xml = r#"<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups/></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>"#;
    let (port, seen) = server(
        false,
        vec![(StatusCode::BAD_REQUEST, throttled), (StatusCode::BAD_GATEWAY, "busy"), (StatusCode::OK, sent_xml)],
    )
    .await;
    let client = Client::new(config(&format!("http://127.0.0.1:{port}")));
    assert_eq!(client.describe_group_instances("web").await.unwrap(), None);
    assert_eq!(seen.lock().unwrap().len(), 3, "two retries");
}

#[tokio::test]
async fn a_client_error_is_returned_at_once_and_after_three_attempts_the_last_error_is() {
    let missing = r#"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#;
    let (port, seen) = server(false, vec![(StatusCode::BAD_REQUEST, missing)]).await;
    let client = Client::new(config(&format!("http://127.0.0.1:{port}")));
    let error = client.send_message(&message()).await.unwrap_err();
    assert_eq!(error.to_string(), "SendMessage: QueueDoesNotExist (HTTP 400): The specified queue does not exist.");
    assert_eq!(seen.lock().unwrap().len(), 1, "not retried");

    let (port, seen) = server(false, vec![(StatusCode::SERVICE_UNAVAILABLE, "")]).await;
    let client = Client::new(config(&format!("http://127.0.0.1:{port}")));
    let error = client.send_message(&message()).await.unwrap_err();
    assert!(matches!(error.kind, ErrorKind::Service { status: 503, .. }), "{error}");
    assert_eq!(seen.lock().unwrap().len(), 3, "the standard mode's three attempts");
}

#[tokio::test]
async fn nothing_listening_is_a_transport_error_naming_the_cause() {
    let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
    let client = Client::new(config(&format!("http://127.0.0.1:{port}")));
    let error = client.send_message(&message()).await.unwrap_err();
    assert!(matches!(&error.kind, ErrorKind::Transport(m) if m.to_lowercase().contains("refused")), "{error}");
}

#[tokio::test]
async fn metric_pages_are_followed_and_joined_per_query() {
    use switchyard_aws::cloudwatch::{MetricQuery, Range};
    let first = r#"{"MetricDataResults":[{"Id":"t0","Timestamps":[20.0],"Values":[2.0]},{"Id":"t1","Timestamps":[20.0],"Values":[5.0]}],"NextToken":"page-2"}"#;
    let second = r#"{"MetricDataResults":[{"Id":"t0","Timestamps":[10.0],"Values":[1.0]}]}"#;
    let (port, seen) = server(false, vec![(StatusCode::OK, first), (StatusCode::OK, second)]).await;
    let client = Client::new(config(&format!("http://127.0.0.1:{port}")));
    let query = |id: &str, target: &str| MetricQuery {
        id: id.into(),
        namespace: "Test".into(),
        metric_name: "InFlight".into(),
        dimensions: vec![("InstanceId".into(), target.into())],
        period_secs: 10,
        stat: "Average".into(),
    };
    let results = client
        .get_metric_data(
            &[query("t0", "i-1"), query("t1", "i-2")],
            Range { start_ms: 0, end_ms: 30_000, newest_first: true },
        )
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert_eq!(
        (results[0].id.as_str(), results[0].timestamps_ms.as_slice(), results[0].values.as_slice()),
        ("t0", &[20_000, 10_000][..], &[2.0, 1.0][..])
    );
    assert_eq!(results[1].values, [5.0]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let second_request: serde_json::Value = serde_json::from_slice(&seen[1].body).unwrap();
    assert_eq!(second_request["NextToken"], "page-2");
    assert_eq!(seen[0].headers.get("x-amz-target").unwrap(), "GraniteServiceVersion20100801.GetMetricData");
}

#[tokio::test]
async fn instance_pages_are_followed_and_a_repeated_token_ends_the_walk() {
    let page = |id: &str, next: &str| -> &'static str {
        Box::leak(
            format!(
                "<DescribeInstancesResponse><reservationSet><item><instancesSet><item><instanceId>{id}</instanceId>\
                 <privateIpAddress>10.0.0.9</privateIpAddress></item></instancesSet></item></reservationSet>\
                 <nextToken>{next}</nextToken></DescribeInstancesResponse>"
            )
            .into_boxed_str(),
        )
    };
    let (port, seen) = server(
        false,
        vec![
            (StatusCode::OK, page("i-1", "a")),
            (StatusCode::OK, page("i-2", "b")),
            (StatusCode::OK, page("i-3", "b")),
        ],
    )
    .await;
    let client = Client::new(config(&format!("http://127.0.0.1:{port}")));
    let instances = client.describe_running_instances(&["i-1".into(), "i-2".into(), "i-3".into()]).await.unwrap();
    let ids: Vec<&str> = instances.iter().map(|i| i.instance_id.as_str()).collect();
    assert_eq!(ids, ["i-1", "i-2", "i-3"]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "the third page handed back the token it was given: the walk stops");
    assert!(String::from_utf8_lossy(&seen[2].body).ends_with("&NextToken=b"));
}

#[tokio::test]
async fn group_pages_are_followed_with_every_name_asked_each_time() {
    let page = |name: &str, next: &str| -> &'static str {
        Box::leak(
            format!(
                "<DescribeAutoScalingGroupsResponse><DescribeAutoScalingGroupsResult><AutoScalingGroups><member>\
                 <AutoScalingGroupName>{name}</AutoScalingGroupName><MinSize>0</MinSize><MaxSize>5</MaxSize>\
                 <DesiredCapacity>2</DesiredCapacity><Instances/></member></AutoScalingGroups>{next}\
                 </DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>"
            )
            .into_boxed_str(),
        )
    };
    let (port, seen) = server(
        false,
        vec![(StatusCode::OK, page("web", "<NextToken>n1</NextToken>")), (StatusCode::OK, page("jobs", ""))],
    )
    .await;
    let client = Client::new(config(&format!("http://127.0.0.1:{port}")));
    let groups = client.describe_groups(&["web", "jobs"]).await.unwrap();
    let names: Vec<&str> = groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(names, ["web", "jobs"]);
    let second = {
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2);
        String::from_utf8_lossy(&seen[1].body).into_owned()
    };
    assert!(second.contains("AutoScalingGroupNames.member.2=jobs") && second.ends_with("&NextToken=n1"), "{second}");
    assert!(client.describe_groups(&[]).await.unwrap().is_empty(), "no names: no call, no groups");

    // More names than one call takes: two calls, each within the limit.
    use switchyard_aws::autoscaling::MAX_NAMES_PER_CALL;
    let empty = "<R><DescribeAutoScalingGroupsResult><AutoScalingGroups/></DescribeAutoScalingGroupsResult></R>";
    let (port, seen) = server(false, vec![(StatusCode::OK, empty), (StatusCode::OK, empty)]).await;
    let client = Client::new(config(&format!("http://127.0.0.1:{port}")));
    let names: Vec<String> = (0..=MAX_NAMES_PER_CALL).map(|i| format!("g{i}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    assert!(client.describe_groups(&names).await.unwrap().is_empty());
    let seen = seen.lock().unwrap();
    let asked: Vec<usize> = seen
        .iter()
        .map(|s| String::from_utf8_lossy(&s.body).matches("AutoScalingGroupNames.member.").count())
        .collect();
    assert_eq!(asked, [MAX_NAMES_PER_CALL, 1]);
}

#[tokio::test]
async fn metric_data_go_out_a_thousand_per_call_and_a_bad_value_sends_nothing() {
    use switchyard_aws::cloudwatch::{Datum, MAX_DATA_PER_PUT};
    let (port, seen) = server(false, vec![(StatusCode::OK, "{}"), (StatusCode::OK, "{}")]).await;
    let client = Client::new(config(&format!("http://127.0.0.1:{port}")));
    let datum = |value: f64| Datum {
        metric_name: "DesiredCapacity".into(),
        dimensions: vec![("Fleet".into(), "web".into())],
        timestamp_ms: 1_795_938_490_000,
        value,
        unit: "Count",
        storage_resolution: 60,
    };
    let mut data = vec![datum(1.0); MAX_DATA_PER_PUT + 1];
    data.push(datum(f64::NAN));
    let refused = client.put_metric_data("Switchyard", &data).await.unwrap_err();
    assert!(matches!(refused.kind, ErrorKind::Request(_)), "{refused}");
    assert!(seen.lock().unwrap().is_empty(), "nothing sent for a batch CloudWatch would refuse");
    data.pop();
    client.put_metric_data("Switchyard", &data).await.unwrap();
    let seen = seen.lock().unwrap();
    let sizes: Vec<usize> = seen
        .iter()
        .map(|s| serde_json::from_slice::<serde_json::Value>(&s.body).unwrap()["MetricData"].as_array().unwrap().len())
        .collect();
    assert_eq!(sizes, [MAX_DATA_PER_PUT, 1]);
    assert_eq!(seen[0].headers.get("x-amz-target").unwrap(), "GraniteServiceVersion20100801.PutMetricData");
}
