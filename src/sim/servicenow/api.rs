//! The HTTP face of the simulated instance: the Table API, `/oauth_token.do`,
//! and a gate in front of them for outages, rate limits, authentication and
//! the request log.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use chrono::Utc;
use serde_json::{Value, json};

use super::schema::JOURNAL;
use super::state::{Display, View, Viewer, WriteError};
use super::{AfterCommit, LoggedRequest, Outage, Shared, SimState};

/// The platform's default `sysparm_limit`.
const DEFAULT_LIMIT: usize = 10_000;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/oauth_token.do", post(oauth_token))
        .route("/api/now/table/{table}", get(list).post(create))
        .route(
            "/api/now/table/{table}/{sys_id}",
            get(read_one).patch(update).put(update),
        )
        .fallback(no_resource)
        .layer(middleware::from_fn_with_state(shared.clone(), gate))
        .with_state(shared)
}

/// The error envelope every Table API failure comes in.
fn failure(status: StatusCode, message: &str, detail: Option<&str>) -> Response {
    let body = json!({"error": {"message": message, "detail": detail}, "status": "failure"});
    (status, axum::Json(body)).into_response()
}

fn no_record() -> Response {
    failure(
        StatusCode::NOT_FOUND,
        "No Record found",
        Some("Record doesn't exist or ACL restricts the record retrieval"),
    )
}

fn invalid_table(table: &str) -> Response {
    failure(
        StatusCode::BAD_REQUEST,
        &format!("Invalid table {table}"),
        None,
    )
}

async fn no_resource() -> Response {
    failure(
        StatusCode::BAD_REQUEST,
        "Requested URI does not represent any resource",
        None,
    )
}

/// The API user, set by the gate after authentication.
#[derive(Clone)]
struct ApiUser(String);

async fn gate(State(shared): State<Arc<Shared>>, mut req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path_and_query = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.uri().path().to_owned(), |pq| pq.as_str().to_owned());
    let outage = shared.lock().faults.outage;
    let response = match outage {
        Outage::Unavailable503 => (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "text/html")],
            "<html><body><h1>Instance Unavailable</h1><p>This instance is temporarily unavailable.</p></body></html>",
        )
            .into_response(),
        _ => {
            if let Outage::Slow(delay) = outage {
                tokio::time::sleep(delay).await;
            }
            match admit(&shared, &req) {
                Ok(Some(user)) => {
                    req.extensions_mut().insert(ApiUser(user));
                    next.run(req).await
                }
                Ok(None) => next.run(req).await,
                Err(Refusal::RateLimited(retry_after)) => too_many_requests(retry_after),
                Err(Refusal::Unauthenticated) => unauthenticated(),
            }
        }
    };
    shared.lock().log.push(LoggedRequest {
        method,
        path_and_query,
        status: response.status().as_u16(),
        at: Utc::now(),
    });
    response
}

enum Refusal {
    RateLimited(Option<Duration>),
    Unauthenticated,
}

/// Rate limit, then authentication, for the API paths. `Ok(None)` lets
/// unauthenticated paths (the token endpoint, unknown URIs) through.
fn admit(shared: &Shared, req: &Request) -> Result<Option<String>, Refusal> {
    if !req.uri().path().starts_with("/api/") {
        return Ok(None);
    }
    let mut state = shared.lock();
    if state.faults.rate_limited > 0 {
        state.faults.rate_limited -= 1;
        return Err(Refusal::RateLimited(state.faults.retry_after));
    }
    authenticate(&state, req.headers())
        .map(Some)
        .ok_or(Refusal::Unauthenticated)
}

