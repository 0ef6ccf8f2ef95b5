//! The dashboard: the SvelteKit app of `frontend/`, built by adapter-static into
//! `frontend/build/`, served by the API server itself so one binary is the whole platform.
//!
//! Release builds embed the build folder in the binary; debug builds read it from disk at
//! run time (rust-embed), so `npm run build` shows up without recompiling. A clone without a
//! built frontend still compiles: `/` then answers 503 with how to build it, and the API
//! works as before. `MESHBENCH_DASHBOARD_DIR` serves another folder instead (tests use it).
//! `build.rs` has cargo watch the folder, so a release build after a new `npm run build`
//! embeds the new files, added ones included.
//!
//! The dashboard's page paths overlap the API's (`/metrics`, `/reports`, `/benchmarks/…`).
//! The page is served only to browser navigation (an `Accept` header with `text/html`), so
//! `curl /metrics` and Prometheus still get the exposition format. The decision is path and
//! header matching only ([`route`]), made before the API's router runs.

use std::borrow::Cow;
use std::path::Path;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rust_embed::Embed;

use crate::html::escape;
use crate::AppState;

/// The built dashboard, as it was when the binary was compiled (release), or as it is on
/// disk now (debug).
#[derive(Embed)]
#[folder = "$CARGO_MANIFEST_DIR/../../frontend/build"]
#[allow_missing = true]
struct Build;

/// Top-level dashboard pages; `/benchmarks/<id>` and `/series/<id>` are matched apart.
const PAGES: [&str; 10] = [
    "benchmarks",
    "metrics",
    "probes",
    "reports",
    "kubernetes",
    "compare",
    "lab",
    "login",
    "tokens",
    "admin",
];
/// `/benchmarks/<segment>` paths that belong to the API.
const API_UNDER_BENCHMARKS: [&str; 2] = ["jobs", "start"];
/// `/series/<segment>` paths that belong to the API only.
const API_UNDER_SERIES: [&str; 1] = ["start"];
/// adapter-static's single-page-app fallback: the app routes on the client.
const FALLBACK: &str = "200.html";
/// Content-hashed build output: never changes under the same name.
const IMMUTABLE_PREFIX: &str = "_app/immutable/";

/// What a request is, decided from its method, path and `Accept` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `/`: the dashboard's start page, whoever asks.
    Index,
    /// A dashboard page a browser navigates to: the first of these build files that exists
    /// (the prerendered page, then the SPA fallback); the API's answer when none does.
    Page(Vec<String>),
    /// Possibly a build file (`/_app/…`, `/favicon.svg`): served when the build has it, the
    /// API's answer otherwise.
    Asset(String),
    /// The API's.
    Api,
}

/// Where a request goes. Pure: no I/O, so it is cheap on every API request.
pub(crate) fn route(method: &Method, path: &str, accept: Option<&str>) -> Route {
    if method != Method::GET && method != Method::HEAD {
        return Route::Api;
    }
    if path == "/" {
        return Route::Index;
    }
    if let Some(page) = page_name(path) {
        let wants_html = accept.is_some_and(|a| a.to_ascii_lowercase().contains("text/html"));
        return if wants_html {
            Route::Page(vec![
                format!("{page}.html"),
                format!("{page}/index.html"),
                FALLBACK.to_string(),
            ])
        } else {
            Route::Api
        };
    }
    let Some(relative) = path.strip_prefix('/') else {
        return Route::Api;
    };
    let last = relative.rsplit('/').next().unwrap_or("");
    let looks_like_file = relative.starts_with("_app/") || last.contains('.');
    // `/openapi.json` is the API's own document, whatever a build might hold.
    if looks_like_file && relative != "openapi.json" && safe_relative(relative) {
        Route::Asset(relative.to_string())
    } else {
        Route::Api
    }
}

