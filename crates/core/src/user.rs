//! People who may use the platform, and what each may do.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{Error, Result};

/// What a user may do; each role may do everything the ones before it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Role {
    /// Reads jobs, results and reports.
    Viewer,
    /// Also starts and cancels benchmarks and probes, generates reports, deploys to a cluster.
    Operator,
    /// Also manages users, tokens and the policy.
    Admin,
}

impl Role {
    /// Every role, least first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = Error;

    fn from_str(s: &str) -> Result<Role> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                Error::invalid("role", format!("`{s}` is not viewer, operator or admin"))
            })
    }
}

/// A user as listed (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    /// The login name: 1–64 of `a-z 0-9 . _ -`, starting with a letter or digit.
    pub username: String,
    /// What the user may do.
    pub role: Role,
    /// A disabled user cannot log in, and their sessions and tokens stop working.
    pub disabled: bool,
    /// When the user was added.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub created_at: OffsetDateTime,
    /// When the password, role or disabled flag last changed.
    #[serde(with = "time::serde::rfc3339")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub updated_at: OffsetDateTime,
}

/// Checks a login name (see [`User::username`]).
pub fn validate_username(name: &str) -> Result<()> {
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "username",
            "must be 1-64 of a-z 0-9 . _ - starting with a letter or digit",
        ))
    }
}

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 10;

/// Checks a new password's length (at least [`MIN_PASSWORD_LEN`] characters, at most 1,024).
pub fn validate_password(password: &str) -> Result<()> {
    let n = password.chars().count();
    if n < MIN_PASSWORD_LEN {
        return Err(Error::invalid(
            "password",
            format!("must be at least {MIN_PASSWORD_LEN} characters"),
        ));
    }
    if n > 1024 {
        return Err(Error::invalid(
            "password",
            "must be at most 1,024 characters",
        ));
    }
    Ok(())
}

/// The environment variable with an operator's limits.
pub const OPERATOR_LIMITS_VAR: &str = "MESHBENCH_OPERATOR_LIMITS";
/// The environment variable with an admin's limits.
pub const ADMIN_LIMITS_VAR: &str = "MESHBENCH_ADMIN_LIMITS";

/// The most one user of a role may ask for, within the server's own limits: a start asking
/// for more is refused (403 naming the limit). `None`: the server's limit alone.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RoleLimits {
    /// Longest run, seconds.
    pub max_duration: Option<u32>,
    /// Most connections of one run.
    pub max_connections: Option<u32>,
    /// Highest open-model rate, requests per second.
    pub max_rate: Option<f64>,
    /// Most runs of theirs pending or running at once.
    pub max_jobs: Option<u32>,
}

impl RoleLimits {
    /// An operator's unless configured: ten minutes, 1,000 connections, 50,000 requests
    /// per second, 50 runs pending or running at once (a lab comparison of five topologies
    /// ten times fits; a queue flood does not).
    pub fn operator_default() -> RoleLimits {
        RoleLimits {
            max_duration: Some(600),
            max_connections: Some(1000),
            max_rate: Some(50_000.0),
            max_jobs: Some(50),
        }
    }

