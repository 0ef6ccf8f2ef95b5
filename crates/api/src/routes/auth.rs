//! Who is calling, and whether they may: logins with a session cookie for the dashboard,
//! bearer tokens for CI and scripts, and a role check on every API request.
//!
//! A server with no users runs in development mode: nobody logs in and every caller may do
//! everything (`scripts/serve`'s experience), as before users existed. Once a user exists
//! (`meshbench user add`), every request but the public ones (health, the API document,
//! share links, login, the dashboard's own files) needs a session or a token: GET and HEAD
//! need `viewer`, every other method `operator`. Cross-site requests are refused before
//! this (see `origin`), and the session cookie is `SameSite=Strict` and `HttpOnly`, so a
//! cookie-authenticated write cannot come from another site.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use meshbench_core::user::Role;
use meshbench_store::{ApiToken, Session};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use super::body;
use crate::audit::{self, Event};
use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// The session cookie's name.
pub(crate) const SESSION_COOKIE: &str = "meshbench_session";
/// How long a session lasts.
const SESSION_HOURS: i64 = 12;
/// What every token starts with (so scanners and people recognise one).
const TOKEN_PREFIX: &str = "mbt_";
/// The longest a token may live, days.
const MAX_TOKEN_DAYS: u32 = 3650;

/// Who made a request, as the handlers see it.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// The user; `None` in development mode.
    pub username: Option<String>,
    /// What they may do.
    pub role: Role,
    /// The session's cookie hash, if that is how it was authenticated.
    pub session_hash: Option<String>,
    /// The client's address, for the audit log.
    pub address: Option<String>,
}

/// The address of the peer that sent `request` (the server is served with its connection
/// info; a router driven in-process has none). A proxy in front is the peer: the address
/// it forwards for is not trusted, since any client can send that header.
pub(crate) fn peer(request: &Request) -> Option<std::net::SocketAddr> {
    request
        .extensions()
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0)
}

/// 256 random bits as hex (two v4 UUIDs' random parts, from the OS's generator).
pub(crate) fn secret() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn unauthenticated(message: &str) -> Response {
    let mut response =
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", message).into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"meshbench\""),
    );
    response
}

/// Requests anyone may make, logged in or not.
fn is_public(method: &Method, path: &str) -> bool {
    matches!(
        (method, path),
        (
            &Method::GET | &Method::HEAD,
            "/health" | "/openapi.json" | "/docs"
        ) | (&Method::POST, "/auth/login")
    ) || (matches!(*method, Method::GET | Method::HEAD) && path.starts_with("/reports/shared/"))
}

/// The least role a request needs.
fn required_role(method: &Method, path: &str) -> Role {
    if path.starts_with("/users") || path.starts_with("/audit") {
        Role::Admin
    } else if path.starts_with("/auth/")
        || path.starts_with("/socket.io")
        || matches!(*method, Method::GET | Method::HEAD)
        // A comparison of stored runs is a read that takes a body.
        || (method == Method::POST && path == "/metrics/compare")
    {
        Role::Viewer
    } else {
        Role::Operator
    }
}

/// Middleware: finds the caller (or answers 401/403) and hands it to the handlers.
pub(crate) async fn authenticate(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    if is_public(&method, &path) {
        return next.run(request).await;
    }
    let address = peer(&request).map(|a| a.ip().to_string());
    let writes = !matches!(method, Method::GET | Method::HEAD | Method::OPTIONS);
    let has_users = match state.store.has_users().await {
        Ok(has) => has,
        Err(e) => return ApiError::from(e).into_response(),
    };
    let caller = if has_users {
        let identified = match identify(&state, request.headers()).await {
            Ok(Some(caller)) => Ok(caller),
            Ok(None) => Err((
                "no login or token",
                unauthenticated(
                    "log in (POST /auth/login) or send `Authorization: Bearer <token>`",
                ),
            )),
            Err(response) => Err(("a login or token that does not work", response)),
        };
        match identified {
            Ok(caller) => Caller { address, ..caller },
            Err((why, response)) => {
                if writes && state.throttle.log_refusal(address.as_deref()) {
                    let event = Event::refused("request", why).subject(format!("{method} {path}"));
                    audit::record_as(&state, None, address, event).await;
                }
                return response;
            }
        }
    } else {
        Caller {
            username: None,
            role: Role::Admin,
            session_hash: None,
            address,
        }
    };
    let needed = required_role(&method, &path);
    if caller.role < needed {
        let who = caller.username.as_deref().unwrap_or("?");
        let message = format!(
            "{method} {path} needs the {needed} role; {who} is {}",
            caller.role
        );
        if writes {
            let event =
                Event::refused("request", message.clone()).subject(format!("{method} {path}"));
            audit::record(&state, &caller, event).await;
        }
        return ApiError::new(StatusCode::FORBIDDEN, "forbidden_role", message).into_response();
    }
    request.extensions_mut().insert(caller);
    next.run(request).await
}

