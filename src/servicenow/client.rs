//! The Table API client: one request path (auth, headers, error mapping)
//! under reads, paging and writes.

use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, LINK, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Map, Value};
use tokio::sync::Mutex;

use super::Auth;
use super::error::{SnError, parse_retry_after};
use super::query::Query;
use super::record::{Display, Record};
use super::tables::TableDef;

/// Which certificate authorities the client trusts for the instance.
#[derive(Clone, Debug, Default)]
pub enum TlsRoots {
    /// The platform's roots.
    #[default]
    Platform,
    /// The platform's roots and these (a PEM bundle).
    PlatformAnd(Vec<u8>),
    /// Only these (a PEM bundle): a private CA, the simulator's test CA.
    Only(Vec<u8>),
}

#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// Per request, connect to last byte.
    pub timeout: Duration,
    /// `sysparm_limit` of each page.
    pub page_size: u32,
    pub tls_roots: TlsRoots,
    /// Refresh an OAuth token this long before it expires (at most half its lifetime).
    pub refresh_margin: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            page_size: 100,
            tls_roots: TlsRoots::Platform,
            refresh_margin: Duration::from_secs(60),
        }
    }
}

/// Every record a query matched, read page by page.
#[derive(Clone, Debug, PartialEq)]
pub struct Page {
    pub records: Vec<Record>,
    /// `X-Total-Count` of the first page: rows matched before ACLs, so it
    /// can exceed `records.len()`.
    pub total_count: Option<u64>,
    /// How many pages were read.
    pub pages: u32,
}

struct Token {
    access: String,
    refresh: Option<String>,
    refresh_at: Instant,
}

/// A client of one instance's Table API.
pub struct TableClient {
    http: reqwest::Client,
    /// Ends in `/`, so joining relative paths keeps any path prefix.
    base: Url,
    auth: Auth,
    options: ClientOptions,
    token: Mutex<Option<Token>>,
}

impl std::fmt::Debug for TableClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TableClient")
            .field("base", &self.base.as_str())
            .finish_non_exhaustive()
    }
}

/// A response, read in full.
struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

fn envelope(body: &[u8]) -> (String, Option<String>) {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    match error {
        Some(error) => (
            error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("no message")
                .to_owned(),
            error
                .get("detail")
                .and_then(Value::as_str)
                .filter(|d| !d.is_empty())
                .map(str::to_owned),
        ),
        None => {
            let text = String::from_utf8_lossy(body);
            let text: String = text.chars().take(200).collect();
            (
                if text.trim().is_empty() {
                    "no body".to_owned()
                } else {
                    text
                },
                None,
            )
        }
    }
}