    /// Reads `duration=600,connections=1000,rate=50000,jobs=4` (any of them; `none` or an
    /// empty text: no limits of the role's own).
    pub fn parse(text: &str) -> Result<RoleLimits> {
        let mut limits = RoleLimits::default();
        let text = text.trim();
        if text.is_empty() || text.eq_ignore_ascii_case("none") {
            return Ok(limits);
        }
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (key, value) = entry
                .split_once('=')
                .ok_or_else(|| Error::invalid("limits", format!("`{entry}` is not key=value")))?;
            let whole = || {
                value
                    .trim()
                    .parse::<u32>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| {
                        Error::invalid(
                            "limits",
                            format!("{key}: `{value}` is not a whole number above 0"),
                        )
                    })
            };
            match key.trim() {
                "duration" => limits.max_duration = Some(whole()?),
                "connections" => limits.max_connections = Some(whole()?),
                "jobs" => limits.max_jobs = Some(whole()?),
                "rate" => {
                    let rate = value
                        .trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|r| r.is_finite() && *r > 0.0)
                        .ok_or_else(|| {
                            Error::invalid(
                                "limits",
                                format!("rate: `{value}` is not a number above 0"),
                            )
                        })?;
                    limits.max_rate = Some(rate);
                }
                other => {
                    return Err(Error::invalid(
                        "limits",
                        format!("`{other}` is not duration, connections, rate or jobs"),
                    ))
                }
            }
        }
        Ok(limits)
    }

    /// What a run of `duration` s, `connections` and `rate` breaks: `(field, message)`.
    pub fn check(
        &self,
        role: Role,
        duration: u32,
        connections: u32,
        rate: Option<f64>,
    ) -> Vec<(&'static str, String)> {
        let mut broken = Vec::new();
        if let Some(max) = self.max_duration.filter(|max| duration > *max) {
            broken.push((
                "duration",
                format!("{duration} s is over the {role} limit of {max} s"),
            ));
        }
        if let Some(max) = self.max_connections.filter(|max| connections > *max) {
            broken.push((
                "concurrent_connections",
                format!("{connections} is over the {role} limit of {max}"),
            ));
        }
        if let (Some(max), Some(rate)) = (self.max_rate, rate) {
            if rate > max {
                broken.push((
                    "rate",
                    format!("{rate} req/s is over the {role} limit of {max}"),
                ));
            }
        }
        broken
    }

    /// How the limits read in a start-up line.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(v) = self.max_duration {
            parts.push(format!("duration={v}"));
        }
        if let Some(v) = self.max_connections {
            parts.push(format!("connections={v}"));
        }
        if let Some(v) = self.max_rate {
            parts.push(format!("rate={v}"));
        }
        if let Some(v) = self.max_jobs {
            parts.push(format!("jobs={v}"));
        }
        if parts.is_empty() {
            "none".to_string()
        } else {
            parts.join(",")
        }
    }
}

/// Each role's limits (a viewer starts nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct LimitsByRole {
    /// An operator's.
    pub operator: RoleLimits,
    /// An admin's.
    pub admin: RoleLimits,
}

impl Default for LimitsByRole {
    fn default() -> Self {
        LimitsByRole {
            operator: RoleLimits::operator_default(),
            admin: RoleLimits::default(),
        }
    }
}

impl LimitsByRole {
    /// The limits of `role`.
    pub fn of(&self, role: Role) -> &RoleLimits {
        match role {
            Role::Admin => &self.admin,
            Role::Operator | Role::Viewer => &self.operator,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>().unwrap(), role);
        }
        assert!("root"
            .parse::<Role>()
            .unwrap_err()
            .to_string()
            .contains("role"));
    }

    #[test]
    fn usernames_and_passwords() {
        for good in ["alice", "ci-bot", "a.b_c", "7"] {
            validate_username(good).unwrap();
        }
        for bad in ["", "Alice", "-x", "a b", "é", &"a".repeat(65)] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
        validate_password("correct horse").unwrap();
        assert!(validate_password("short").is_err());
    }

    #[test]
    fn role_limits_parse_and_check() {
        let limits = RoleLimits::parse("duration=60, connections=10,rate=100.5,jobs=2").unwrap();
        assert_eq!(limits.max_duration, Some(60));
        assert_eq!(limits.max_jobs, Some(2));
        assert_eq!(
            limits.describe(),
            "duration=60,connections=10,rate=100.5,jobs=2"
        );
        assert_eq!(RoleLimits::parse("none").unwrap(), RoleLimits::default());
        assert_eq!(RoleLimits::parse("").unwrap().describe(), "none");
        for bad in ["duration", "duration=0", "rate=-1", "rate=inf", "speed=3"] {
            assert!(RoleLimits::parse(bad).is_err(), "{bad}");
        }
        assert!(limits.check(Role::Operator, 60, 10, Some(100.0)).is_empty());
        let broken = limits.check(Role::Operator, 61, 11, Some(101.0));
        let fields: Vec<_> = broken.iter().map(|(f, _)| *f).collect();
        assert_eq!(fields, ["duration", "concurrent_connections", "rate"]);
        assert!(broken[0].1.contains("operator limit of 60 s"));
        assert!(RoleLimits::default()
            .check(Role::Admin, 3600, 10_000, Some(1e6))
            .is_empty());
        let by_role = LimitsByRole::default();
        assert_eq!(by_role.of(Role::Admin), &RoleLimits::default());
        assert_eq!(by_role.of(Role::Operator).max_duration, Some(600));
    }
}