/// [`authenticate`] for Socket.IO's `/socket.io/` (its layer sits outside the API's, and
/// its events are every job's); other requests pass through.
pub(crate) async fn authenticate_live(
    state: State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path().starts_with("/socket.io") {
        authenticate(state, request, next).await
    } else {
        next.run(request).await
    }
}

/// The caller a request's token or session cookie names: `None` when it carries neither,
/// a 401 when what it carries does not (or no longer) work.
async fn identify(state: &AppState, headers: &HeaderMap) -> Result<Option<Caller>, Response> {
    let now = OffsetDateTime::now_utc();
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| t.starts_with(TOKEN_PREFIX))
            .ok_or_else(|| unauthenticated("the Authorization header is not `Bearer mbt_…`"))?;
        let found = state
            .store
            .token_by_hash(&sha256_hex(token))
            .await
            .map_err(|e| ApiError::from(e).into_response())?;
        let Some(found) = found else {
            return Err(unauthenticated("this token is not known"));
        };
        if found.revoked_at.is_some() {
            return Err(unauthenticated("this token was revoked"));
        }
        if found.expires_at.is_some_and(|at| at <= now) {
            return Err(unauthenticated("this token expired"));
        }
        let role = active_role(state, &found.username).await?;
        // Best effort: a failed note of the last use must not fail the request. At most once
        // a minute per token, so a script polling with it does not write on every call.
        if found
            .last_used_at
            .is_none_or(|at| now - at >= Duration::minutes(1))
        {
            let _ = state.store.touch_token(&found.token_id, now).await;
        }
        return Ok(Some(Caller {
            username: Some(found.username),
            role,
            session_hash: None,
            address: None,
        }));
    }
    let Some(cookie) = session_cookie(headers) else {
        return Ok(None);
    };
    let hash = sha256_hex(&cookie);
    let session = state
        .store
        .get_session(&hash)
        .await
        .map_err(|e| ApiError::from(e).into_response())?;
    match session {
        Some(s) if s.revoked_at.is_none() && s.expires_at > now => {
            let role = active_role(state, &s.username).await?;
            Ok(Some(Caller {
                username: Some(s.username),
                role,
                session_hash: Some(hash),
                address: None,
            }))
        }
        _ => Err(unauthenticated("the session ended: log in again")),
    }
}

/// The role of `username`, or a 401 if they are gone or disabled.
async fn active_role(state: &AppState, username: &str) -> Result<Role, Response> {
    match state.store.get_user(username).await {
        Ok(Some(u)) if !u.user.disabled => Ok(u.user.role),
        Ok(Some(_)) => Err(unauthenticated("this user is disabled")),
        Ok(None) => Err(unauthenticated("this user no longer exists")),
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.to_string())
}

/// A login.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Login {
    /// The user's name.
    username: String,
    /// Their password.
    password: String,
}

/// Who is logged in.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct Me {
    /// The user (absent in development mode).
    username: Option<String>,
    /// Their role.
    #[schema(value_type = String)]
    role: Role,
    /// `login` once users exist; `development` before.
    mode: &'static str,
}

/// Log in: sets the session cookie (HttpOnly, SameSite=Strict, 12 hours).
#[utoipa::path(post, path = "/auth/login", tag = "auth", request_body = Login,
    responses((status = 200, description = "Logged in; the cookie is set", body = Me),
              (status = 400, description = "Not a JSON object", body = ErrorBody),
              (status = 401, description = "Wrong name or password, or a disabled user", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
              (status = 422, description = "A field is missing or of the wrong type", body = ErrorBody),
              (status = 429, description = "Too many login attempts from this address or for this name; `Retry-After` says when to try again", body = ErrorBody)))]