/// `benchmarks`, `benchmarks/<id>`, `metrics`, …: the page a path names (a trailing slash
/// allowed), if it is one of the dashboard's.
fn page_name(path: &str) -> Option<&str> {
    let name = path.strip_prefix('/')?;
    let name = name.strip_suffix('/').unwrap_or(name);
    if PAGES.contains(&name) {
        return Some(name);
    }
    let (id, reserved) = if let Some(id) = name.strip_prefix("benchmarks/") {
        (id, &API_UNDER_BENCHMARKS[..])
    } else {
        (name.strip_prefix("series/")?, &API_UNDER_SERIES[..])
    };
    let ok = !id.is_empty() && !reserved.contains(&id) && safe_relative(id);
    (ok && !id.contains('/')).then_some(name)
}

/// Whether `relative` names a file inside the build folder and nothing else: no empty,
/// `.`-leading (so no `..`, no dotfiles) or backslash-holding segment.
fn safe_relative(relative: &str) -> bool {
    !relative.is_empty()
        && relative
            .split('/')
            .all(|s| !s.is_empty() && !s.starts_with('.') && !s.contains(['\\', '\0']))
}

/// Where the files come from.
enum Source<'a> {
    /// Built into the binary (release) or read from `frontend/build` (debug).
    Embedded,
    /// `MESHBENCH_DASHBOARD_DIR`.
    Dir(&'a Path),
}

/// A build file.
struct File {
    bytes: Cow<'static, [u8]>,
    /// Quoted, possibly weak (`W/"…"`), as it goes in the `ETag` header.
    etag: String,
}

impl Source<'_> {
    /// The build file at `relative` (already checked by [`safe_relative`]).
    async fn get(&self, relative: &str) -> Option<File> {
        match self {
            Source::Embedded => {
                let file = Build::get(relative)?;
                let hash: String = file.metadata.sha256_hash()[..16]
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                Some(File {
                    bytes: file.data,
                    etag: format!("\"{hash}\""),
                })
            }
            Source::Dir(dir) => {
                let path = dir.join(relative);
                let meta = tokio::fs::metadata(&path).await.ok()?;
                if !meta.is_file() {
                    return None;
                }
                let bytes = tokio::fs::read(&path).await.ok()?;
                // Size and modification time: cheap, and changes whenever a build does.
                let modified = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                    .map_or(0, |d| d.as_nanos());
                Some(File {
                    etag: format!("W/\"{:x}-{modified:x}\"", bytes.len()),
                    bytes: Cow::Owned(bytes),
                })
            }
        }
    }

    /// The first of `candidates` the build has, with its name.
    async fn first<'n>(&self, candidates: &'n [String]) -> Option<(&'n str, File)> {
        for name in candidates {
            if let Some(file) = self.get(name).await {
                return Some((name, file));
            }
        }
        None
    }
}

/// Middleware in front of the API: serves the dashboard's pages and files, hands every
/// other request to the API.
pub(crate) async fn serve(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok());
    let path = request.uri().path();
    let route = route(request.method(), path, accept);
    let page_path = page_name(path).is_some();
    let source = match state.settings.dashboard_dir.as_deref() {
        Some(dir) => Source::Dir(dir),
        None => Source::Embedded,
    };
    let head = request.method() == Method::HEAD;
    let headers = request.headers();
    let served = match &route {
        Route::Api => None,
        Route::Index => {
            let candidates = ["index.html".to_string(), FALLBACK.to_string()];
            match source.first(&candidates).await {
                Some((name, file)) => Some(respond(name, file, headers, head)),
                None => return not_built(state.settings.dashboard_dir.as_deref()),
            }
        }
        Route::Page(candidates) => source
            .first(candidates)
            .await
            .map(|(name, file)| respond(name, file, headers, head)),
        Route::Asset(relative) => source
            .get(relative)
            .await
            .map(|file| respond(relative, file, headers, head)),
    };
    let mut response = match served {
        Some(response) => response,
        None => next.run(request).await,
    };
    if page_path {
        // The same URL is a page for browsers and JSON or text for everyone else.
        response
            .headers_mut()
            .append(header::VARY, HeaderValue::from_static("accept"));
    }
    response
}