impl TableClient {
    /// A client of the instance at `base_url` (`https://x.service-now.com`).
    pub fn new(base_url: &str, auth: Auth, options: ClientOptions) -> Result<Self, SnError> {
        crate::tls::install_crypto_provider();
        let bad = |reason: &str| SnError::BaseUrl {
            url: base_url.to_owned(),
            reason: reason.to_owned(),
        };
        let mut base = Url::parse(base_url).map_err(|e| bad(&e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") {
            return Err(bad("it must be an http or https URL"));
        }
        if base.query().is_some() || base.fragment().is_some() {
            return Err(bad("it must not carry a query or fragment"));
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        let builder = reqwest::Client::builder()
            .timeout(options.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("casebridge/", env!("CARGO_PKG_VERSION")));
        let builder = match &options.tls_roots {
            TlsRoots::Platform => builder,
            TlsRoots::PlatformAnd(pem) => builder.tls_certs_merge(
                reqwest::Certificate::from_pem_bundle(pem).map_err(SnError::ClientSetup)?,
            ),
            TlsRoots::Only(pem) => builder.tls_certs_only(
                reqwest::Certificate::from_pem_bundle(pem).map_err(SnError::ClientSetup)?,
            ),
        };
        let http = builder.build().map_err(SnError::ClientSetup)?;
        Ok(Self {
            http,
            base,
            auth,
            options,
            token: Mutex::new(None),
        })
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    fn url(&self, path: &str) -> Result<Url, SnError> {
        self.base.join(path).map_err(|e| SnError::BaseUrl {
            url: self.base.to_string(),
            reason: e.to_string(),
        })
    }

    fn table_url(&self, table: &TableDef, sys_id: Option<&str>) -> Result<Url, SnError> {
        let mut url = self.url("api/now/table/")?;
        {
            let mut segments = url.path_segments_mut().map_err(|()| SnError::BaseUrl {
                url: self.base.to_string(),
                reason: "it cannot carry a path".to_owned(),
            })?;
            segments.pop_if_empty().push(table.name());
            if let Some(sys_id) = sys_id {
                segments.push(sys_id);
            }
        }
        Ok(url)
    }

    fn check_fields<'a>(
        table: &TableDef,
        fields: impl IntoIterator<Item = &'a str>,
    ) -> Result<(), SnError> {
        match fields.into_iter().find(|f| !table.knows(f)) {
            Some(field) => Err(SnError::UnknownField {
                table: table.name().to_owned(),
                field: field.to_owned(),
            }),
            None => Ok(()),
        }
    }

    fn read_params(url: &mut Url, fields: &[&str], display: Display) {
        let mut pairs = url.query_pairs_mut();
        if !fields.is_empty() {
            pairs.append_pair("sysparm_fields", &fields.join(","));
        }
        for (k, v) in display.params() {
            pairs.append_pair(k, v);
        }
    }

    /// Reads every record `query` matches, following `next` links.
    pub async fn get_records(
        &self,
        table: &TableDef,
        query: &Query,
        fields: &[&str],
        display: Display,
    ) -> Result<Page, SnError> {
        let mut pager = self.pages(table, query, fields, display)?;
        let mut records = Vec::new();
        while let Some(page) = pager.next_page().await? {
            records.extend(page);
        }
        Ok(Page {
            records,
            total_count: pager.total_count(),
            pages: pager.pages(),
        })
    }

    /// A pager over `query`'s matches, for callers that retry a page
    /// (after a 429, say) without starting over: a failed
    /// [`Pager::next_page`] can simply be called again.
    pub fn pages(
        &self,
        table: &TableDef,
        query: &Query,
        fields: &[&str],
        display: Display,
    ) -> Result<Pager<'_>, SnError> {
        let encoded = query.encode(table)?;
        Self::check_fields(table, fields.iter().copied())?;
        let mut url = self.table_url(table, None)?;
        url.query_pairs_mut()
            .append_pair("sysparm_query", &encoded)
            .append_pair("sysparm_limit", &self.options.page_size.max(1).to_string())
            .append_pair("sysparm_offset", "0");
        Self::read_params(&mut url, fields, display);
        Ok(Pager {
            client: self,
            next: Some(url),
            display,
            total_count: None,
            pages: 0,
        })
    }

    /// One record by sys_id.
    pub async fn get_record(
        &self,
        table: &TableDef,
        sys_id: &str,
        fields: &[&str],
        display: Display,
    ) -> Result<Record, SnError> {
        Self::check_fields(table, fields.iter().copied())?;
        let mut url = self.table_url(table, Some(sys_id))?;
        Self::read_params(&mut url, fields, display);
        let answer = self.send(Method::GET, url.clone(), None).await?;
        let result = self.result(&answer, StatusCode::OK, &Method::GET, &url)?;
        one_record(result, display, &url)
    }

    /// Inserts one record; the instance must answer 201 Created.
    pub async fn create_record(
        &self,
        table: &TableDef,
        values: &Map<String, Value>,
        display: Display,
    ) -> Result<Record, SnError> {
        let url = self.write_url(table, None, values, display)?;
        self.write(Method::POST, url, values, StatusCode::CREATED, display)
            .await
    }

    /// Changes fields of one record. A journal value in `values` appends an
    /// entry: retrying this after an unclear failure can append it twice.
    pub async fn patch_record(
        &self,
        table: &TableDef,
        sys_id: &str,
        values: &Map<String, Value>,
        display: Display,
    ) -> Result<Record, SnError> {
        let url = self.write_url(table, Some(sys_id), values, display)?;
        self.write(Method::PATCH, url, values, StatusCode::OK, display)
            .await
    }

    fn write_url(
        &self,
        table: &TableDef,
        sys_id: Option<&str>,
        values: &Map<String, Value>,
        display: Display,
    ) -> Result<Url, SnError> {
        Self::check_fields(table, values.keys().map(String::as_str))?;
        let mut url = self.table_url(table, sys_id)?;
        Self::read_params(&mut url, &[], display);
        Ok(url)
    }

    async fn write(
        &self,
        method: Method,
        url: Url,
        values: &Map<String, Value>,
        expected: StatusCode,
        display: Display,
    ) -> Result<Record, SnError> {
        let body = Value::Object(values.clone());
        let answer = self.send(method.clone(), url.clone(), Some(&body)).await?;
        let result = self.result(&answer, expected, &method, &url)?;
        one_record(result, display, &url)
    }

    /// Sends one request with our credentials; with OAuth a 401 gets one
    /// fresh token and one more try (the request was not executed).
    async fn send(
        &self,
        method: Method,
        url: Url,
        body: Option<&Value>,
    ) -> Result<Answer, SnError> {
        let mut retried = false;
        loop {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(ACCEPT, "application/json");
            if let Some(body) = body {
                request = request
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            request = match &self.auth {
                Auth::Basic { user, password } => request.basic_auth(user, Some(password.expose())),
                Auth::OAuth { .. } => request.bearer_auth(self.bearer(retried).await?),
            };
            let answer = self.exchange(request, &method, &url).await?;
            if answer.status == StatusCode::UNAUTHORIZED
                && matches!(self.auth, Auth::OAuth { .. })
                && !retried
            {
                retried = true;
                continue;
            }
            return Ok(answer);
        }
    }

    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        method: &Method,
        url: &Url,
    ) -> Result<Answer, SnError> {
        let transport = |source| SnError::Transport {
            action: action(method, url),
            source,
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(transport)?.to_vec();
        Ok(Answer {
            status,
            headers,
            body,
        })
    }

    /// The `result` of a successful answer, or the error it stands for.
    fn result(
        &self,
        answer: &Answer,
        expected: StatusCode,
        method: &Method,
        url: &Url,
    ) -> Result<Value, SnError> {
        if answer.status == expected {
            let mut parsed: Value =
                serde_json::from_slice(&answer.body).map_err(|e| SnError::Protocol {
                    action: action(method, url),
                    reason: format!("the body is not JSON: {e}"),
                })?;
            return parsed
                .get_mut("result")
                .map(Value::take)
                .ok_or_else(|| SnError::Protocol {
                    action: action(method, url),
                    reason: "the body has no `result`".to_owned(),
                });
        }
        Err(status_error(answer, expected, method, url))
    }

    /// An access token that is not about to expire; `force` replaces the
    /// current one (after a 401).
    async fn bearer(&self, force: bool) -> Result<String, SnError> {
        let mut slot = self.token.lock().await;
        if let Some(token) = slot.as_ref()
            && !force
            && Instant::now() < token.refresh_at
        {
            return Ok(token.access.clone());
        }
        let refresh = slot.as_ref().and_then(|t| t.refresh.clone());
        let token = match refresh {
            Some(refresh) => match self
                .token_grant(&[("grant_type", "refresh_token"), ("refresh_token", &refresh)])
                .await
            {
                Ok(token) => token,
                // An expired or revoked refresh token: start over.
                Err(SnError::OAuthRefused) => self.password_grant().await?,
                Err(other) => return Err(other),
            },
            None => self.password_grant().await?,
        };
        let access = token.access.clone();
        *slot = Some(token);
        Ok(access)
    }

    async fn password_grant(&self) -> Result<Token, SnError> {
        let Auth::OAuth { user, password, .. } = &self.auth else {
            return Err(SnError::OAuthRefused);
        };
        self.token_grant(&[
            ("grant_type", "password"),
            ("username", user),
            ("password", password.expose()),
        ])
        .await
    }

    async fn token_grant(&self, grant: &[(&str, &str)]) -> Result<Token, SnError> {
        let Auth::OAuth {
            client_id,
            client_secret,
            ..
        } = &self.auth
        else {
            return Err(SnError::OAuthRefused);
        };
        let url = self.url("oauth_token.do")?;
        // The serializer is not `Send`: it must be gone before the await,
        // or no client future could be spawned.
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(grant.iter().copied())
            .append_pair("client_id", client_id)
            .append_pair("client_secret", client_secret.expose())
            .finish();
        let request = self
            .http
            .post(url.clone())
            .header(ACCEPT, "application/json")
            .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(body);
        let answer = self.exchange(request, &Method::POST, &url).await?;
        if answer.status == StatusCode::UNAUTHORIZED || answer.status == StatusCode::BAD_REQUEST {
            return Err(SnError::OAuthRefused);
        }
        if answer.status != StatusCode::OK {
            return Err(status_error(&answer, StatusCode::OK, &Method::POST, &url));
        }
        let protocol = |reason: &str| SnError::Protocol {
            action: action(&Method::POST, &url),
            reason: reason.to_owned(),
        };
        let body: Value = serde_json::from_slice(&answer.body)
            .map_err(|_| protocol("the token answer is not JSON"))?;
        let access = body
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| protocol("the token answer has no access_token"))?
            .to_owned();
        let lifetime = match body.get("expires_in") {
            Some(Value::Number(n)) => n.as_u64(),
            Some(Value::String(s)) => s.parse().ok(),
            _ => None,
        }
        .ok_or_else(|| protocol("the token answer has no expires_in"))?;
        let lifetime = Duration::from_secs(lifetime);
        let margin = self.options.refresh_margin.min(lifetime / 2);
        Ok(Token {
            access,
            refresh: body
                .get("refresh_token")
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
                .map(str::to_owned),
            refresh_at: Instant::now() + lifetime - margin,
        })
    }
}

fn action(method: &Method, url: &Url) -> String {
    format!("{method} {}", url.path())
}

fn status_error(answer: &Answer, expected: StatusCode, method: &Method, url: &Url) -> SnError {
    let (message, detail) = envelope(&answer.body);
    let action = action(method, url);
    match answer.status {
        StatusCode::UNAUTHORIZED => SnError::Credentials,
        StatusCode::FORBIDDEN => SnError::Forbidden {
            action,
            message,
            detail,
        },
        StatusCode::NOT_FOUND => SnError::NotFound {
            path: url.path().to_owned(),
        },
        StatusCode::BAD_REQUEST => SnError::BadRequest {
            action,
            message,
            detail,
        },
        StatusCode::TOO_MANY_REQUESTS => SnError::RateLimited {
            retry_after: answer
                .headers
                .get(RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| parse_retry_after(v, chrono::Utc::now())),
        },
        status if status.is_success() => SnError::Protocol {
            action,
            reason: format!("expected HTTP {expected}, got {status}"),
        },
        status => SnError::Status {
            status: status.as_u16(),
            action,
            message,
        },
    }
}

fn one_record(result: Value, display: Display, url: &Url) -> Result<Record, SnError> {
    match result {
        Value::Object(fields) => Ok(Record::new(fields, display.mode)),
        _ => Err(SnError::Protocol {
            action: format!("read {}", url.path()),
            reason: "`result` is not one record".to_owned(),
        }),
    }
}

/// The `next` URL of a `Link` header (`<url>;rel="next",<url>;rel="prev"`).
/// URLs may hold commas, so entries are split at `<`, not at `,`.
fn next_link(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(LINK)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split('<').skip(1))
        .find_map(|entry| {
            let (url, params) = entry.split_once('>')?;
            params
                .split(';')
                .map(|p| p.trim().trim_end_matches(',').trim_end())
                .any(|p| {
                    p.eq_ignore_ascii_case("rel=\"next\"") || p.eq_ignore_ascii_case("rel=next")
                })
                .then(|| url.trim().to_owned())
        })
}