pub(crate) async fn login(
    State(state): State<AppState>,
    connect: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let login: Login = body::json(&raw)?;
    let ip = connect.map(|c| c.0 .0.ip());
    let address = ip.map(|a| a.to_string());
    // A name is written to the log as given only when it is a user's: anything else a
    // client sends goes in the detail, cut short.
    let named: String = login.username.chars().take(64).collect();
    if let Err(refused) = state.throttle.login(&login.username, ip) {
        let event = Event::refused("login", format!("rate limited (as `{named}`)"));
        audit::record_as(&state, None, address, event).await;
        return Ok(refused.into_response());
    }
    let stored = state.store.get_user(&login.username).await?;
    let hash = stored.as_ref().map(|s| s.password_hash.clone());
    let password = login.password.clone();
    // argon2 takes tens of milliseconds of CPU: not on the async threads. An unknown user
    // is checked against nothing, and answered as a wrong password is.
    let matches = tokio::task::spawn_blocking(move || {
        hash.is_some_and(|h| crate::password::verify(&password, &h))
    })
    .await
    .unwrap_or(false);
    let user = match stored {
        Some(s) if matches && !s.user.disabled => s.user,
        Some(s) if matches => {
            let event = Event::refused("login", "the user is disabled");
            audit::record_as(&state, Some(s.user.username.clone()), address, event).await;
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                format!("{} is disabled", s.user.username),
            ));
        }
        Some(s) => {
            let event = Event::refused("login", "wrong password");
            audit::record_as(&state, Some(s.user.username), address, event).await;
            return Err(wrong_login());
        }
        None => {
            let event = Event::refused("login", format!("unknown user `{named}`"));
            audit::record_as(&state, None, address, event).await;
            return Err(wrong_login());
        }
    };
    audit::record_as(
        &state,
        Some(user.username.clone()),
        address,
        Event::ok("login"),
    )
    .await;
    let cookie = secret();
    let now = OffsetDateTime::now_utc();
    state
        .store
        .insert_session(&Session {
            session_hash: sha256_hex(&cookie),
            username: user.username.clone(),
            created_at: now,
            expires_at: now + Duration::hours(SESSION_HOURS),
            revoked_at: None,
        })
        .await?;
    let secure = headers
        .get("x-forwarded-proto")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"https"));
    let set_cookie = format!(
        "{SESSION_COOKIE}={cookie}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{}",
        SESSION_HOURS * 3600,
        if secure { "; Secure" } else { "" }
    );
    let mut response = Json(Me {
        username: Some(user.username),
        role: user.role,
        mode: "login",
    })
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&set_cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(response)
}

fn wrong_login() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "wrong username or password",
    )
}

/// Log out: ends the session at once and clears the cookie.
#[utoipa::path(post, path = "/auth/logout", tag = "auth",
    responses((status = 204, description = "Logged out"),
              (status = 401, description = "Not logged in", body = ErrorBody)))]
pub(crate) async fn logout(
    State(state): State<AppState>,
    caller: axum::Extension<Caller>,
) -> Result<Response, ApiError> {
    if let Some(hash) = &caller.session_hash {
        state
            .store
            .revoke_session(hash, OffsetDateTime::now_utc())
            .await?;
        audit::record(&state, &caller, Event::ok("logout")).await;
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "meshbench_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    Ok(response)
}

/// Who is calling.
#[utoipa::path(get, path = "/auth/me", tag = "auth",
    responses((status = 200, body = Me), (status = 401, description = "Not logged in", body = ErrorBody)))]
pub(crate) async fn me(caller: axum::Extension<Caller>) -> Json<Me> {
    Json(Me {
        mode: if caller.username.is_some() {
            "login"
        } else {
            "development"
        },
        username: caller.username.clone(),
        role: caller.role,
    })
}

/// A token to make.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewToken {
    /// What it is for (1–100 characters).
    name: String,
    /// Days it works (1–3650); absent: until revoked.
    #[serde(default)]
    expires_in_days: Option<u32>,
}

/// A token just made: the only time its secret is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct MadeToken {
    /// Send as `Authorization: Bearer <token>`. Shown once: only its hash is kept.
    token: String,
    /// The token as listed.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    listed: ApiToken,
}

/// Make an API token acting as the caller (their role, until revoked or expired).
#[utoipa::path(post, path = "/auth/tokens", tag = "auth", request_body = NewToken,
    responses((status = 201, body = MadeToken),
              (status = 400, description = "Not a JSON object", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 409, description = "Development mode: there is no user to act as", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
              (status = 422, description = "A field broke a rule, named", body = ErrorBody)))]