fn too_many_requests(retry_after: Option<Duration>) -> Response {
    let Some(wait) = retry_after else {
        // Some real 429s carry no headers and no body at all.
        return StatusCode::TOO_MANY_REQUESTS.into_response();
    };
    let reset = Utc::now().timestamp() + i64::try_from(wait.as_secs()).unwrap_or(i64::MAX);
    let mut response = failure(
        StatusCode::TOO_MANY_REQUESTS,
        "Rate limit exceeded",
        Some("Too many requests for rate limit rule 'casebridge integration'"),
    );
    let headers = response.headers_mut();
    for (name, value) in [
        ("retry-after", wait.as_secs().to_string()),
        ("x-ratelimit-limit", "5000".to_owned()),
        ("x-ratelimit-reset", reset.to_string()),
        (
            "x-ratelimit-rule",
            "a8f2d7e01b3a2010c2f3e4b5a6d7c8e9".to_owned(),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

fn unauthenticated() -> Response {
    let mut response = failure(
        StatusCode::UNAUTHORIZED,
        "User Not Authenticated",
        Some("Required to provide Auth information"),
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("BASIC realm=\"Service-now\""),
    );
    response
}

fn authenticate(state: &SimState, headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    if let Some(encoded) = value.strip_prefix("Basic ") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (user, password) = text.split_once(':')?;
        return state
            .auth
            .credentials
            .iter()
            .find(|c| c.user_name == user && c.password == password)
            .map(|c| c.user_name.clone());
    }
    let token = value.strip_prefix("Bearer ")?.trim();
    let (user, expiry) = state.auth.access.get(token)?;
    (*expiry > state.instance.now()).then(|| user.clone())
}

type Params = Vec<(String, String)>;

fn parse_params(raw: Option<&str>) -> Params {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

struct ViewParams {
    display: Display,
    exclude_reference_link: bool,
    fields: Option<Vec<String>>,
}

impl ViewParams {
    fn from(params: &Params) -> Self {
        let display = match param(params, "sysparm_display_value") {
            Some("true") => Display::True,
            Some("all") => Display::All,
            _ => Display::False,
        };
        let fields = param(params, "sysparm_fields").map(|list| {
            list.split(',')
                .map(|f| f.trim().to_owned())
                .filter(|f| !f.is_empty())
                .collect()
        });
        Self {
            display,
            exclude_reference_link: param(params, "sysparm_exclude_reference_link") == Some("true"),
            fields,
        }
    }

    fn view<'a>(&'a self, base_url: &'a str) -> View<'a> {
        View {
            display: self.display,
            exclude_reference_link: self.exclude_reference_link,
            fields: self.fields.as_deref(),
            base_url,
        }
    }
}

fn ok_json(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Path(table_name): Path<String>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = parse_params(raw.as_deref());
    let state = shared.lock();
    let Some(table) = state.instance.table(&table_name) else {
        return invalid_table(&table_name);
    };
    if table_name == JOURNAL && state.faults.journal_acl_blocked {
        let mut response = ok_json(StatusCode::OK, json!({"result": []}));
        response
            .headers_mut()
            .insert("x-total-count", HeaderValue::from_static("0"));
        return response;
    }
    let rows = state
        .instance
        .select(table, param(&params, "sysparm_query").unwrap_or(""));
    let total = rows.len();
    let cap = state.max_page_size.unwrap_or(DEFAULT_LIMIT);
    let limit = param(&params, "sysparm_limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(DEFAULT_LIMIT)
        .min(cap)
        .max(1);
    let offset = param(&params, "sysparm_offset")
        .and_then(|o| o.parse::<i64>().ok())
        .map_or(0, |o| usize::try_from(o).unwrap_or(0));
    let view_params = ViewParams::from(&params);
    let view = view_params.view(&shared.base_url);
    // Limits apply before ACLs: hidden rows take their place in the page.
    let result: Vec<Value> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .filter(|row| !row.hidden)
        .map(|row| state.instance.render(table, row, &view))
        .collect();
    let mut response = ok_json(StatusCode::OK, json!({"result": result}));
    let link = link_header(&shared.base_url, &table_name, &params, offset, limit, total);
    let headers = response.headers_mut();
    headers.insert("x-total-count", HeaderValue::from(total));
    if let Ok(link) = HeaderValue::from_str(&link) {
        headers.insert(header::LINK, link);
    }
    response
}

/// The `Link` header as instances send it: `first`, `prev`, `next` (only
/// when more rows follow) and `last`, each the request's own parameters with
/// `sysparm_limit`/`sysparm_offset` set. On the first page `prev` carries
/// `sysparm_offset=-1`.
fn link_header(
    base_url: &str,
    table: &str,
    params: &Params,
    offset: usize,
    limit: usize,
    total: usize,
) -> String {
    let url = |page_offset: i64| {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (k, v) in params {
            if k != "sysparm_offset" && k != "sysparm_limit" {
                query.append_pair(k, v);
            }
        }
        query.append_pair("sysparm_limit", &limit.to_string());
        query.append_pair("sysparm_offset", &page_offset.to_string());
        format!("<{base_url}/api/now/table/{table}?{}>", query.finish())
    };
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    let prev = if offset == 0 {
        -1
    } else {
        as_i64(offset.saturating_sub(limit))
    };
    let last = if total == 0 {
        0
    } else {
        (total - 1) / limit * limit
    };
    let mut links = vec![
        format!("{};rel=\"first\"", url(0)),
        format!("{};rel=\"prev\"", url(prev)),
    ];
    if offset + limit < total {
        links.push(format!("{};rel=\"next\"", url(as_i64(offset + limit))));
    }
    links.push(format!("{};rel=\"last\"", url(as_i64(last))));
    links.join(",")
}

async fn read_one(
    State(shared): State<Arc<Shared>>,
    Path((table_name, sys_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
) -> Response {
    let params = parse_params(raw.as_deref());
    let state = shared.lock();
    let Some(table) = state.instance.table(&table_name) else {
        return invalid_table(&table_name);
    };
    if table_name == JOURNAL && state.faults.journal_acl_blocked {
        return no_record();
    }
    match state.instance.find(&table_name, &sys_id) {
        Some(row) if !row.hidden => {
            let view_params = ViewParams::from(&params);
            let body = state
                .instance
                .render(table, row, &view_params.view(&shared.base_url));
            ok_json(StatusCode::OK, json!({"result": body}))
        }
        _ => no_record(),
    }
}

/// Writes need `Accept` and a JSON `Content-Type`, and one JSON object;
/// the error is the 400's detail.
fn write_values(headers: &HeaderMap, body: &Bytes) -> Result<Vec<(String, String)>, String> {
    if !headers.contains_key(header::ACCEPT) {
        return Err("Accept header is required for this request".to_owned());
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.to_ascii_lowercase().contains("json") {
        return Err("Content-Type header application/json is required for this request".to_owned());
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("Invalid JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("The request body must be one JSON object: one record per call".to_owned());
    };
    Ok(object
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => other.to_string(),
            };
            (k, text)
        })
        .collect())
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Path(table_name): Path<String>,
    RawQuery(raw): RawQuery,
    user: axum::Extension<ApiUser>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write(
        &shared,
        &table_name,
        None,
        raw.as_deref(),
        &user.0.0,
        &headers,
        &body,
    )
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Path((table_name, sys_id)): Path<(String, String)>,
    RawQuery(raw): RawQuery,
    user: axum::Extension<ApiUser>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    write(
        &shared,
        &table_name,
        Some(&sys_id),
        raw.as_deref(),
        &user.0.0,
        &headers,
        &body,
    )
}

fn write(
    shared: &Shared,
    table_name: &str,
    target: Option<&str>,
    raw_query: Option<&str>,
    user: &str,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let values = match write_values(headers, body) {
        Ok(values) => values,
        Err(detail) => {
            return failure(
                StatusCode::BAD_REQUEST,
                "Exception while reading request",
                Some(&detail),
            );
        }
    };
    let params = parse_params(raw_query);
    let mut state = shared.lock();
    let at = state.instance.now();
    let sys_id = match state
        .instance
        .write(table_name, target, &values, user, at, Viewer::Api)
    {
        Ok(sys_id) => sys_id,
        Err(WriteError::NoTable(t)) => return invalid_table(&t),
        Err(WriteError::NoRecord) => return no_record(),
        Err(WriteError::Forbidden(detail)) => {
            return failure(StatusCode::FORBIDDEN, "Operation Failed", Some(&detail));
        }
    };
    if let Some(how) = state.faults.take_commit_failure() {
        return match how {
            AfterCommit::Error500 => failure(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Transaction cancelled: maximum execution time exceeded",
                None,
            ),
            AfterCommit::DropConnection => Response::new(Body::new(BrokenBody)),
        };
    }
    let (Some(table), Some(row)) = (
        state.instance.table(table_name),
        state.instance.find(table_name, &sys_id),
    ) else {
        return no_record();
    };
    let view_params = ViewParams::from(&params);
    let record = state
        .instance
        .render(table, row, &view_params.view(&shared.base_url));
    let status = if target.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let mut response = ok_json(status, json!({"result": record}));
    if target.is_none() {
        let location = format!("{}/api/now/table/{table_name}/{sys_id}", shared.base_url);
        if let Ok(location) = HeaderValue::from_str(&location) {
            response.headers_mut().insert(header::LOCATION, location);
        }
    }
    response
}

/// A body that fails on its first read, so hyper aborts the connection
/// mid-response: the client never learns the write was committed.
struct BrokenBody;

impl axum::body::HttpBody for BrokenBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "simulated connection loss after commit",
        ))))
    }
}