/// Pages through one query's matches by the instance's `next` links.
pub struct Pager<'c> {
    client: &'c TableClient,
    next: Option<Url>,
    display: Display,
    total_count: Option<u64>,
    pages: u32,
}

impl Pager<'_> {
    /// The next page, or `None` when the last one was read. A page can be
    /// short (even empty) while more follow: the instance pages before it
    /// applies ACLs. On error the same page is asked for again next call.
    pub async fn next_page(&mut self) -> Result<Option<Vec<Record>>, SnError> {
        let Some(url) = self.next.clone() else {
            return Ok(None);
        };
        let answer = self.client.send(Method::GET, url.clone(), None).await?;
        let result = self
            .client
            .result(&answer, StatusCode::OK, &Method::GET, &url)?;
        let Value::Array(rows) = result else {
            return Err(SnError::Protocol {
                action: action(&Method::GET, &url),
                reason: "`result` is not a list".to_owned(),
            });
        };
        let records = rows
            .into_iter()
            .map(|row| one_record(row, self.display, &url))
            .collect::<Result<Vec<_>, _>>()?;
        if self.pages == 0 {
            self.total_count = answer
                .headers
                .get("x-total-count")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse().ok());
        }
        self.pages += 1;
        self.next = match next_link(&answer.headers) {
            None => None,
            Some(link) => Some(self.follow(&url, &link)?),
        };
        Ok(Some(records))
    }

    /// Follows a `next` link only to the same instance (our credentials go
    /// with it) and only forward.
    fn follow(&self, current: &Url, link: &str) -> Result<Url, SnError> {
        let protocol = |reason: String| SnError::Protocol {
            action: action(&Method::GET, current),
            reason,
        };
        let next = current
            .join(link)
            .map_err(|e| protocol(format!("its next link {link:?} is not a URL: {e}")))?;
        if next.origin() != self.client.base.origin() {
            return Err(protocol(format!(
                "its next link points to another host ({}); not following it with our credentials",
                next.origin().ascii_serialization()
            )));
        }
        if next == *current {
            return Err(protocol(
                "its next link points to the page just read".to_owned(),
            ));
        }
        Ok(next)
    }

    /// `X-Total-Count` of the first page.
    pub fn total_count(&self) -> Option<u64> {
        self.total_count
    }

    /// Pages read so far.
    pub fn pages(&self) -> u32 {
        self.pages
    }
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    #[test]
    fn next_link_is_found_among_the_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            LINK,
            HeaderValue::from_static(
                "<https://x/api/now/table/incident?sysparm_fields=a%2Cb&sysparm_limit=2&sysparm_offset=0>;rel=\"first\",<https://x/api/now/table/incident?sysparm_limit=2&sysparm_offset=-1>;rel=\"prev\",<https://x/api/now/table/incident?sysparm_fields=a,b&sysparm_limit=2&sysparm_offset=2>;rel=\"next\",<https://x/api/now/table/incident?sysparm_limit=2&sysparm_offset=4>;rel=\"last\"",
            ),
        );
        assert_eq!(
            next_link(&headers).as_deref(),
            Some(
                "https://x/api/now/table/incident?sysparm_fields=a,b&sysparm_limit=2&sysparm_offset=2"
            )
        );
        headers.insert(
            LINK,
            HeaderValue::from_static("<https://x/a?sysparm_offset=0>;rel=\"first\",<https://x/a?sysparm_offset=-1>;rel=\"prev\""),
        );
        assert_eq!(next_link(&headers), None);
    }
}
