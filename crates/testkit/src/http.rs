//! A blocking HTTP client for tests: one request per connection, as a browser or curl would
//! send it, every answer read whole.

use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::Method;
use serde_json::Value;

/// Socket read and write timeout of a request.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// An answer, read whole.
#[derive(Debug, Clone)]
pub struct Response {
    /// Its status code.
    pub status: u16,
    /// Its headers.
    pub headers: HeaderMap,
    /// Its body, as text (invalid UTF-8 replaced).
    pub body: String,
}

impl Response {
    /// The body as JSON; panics, showing it, when it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    /// A header's value, when present and text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The fields named in an error's `details` (a 422's), in order.
    pub fn error_fields(&self) -> Vec<String> {
        self.json()["details"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d["field"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A client for one server: paths are joined to its base URL.
#[derive(Debug, Clone)]
pub struct Client {
    base: String,
    inner: reqwest::blocking::Client,
}

impl Client {
    /// A client for `base` (`http://host:port`, no trailing slash).
    pub fn new(base: impl Into<String>) -> Client {
        let inner = reqwest::blocking::Client::builder()
            .timeout(IO_TIMEOUT)
            .no_proxy()
            // A connection per request: no idle connection is left to hold up a server's
            // graceful shutdown or to be counted by it.
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_else(|e| panic!("cannot build an HTTP client: {e}"));
        Client {
            base: base.into(),
            inner,
        }
    }

    /// Its base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], None)
    }

    /// `POST path` with `body` as JSON.
    pub fn post(&self, path: &str, body: &Value) -> Response {
        self.request("POST", path, &[], Some(&body.to_string()))
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> Response {
        self.request("DELETE", path, &[], None)
    }

    /// Any request, with extra headers and a body sent as `application/json` (as it is, so
    /// malformed JSON can be sent too); panics when no answer comes.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Response {
        self.try_request(method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {}{path}: {e}", self.base))
    }

    /// [`Client::request`] that returns the failure instead (as while a server starts).
    pub fn try_request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> reqwest::Result<Response> {
        let method = Method::from_bytes(method.as_bytes())
            .unwrap_or_else(|e| panic!("bad method {method}: {e}"));
        let mut request = self.inner.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request
                .header("content-type", "application/json")
                .body(body.to_string());
        }
        let response = request.send()?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = String::from_utf8_lossy(&response.bytes()?).into_owned();
        Ok(Response {
            status,
            headers,
            body,
        })
    }
}

/// Runs curl with `args` (10 s at most) and returns the status code and the body: for
/// requests as a user types them, or as another site's page sends them. Panics when curl
/// is missing or fails (a refused connection, a timeout).
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = std::process::Command::new("curl")
        .args(args)
        .args(["-sS", "--max-time", "10", "-w", "\n%{http_code}"])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl (these tests need it installed): {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "curl {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (body, code) = stdout
        .rsplit_once('\n')
        .unwrap_or_else(|| panic!("curl {args:?}: no status line in {stdout:?}"));
    let code = code
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("curl {args:?}: status {code:?}: {e}"));
    (code, body.to_string())
}