/// `/oauth_token.do`: the password and refresh-token grants, form-encoded.
async fn oauth_token(State(shared): State<Arc<Shared>>, body: Bytes) -> Response {
    let form: Params = form_urlencoded::parse(&body).into_owned().collect();
    let mut state = shared.lock();
    let denied = || {
        (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error_description": "access_denied", "error": "server_error"})),
        )
            .into_response()
    };
    let Some(client) = state.auth.oauth.clone() else {
        return denied();
    };
    if param(&form, "client_id") != Some(client.client_id.as_str())
        || param(&form, "client_secret") != Some(client.client_secret.as_str())
    {
        return denied();
    }
    let grant = param(&form, "grant_type").unwrap_or("").to_owned();
    let (user, refresh) = match grant.as_str() {
        "password" => {
            let user = param(&form, "username").unwrap_or("");
            let password = param(&form, "password").unwrap_or("");
            if !state
                .auth
                .credentials
                .iter()
                .any(|c| c.user_name == user && c.password == password)
            {
                return denied();
            }
            let refresh = state.instance.next_token();
            state.auth.refresh.insert(refresh.clone(), user.to_owned());
            (user.to_owned(), refresh)
        }
        "refresh_token" => {
            let refresh = param(&form, "refresh_token").unwrap_or("").to_owned();
            match state.auth.refresh.get(&refresh) {
                Some(user) => (user.clone(), refresh),
                None => return denied(),
            }
        }
        _ => return denied(),
    };
    let access = state.instance.next_token();
    let lifetime = client.token_lifetime.as_secs();
    let expiry = state.instance.now()
        + chrono::Duration::seconds(i64::try_from(lifetime).unwrap_or(i64::MAX / 1000));
    state.auth.access.insert(access.clone(), (user, expiry));
    state.auth.grants.push(grant);
    ok_json(
        StatusCode::OK,
        json!({
            "access_token": access,
            "refresh_token": refresh,
            "scope": "useraccount",
            "token_type": "Bearer",
            "expires_in": lifetime,
        }),
    )
}