pub(crate) async fn create_token(
    State(state): State<AppState>,
    caller: axum::Extension<Caller>,
    raw: Bytes,
) -> Result<Response, ApiError> {
    let request: NewToken = body::json(&raw)?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(ApiError::field(
            "name",
            "must be 1-100 characters on one line",
        ));
    }
    if request
        .expires_in_days
        .is_some_and(|d| !(1..=MAX_TOKEN_DAYS).contains(&d))
    {
        return Err(ApiError::field(
            "expires_in_days",
            format!("must be 1 to {MAX_TOKEN_DAYS}"),
        ));
    }
    let Some(username) = caller.username.clone() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "development_mode",
            "no user exists yet, so a token would act as nobody: add one with `meshbench user add`",
        ));
    };
    let now = OffsetDateTime::now_utc();
    let listed = ApiToken {
        token_id: uuid::Uuid::new_v4().simple().to_string()[..12].to_string(),
        username,
        name: name.to_string(),
        created_at: now,
        expires_at: request
            .expires_in_days
            .map(|d| now + Duration::days(i64::from(d))),
        last_used_at: None,
        revoked_at: None,
    };
    let token = format!("{TOKEN_PREFIX}{}_{}", listed.token_id, secret());
    state
        .store
        .insert_token(&listed, &sha256_hex(&token))
        .await?;
    let event = Event::ok("token.create")
        .subject(listed.token_id.clone())
        .detail(format!("`{}`", listed.name));
    audit::record(&state, &caller, event).await;
    Ok((StatusCode::CREATED, Json(MadeToken { token, listed })).into_response())
}

/// The caller's tokens (an admin's list has everyone's).
#[utoipa::path(get, path = "/auth/tokens", tag = "auth",
    responses((status = 200, body = [Object]), (status = 401, description = "Not logged in", body = ErrorBody)))]
pub(crate) async fn list_tokens(
    State(state): State<AppState>,
    caller: axum::Extension<Caller>,
) -> Result<Json<Vec<ApiToken>>, ApiError> {
    let whose = match (&caller.username, caller.role) {
        (Some(_), Role::Admin) | (None, _) => None,
        (Some(name), _) => Some(name.as_str()),
    };
    Ok(Json(state.store.list_tokens(whose).await?))
}

/// Revoke a token: it stops working at once. Its owner or an admin may.
#[utoipa::path(delete, path = "/auth/tokens/{token_id}", tag = "auth",
    params(("token_id" = String, Path, description = "The token's id")),
    responses((status = 200, description = "Revoked; the token as listed now", body = Object),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 404, description = "No such token of the caller's", body = ErrorBody)))]
pub(crate) async fn revoke_token(
    State(state): State<AppState>,
    caller: axum::Extension<Caller>,
    Path(token_id): Path<String>,
) -> Result<Json<ApiToken>, ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "token_not_found",
            format!("no token `{token_id}`"),
        )
    };
    let token = state
        .store
        .get_token(&token_id)
        .await?
        .ok_or_else(not_found)?;
    let may = caller.role == Role::Admin || caller.username.as_deref() == Some(&token.username);
    if !may {
        return Err(not_found());
    }
    state
        .store
        .revoke_token(&token_id, OffsetDateTime::now_utc())
        .await?;
    let event = Event::ok("token.revoke")
        .subject(token_id.clone())
        .detail(format!("{}'s `{}`", token.username, token.name));
    audit::record(&state, &caller, event).await;
    state
        .store
        .get_token(&token_id)
        .await?
        .map(Json)
        .ok_or_else(not_found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_by_route() {
        assert!(is_public(&Method::GET, "/health"));
        assert!(is_public(&Method::GET, "/reports/shared/abc"));
        assert!(is_public(&Method::POST, "/auth/login"));
        assert!(!is_public(&Method::POST, "/reports/shared/abc"));
        assert!(!is_public(&Method::GET, "/benchmarks/jobs"));
        assert_eq!(
            required_role(&Method::GET, "/benchmarks/jobs"),
            Role::Viewer
        );
        assert_eq!(
            required_role(&Method::POST, "/benchmarks/start"),
            Role::Operator
        );
        assert_eq!(
            required_role(&Method::DELETE, "/benchmarks/jobs/x"),
            Role::Operator
        );
        assert_eq!(required_role(&Method::POST, "/auth/tokens"), Role::Viewer);
        assert_eq!(
            required_role(&Method::POST, "/metrics/compare"),
            Role::Viewer
        );
        assert_eq!(required_role(&Method::GET, "/users"), Role::Admin);
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("theme=dark; meshbench_session=abc123; other=1"),
        );
        assert_eq!(session_cookie(&headers).as_deref(), Some("abc123"));
        assert_eq!(session_cookie(&HeaderMap::new()), None);
    }
}
