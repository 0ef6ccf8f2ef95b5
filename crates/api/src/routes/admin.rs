//! `/users` and `/audit`: an admin's view of who may use the platform and what they did.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Json};
use bytes::Bytes;
use meshbench_core::user::{validate_password, validate_username, Role, User};
use meshbench_store::{AuditFilter, StoredUser, UserUpdate};
use serde::Deserialize;
use time::OffsetDateTime;

use super::auth::Caller;
use super::{body, paging, total_count};
use crate::audit::{self, Event};
use crate::error::ErrorBody;
use crate::{ApiError, AppState};

/// Every user, by name (never a password hash).
#[utoipa::path(get, path = "/users", tag = "admin",
    responses((status = 200, body = [User]),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Not an admin", body = ErrorBody)))]
pub(crate) async fn list_users(State(state): State<AppState>) -> Result<Json<Vec<User>>, ApiError> {
    Ok(Json(state.store.list_users().await?))
}

/// A user to add.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewUser {
    /// 1–64 of `a-z 0-9 . _ -`, starting with a letter or digit.
    username: String,
    /// At least 10 characters.
    password: String,
    /// viewer, operator or admin.
    #[schema(value_type = String)]
    role: Role,
}

fn field_error(e: meshbench_core::Error) -> ApiError {
    match e {
        meshbench_core::Error::Invalid { field, message } => ApiError::field(field, message),
        other => ApiError::field("body", other.to_string()),
    }
}

async fn hash(password: String) -> Result<String, ApiError> {
    // argon2 takes tens of milliseconds of CPU: not on the async threads.
    tokio::task::spawn_blocking(move || crate::password::hash(&password))
        .await
        .map_err(|e| ApiError::internal(&e))?
        .map_err(|e| ApiError::internal(&e))
}

/// Add a user.
#[utoipa::path(post, path = "/users", tag = "admin", request_body = NewUser,
    responses((status = 201, body = User),
              (status = 400, description = "Not a JSON object", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Not an admin", body = ErrorBody),
              (status = 409, description = "`user_exists`", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
              (status = 422, description = "A field broke a rule, named", body = ErrorBody)))]
pub(crate) async fn add_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    raw: Bytes,
) -> Result<impl IntoResponse, ApiError> {
    let request: NewUser = body::json(&raw)?;
    validate_username(&request.username).map_err(field_error)?;
    validate_password(&request.password).map_err(field_error)?;
    let now = OffsetDateTime::now_utc();
    let user = User {
        username: request.username.clone(),
        role: request.role,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    let stored = StoredUser {
        user: user.clone(),
        password_hash: hash(request.password).await?,
    };
    match state.store.insert_user(&stored).await {
        Ok(()) => {}
        Err(meshbench_store::Error::Conflict { .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "user_exists",
                format!("user `{}` exists already", user.username),
            ))
        }
        Err(e) => return Err(e.into()),
    }
    let event = Event::ok("user.add")
        .subject(user.username.clone())
        .detail(user.role.to_string());
    audit::record(&state, &caller, event).await;
    Ok((StatusCode::CREATED, Json(user)))
}

/// What to change about a user; absent fields stay as they are.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct UserChange {
    /// A new role.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    role: Option<Role>,
    /// Disable (their sessions and tokens stop working at once) or enable.
    #[serde(default)]
    disabled: Option<bool>,
    /// A new password (at least 10 characters).
    #[serde(default)]
    password: Option<String>,
}

/// Change a user's role, password or whether they are disabled. An admin cannot take their
/// own admin role away or disable themselves (someone must be left to undo it).
#[utoipa::path(patch, path = "/users/{username}", tag = "admin", request_body = UserChange,
    params(("username" = String, Path, description = "The user's name")),
    responses((status = 200, body = User),
              (status = 400, description = "Not a JSON object", body = ErrorBody),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Not an admin", body = ErrorBody),
              (status = 404, description = "`user_not_found`", body = ErrorBody),
              (status = 409, description = "`last_admin`: the change would lock every admin out", body = ErrorBody),
              (status = 413, description = "The body is over 2 MiB", body = ErrorBody),
              (status = 422, description = "A field broke a rule, named", body = ErrorBody)))]
pub(crate) async fn update_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(username): Path<String>,
    raw: Bytes,
) -> Result<Json<User>, ApiError> {
    let change: UserChange = body::json(&raw)?;
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "user_not_found",
            format!("no user `{username}`"),
        )
    };
    let Some(current) = state.store.get_user(&username).await? else {
        return Err(not_found());
    };
    if let Some(password) = &change.password {
        validate_password(password).map_err(field_error)?;
    }
    let demotes = change.role.is_some_and(|r| r != Role::Admin) || change.disabled == Some(true);
    if demotes && current.user.role == Role::Admin && !current.user.disabled {
        let admins = state
            .store
            .list_users()
            .await?
            .into_iter()
            .filter(|u| u.role == Role::Admin && !u.disabled)
            .count();
        if admins <= 1 {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "last_admin",
                format!("`{username}` is the last active admin: add another admin first"),
            ));
        }
    }
    let mut what = Vec::new();
    if let Some(role) = change.role {
        what.push(format!("role {role}"));
    }
    if let Some(disabled) = change.disabled {
        what.push(if disabled { "disabled" } else { "enabled" }.to_string());
    }
    let password_hash = match change.password {
        Some(password) => {
            what.push("password".to_string());
            Some(hash(password).await?)
        }
        None => None,
    };
    let update = UserUpdate {
        password_hash,
        role: change.role,
        disabled: change.disabled,
    };
    if !state.store.update_user(&username, &update).await? {
        return Err(not_found());
    }
    let event = Event::ok("user.update")
        .subject(username.clone())
        .detail(if what.is_empty() {
            "nothing".to_string()
        } else {
            what.join(", ")
        });
    audit::record(&state, &caller, event).await;
    state
        .store
        .get_user(&username)
        .await?
        .map(|u| Json(u.user))
        .ok_or_else(not_found)
}

/// The parameters of `GET /audit`, for the API documentation.
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct AuditQuery {
    /// Page size, 1–1000 (default 20).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
    /// Entries to skip.
    #[param(maximum = 2147483647)]
    offset: Option<u32>,
    /// Only this user's.
    username: Option<String>,
    /// Only this action (`benchmark.start`), or every action under a prefix ending in a dot
    /// (`benchmark.`).
    action: Option<String>,
}

/// The audit log, newest first: who started, cancelled or deleted what, against which
/// target, from which address, when — refused attempts included. The total matching is in
/// `x-total-count`.
#[utoipa::path(get, path = "/audit", tag = "admin",
    params(AuditQuery),
    responses((status = 200, description = "Entries: audit_id, at, username, role, action, subject, target, address, outcome (`ok` or `refused`), detail", body = [Object]),
              (status = 401, description = "Not logged in", body = ErrorBody),
              (status = 403, description = "Not an admin", body = ErrorBody),
              (status = 422, description = "`limit` or `offset` out of range", body = ErrorBody)))]
pub(crate) async fn audit_log(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<impl IntoResponse, ApiError> {
    let (limit, offset) = paging(&query)?;
    let nonempty = |key: &str| {
        query
            .get(key)
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let filter = AuditFilter {
        username: nonempty("username"),
        action: nonempty("action"),
    };
    let total = state.store.count_audit(&filter).await?;
    let entries = state.store.list_audit(&filter, limit, offset).await?;
    Ok((total_count(total), Json(entries)))
}
