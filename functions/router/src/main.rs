//! Switchyard router: the HTTP Lambda in front of an application's servers.
//!
//! Foundation only: until target discovery and picking land (issue "Router Lambda"), the router
//! has no targets and answers every request with a 503 that carries the request id, exactly as it
//! will when discovery finds no healthy target.

use lambda_http::{Body, Error, Request, RequestExt, Response, run_concurrent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    // JSON when the function's LoggingConfig says so (AWS_LAMBDA_LOG_FORMAT=JSON, set by template.yaml).
    lambda_http::tracing::init_default_subscriber();
    run_concurrent(service_fn(handle)).await
}

async fn handle(request: Request) -> Result<Response<Body>, Error> {
    let request_id = request.lambda_context_ref().map(|c| c.request_id.clone()).unwrap_or_default();
    tracing::warn!(request_id, path = request.uri().path(), "no targets configured");
    Ok(no_targets(&request_id))
}

fn no_targets(request_id: &str) -> Response<Body> {
    let body = serde_json::json!({
        "error": "no_healthy_target",
        "message": "no target can serve this request",
        "request_id": request_id,
    });
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = lambda_http::http::StatusCode::SERVICE_UNAVAILABLE;
    response.headers_mut().insert("content-type", lambda_http::http::HeaderValue::from_static("application/json"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_targets_the_answer_is_503_with_the_request_id() {
        let response = handle(Request::default()).await.unwrap();
        assert_eq!(response.status(), 503);
        let Body::Text(body) = response.body() else { panic!("expected a text body") };
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(body["error"], "no_healthy_target");
        assert!(body.get("request_id").is_some());
    }
}
