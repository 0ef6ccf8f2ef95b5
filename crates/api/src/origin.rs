//! Cross-site request refusal. A browser lets any web page send a "simple" request to any
//! address, a local meshbench included: a `text/plain` POST needs no CORS preflight, and the
//! API reads every body as JSON (the seed's curl commands send no Content-Type), so without
//! this a page on any site could start load from a user's machine. CORS only stops the page
//! from *reading* the answer. So every request that changes state (any method but GET, HEAD
//! and OPTIONS) and every WebSocket handshake (`/ws`, Socket.IO) is refused with a 403 when
//! the browser says it comes from another site: an `Origin` that is neither this server's own
//! (the `Host` it was reached at) nor listed in `ALLOWED_ORIGINS`, `Origin: null` (sandboxed
//! frames, files), or no `Origin` but `Sec-Fetch-Site: cross-site`. Clients that are not
//! browsers (curl, scripts, CI) send neither header and pass, as they must.

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::{ApiError, AppState};

/// Refuses cross-site state changes and WebSocket handshakes (see the module's docs).
pub(crate) async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let changes_state = !matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let handshake = request
        .headers()
        .get(header::UPGRADE)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"));
    if changes_state || handshake {
        if let Err(reason) = check(request.headers(), &state.settings.allowed_origins) {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross_site_request",
                format!("cross-site request refused: {reason}"),
            )
            .into_response();
        }
    }
    next.run(request).await
}

/// Whether a request with `headers` may change state, given the configured origins.
fn check(headers: &HeaderMap, allowed: &[String]) -> Result<(), String> {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return match headers.get("sec-fetch-site").map(|v| v.as_bytes()) {
            Some(b"cross-site") => Err(
                "the browser says this request comes from another site (Sec-Fetch-Site: cross-site)"
                    .to_string(),
            ),
            _ => Ok(()),
        };
    };
    let origin = origin
        .to_str()
        .map_err(|_| "the Origin header is not text".to_string())?
        .trim_end_matches('/');
    if origin.eq_ignore_ascii_case("null") {
        return Err(
            "Origin `null` (a sandboxed frame or a local file) may not change state".into(),
        );
    }
    if allowed
        .iter()
        .any(|a| a == "*" || a.trim_end_matches('/').eq_ignore_ascii_case(origin))
    {
        return Ok(());
    }
    // The server's own pages: the origin's host and port are the ones this request was sent
    // to (whatever name or address the user reached the server at).
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin.split_once("://").filter(|(scheme, _)| {
        scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")
    });
    if let (Some(host), Some((scheme, authority))) = (host, origin_host) {
        if same_authority(scheme, authority, host) {
            return Ok(());
        }
    }
    Err(format!(
        "Origin `{origin}` is neither this server's own nor listed in ALLOWED_ORIGINS"
    ))
}

/// Whether an origin's `authority` (of `scheme`) names the same host and port as `host`
/// (the Host header), a missing port being the scheme's default.
fn same_authority(scheme: &str, authority: &str, host: &str) -> bool {
    let default = if scheme.eq_ignore_ascii_case("https") {
        "443"
    } else {
        "80"
    };
    let split = |s: &str| -> (String, String) {
        // `[::1]:8000`, `localhost:8000`, `localhost`
        let (name, port) = match s.rsplit_once(':') {
            Some((name, port)) if !port.contains(']') && !name.is_empty() => (name, port),
            _ => (s, default),
        };
        (name.to_ascii_lowercase(), port.to_string())
    };
    split(authority) == split(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn clients_without_a_browser_pass() {
        assert!(check(&headers(&[("host", "127.0.0.1:8000")]), &[]).is_ok());
    }

    #[test]
    fn the_servers_own_pages_pass_at_any_name() {
        for (origin, host) in [
            ("http://127.0.0.1:8000", "127.0.0.1:8000"),
            ("http://localhost:8000/", "localhost:8000"),
            ("https://meshbench.example.com", "meshbench.example.com"),
            ("https://meshbench.example.com", "meshbench.example.com:443"),
            ("http://[::1]:8000", "[::1]:8000"),
        ] {
            let h = headers(&[("origin", origin), ("host", host)]);
            assert!(check(&h, &[]).is_ok(), "{origin} at {host}");
        }
    }

    #[test]
    fn other_sites_are_refused_unless_listed() {
        let h = headers(&[
            ("origin", "https://evil.example"),
            ("host", "127.0.0.1:8000"),
        ]);
        let err = check(&h, &["http://localhost:5173".into()]).unwrap_err();
        assert!(err.contains("https://evil.example"), "{err}");
        assert!(check(&h, &["https://evil.example".into()]).is_ok());
        assert!(check(&h, &["*".into()]).is_ok());
        // Same host, another port: another origin.
        let h = headers(&[
            ("origin", "http://127.0.0.1:9999"),
            ("host", "127.0.0.1:8000"),
        ]);
        assert!(check(&h, &[]).is_err());
        let h = headers(&[("origin", "null"), ("host", "127.0.0.1:8000")]);
        assert!(check(&h, &["*".into()]).is_err());
        let h = headers(&[("sec-fetch-site", "cross-site"), ("host", "127.0.0.1:8000")]);
        assert!(check(&h, &[]).is_err());
        let h = headers(&[
            ("sec-fetch-site", "same-origin"),
            ("host", "127.0.0.1:8000"),
        ]);
        assert!(check(&h, &[]).is_ok());
    }
}