/// A build file as a response: its type, caching, ETag (304 when the client has it).
fn respond(name: &str, file: File, request: &HeaderMap, head: bool) -> Response {
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    let textual = mime.type_() == "text"
        || matches!(
            mime.subtype().as_str(),
            "javascript" | "json" | "manifest+json"
        );
    let content_type = if textual && mime.get_param("charset").is_none() {
        format!("{mime}; charset=utf-8")
    } else {
        mime.to_string()
    };
    let cache = if name.starts_with(IMMUTABLE_PREFIX) {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut headers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&content_type) {
        headers.insert(header::CONTENT_TYPE, v);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&file.etag) {
        headers.insert(header::ETAG, v);
    }
    if etag_matches(request, &file.etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(file.bytes.len()));
    let body = if head {
        Body::empty()
    } else {
        Body::from(file.bytes)
    };
    (headers, body).into_response()
}

/// `If-None-Match` holds `etag` (weak comparison, as RFC 9110 asks for this header) or `*`.
fn etag_matches(request: &HeaderMap, etag: &str) -> bool {
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let ours = strip(etag);
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == "*" || strip(t) == ours)
}

/// 503 for `/` when there is no build to serve: what to do about it.
fn not_built(dir: Option<&Path>) -> Response {
    let folder = match dir {
        Some(d) => format!(
            "<code>{}</code> (MESHBENCH_DASHBOARD_DIR) holds no <code>index.html</code>.",
            escape(&d.display().to_string())
        ),
        None => "This server was built without <code>frontend/build</code>.".to_string(),
    };
    let page = format!(
        "<!doctype html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">\
         <title>meshbench: dashboard not built</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;max-width:44rem;margin:3rem auto;\
         padding:0 1rem;color:#1f2937}}pre{{background:#f3f4f6;padding:.7rem;overflow:auto}}\
         </style></head>\n<body>\n<h1>The dashboard is not built</h1>\n<p>{folder} Build it \
         from the repository root:</p>\n<pre>npm --prefix frontend ci &amp;&amp; npm --prefix \
         frontend run build</pre>\n<p>A debug build of meshbench serves the new files at \
         once; a release build embeds them, so rebuild it (<code>cargo build --release</code>).\
         </p>\n<p>The API works meanwhile: <a href=\"/docs\">/docs</a>, \
         <a href=\"/health\">/health</a>.</p>\n</body>\n</html>\n"
    );
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, page).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    const HTML: Option<&str> = Some("text/html,application/xhtml+xml,*/*;q=0.8");

    fn page(name: &str) -> Route {
        Route::Page(vec![
            format!("{name}.html"),
            format!("{name}/index.html"),
            "200.html".to_string(),
        ])
    }

    #[test]
    fn root_is_always_the_dashboard() {
        assert_eq!(route(&Method::GET, "/", None), Route::Index);
        assert_eq!(route(&Method::HEAD, "/", Some("*/*")), Route::Index);
        assert_eq!(route(&Method::POST, "/", HTML), Route::Api);
    }

    #[test]
    fn pages_only_for_browser_navigation() {
        for name in PAGES {
            let path = format!("/{name}");
            assert_eq!(route(&Method::GET, &path, HTML), page(name), "{path}");
            assert_eq!(route(&Method::GET, &path, None), Route::Api, "{path}");
            assert_eq!(
                route(&Method::GET, &path, Some("application/json")),
                Route::Api
            );
        }
        // Prometheus' own Accept header.
        let prometheus = Some(
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
        );
        assert_eq!(route(&Method::GET, "/metrics", prometheus), Route::Api);
        assert_eq!(route(&Method::GET, "/metrics/", HTML), page("metrics"));
        assert_eq!(
            route(&Method::GET, "/benchmarks/", HTML),
            page("benchmarks")
        );
        assert_eq!(
            route(&Method::GET, "/metrics", Some("TEXT/HTML")),
            page("metrics")
        );
        assert_eq!(route(&Method::POST, "/reports", HTML), Route::Api);
    }

    #[test]
    fn job_pages_but_not_job_endpoints() {
        let id = "3f2b8c1e-9d4a-4b7e-8f00-1234567890ab";
        assert_eq!(
            route(&Method::GET, &format!("/benchmarks/{id}"), HTML),
            page(&format!("benchmarks/{id}"))
        );
        assert_eq!(
            route(&Method::GET, &format!("/series/{id}"), HTML),
            page(&format!("series/{id}"))
        );
        assert_eq!(
            route(
                &Method::GET,
                &format!("/series/{id}"),
                Some("application/json")
            ),
            Route::Api
        );
        for path in [
            "/series/start",
            "/series/x/y",
            "/metrics/compare",
            "/benchmarks/jobs",
            "/benchmarks/start",
            "/benchmarks/jobs/x",
            "/benchmarks/jobs/x/result",
            "/benchmarks//x",
            "/metrics/results",
            "/metrics/summary",
            "/reports/abc",
            "/reports/abc/download",
            "/health",
            "/docs",
            "/ws",
            "/openapi.json",
            "/kubernetes/namespaces",
        ] {
            assert_eq!(route(&Method::GET, path, HTML), Route::Api, "{path}");
        }
        assert_eq!(
            route(&Method::GET, &format!("/benchmarks/{id}"), None),
            Route::Api
        );
    }

    #[test]
    fn build_files_by_path_shape() {
        for (path, relative) in [
            (
                "/_app/immutable/entry/start.BX1.js",
                "_app/immutable/entry/start.BX1.js",
            ),
            ("/_app/version.json", "_app/version.json"),
            ("/favicon.svg", "favicon.svg"),
            ("/robots.txt", "robots.txt"),
            ("/index.html", "index.html"),
        ] {
            assert_eq!(
                route(&Method::GET, path, None),
                Route::Asset(relative.to_string()),
                "{path}"
            );
        }
        for path in [
            "/_app/../secret",
            "/_app/./x.js",
            "/_app//x.js",
            "/.env",
            "/_app/.vite/manifest.json",
            "/a\\b.js",
        ] {
            assert_eq!(route(&Method::GET, path, None), Route::Api, "{path}");
        }
    }

    #[test]
    fn if_none_match_compares_weakly() {
        let mut h = HeaderMap::new();
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"b\""),
        );
        assert!(etag_matches(&h, "\"b\""));
        assert!(etag_matches(&h, "W/\"a\""));
        assert!(!etag_matches(&h, "\"c\""));
        assert!(!etag_matches(&HeaderMap::new(), "\"a\""));
    }

    #[tokio::test]
    async fn files_from_a_directory_with_types_and_caching() {
        let dir = std::env::temp_dir().join(format!("meshbench-dash-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(dir.join("_app/immutable")).unwrap();
        std::fs::write(dir.join("_app/immutable/a.js"), "export {}").unwrap();
        std::fs::write(dir.join("favicon.svg"), "<svg/>").unwrap();
        let source = Source::Dir(&dir);
        let js = source.get("_app/immutable/a.js").await.unwrap();
        let r = respond("_app/immutable/a.js", js, &HeaderMap::new(), false);
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert!(r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .contains("javascript"));
        let etag = r.headers()[header::ETAG].clone();
        let svg = source.get("favicon.svg").await.unwrap();
        let r = respond("favicon.svg", svg, &HeaderMap::new(), true);
        assert_eq!(r.headers()[header::CONTENT_TYPE], "image/svg+xml");
        assert_eq!(r.headers()[header::CACHE_CONTROL], "no-cache");
        assert_eq!(r.headers()[header::CONTENT_LENGTH], "6");

        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, etag);
        let js = source.get("_app/immutable/a.js").await.unwrap();
        let r = respond("_app/immutable/a.js", js, &again, false);
        assert_eq!(r.status(), StatusCode::NOT_MODIFIED);

        assert!(source.get("missing.js").await.is_none());
        assert!(
            source.get("_app").await.is_none(),
            "a directory is not a file"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
