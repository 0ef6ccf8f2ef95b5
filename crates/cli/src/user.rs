//! `meshbench user`: the platform's users, in the store `meshbench serve` uses.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use meshbench_core::user::{validate_password, validate_username, Role, User};
use meshbench_store::{AuditEntry, Store, StoredUser, UserUpdate};
use time::OffsetDateTime;

use crate::args::UserCommand;
use crate::platform::{runtime, settings};

/// Runs one `meshbench user` command.
pub fn run(command: UserCommand) -> anyhow::Result<ExitCode> {
    let settings = settings()?;
    runtime()?.block_on(async move {
        let store = meshbench_store::open(settings.database_url.as_deref(), &settings.data_dir)
            .await
            .context("opening the store")?;
        store.migrate().await.context("migrating the store")?;
        let outcome = execute(&store, command).await;
        store.close().await;
        outcome
    })
}

async fn execute(store: &Arc<dyn Store>, command: UserCommand) -> anyhow::Result<ExitCode> {
    match command {
        UserCommand::Add { username, role } => {
            validate_username(&username)?;
            let role: Role = role.parse()?;
            if store.get_user(&username).await?.is_some() {
                bail!("user `{username}` exists already (change it with `meshbench user passwd` or `role`)");
            }
            let password = read_password(&format!("password for {username}: "))?;
            add(store, &username, role, &password, "cli").await?;
            eprintln!("meshbench: added {username} ({role})");
        }
        UserCommand::List { json } => {
            let users = store.list_users().await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
            } else {
                println!("{:<24} {:<9} {:<9} created", "username", "role", "state");
                for u in &users {
                    let state = if u.disabled { "disabled" } else { "active" };
                    let created = u
                        .created_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default();
                    println!(
                        "{:<24} {:<9} {:<9} {created}",
                        u.username,
                        u.role.as_str(),
                        state
                    );
                }
            }
        }
        UserCommand::Passwd { username } => {
            known(store, &username).await?;
            let password = read_password(&format!("new password for {username}: "))?;
            let hash = meshbench_api::password::hash(&password).map_err(anyhow::Error::msg)?;
            change(
                store,
                &username,
                UserUpdate {
                    password_hash: Some(hash),
                    ..UserUpdate::default()
                },
            )
            .await?;
            eprintln!("meshbench: password of {username} changed");
        }
        UserCommand::Role { username, role } => {
            let role: Role = role.parse()?;
            change(
                store,
                &username,
                UserUpdate {
                    role: Some(role),
                    ..UserUpdate::default()
                },
            )
            .await?;
            eprintln!("meshbench: {username} is now {role}");
        }
        UserCommand::Disable { username } => {
            change(
                store,
                &username,
                UserUpdate {
                    disabled: Some(true),
                    ..UserUpdate::default()
                },
            )
            .await?;
            eprintln!("meshbench: {username} disabled");
        }
        UserCommand::Enable { username } => {
            change(
                store,
                &username,
                UserUpdate {
                    disabled: Some(false),
                    ..UserUpdate::default()
                },
            )
            .await?;
            eprintln!("meshbench: {username} enabled");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Adds `username` as `role` with `password`, and notes it in the audit log as done from
/// `place` (`cli`, or `serve` for the first admin).
pub(crate) async fn add(
    store: &Arc<dyn Store>,
    username: &str,
    role: Role,
    password: &str,
    place: &str,
) -> anyhow::Result<()> {
    validate_username(username)?;
    validate_password(password)?;
    let now = OffsetDateTime::now_utc();
    let user = StoredUser {
        user: User {
            username: username.to_string(),
            role,
            disabled: false,
            created_at: now,
            updated_at: now,
        },
        password_hash: meshbench_api::password::hash(password).map_err(anyhow::Error::msg)?,
    };
    store
        .insert_user(&user)
        .await
        .with_context(|| format!("adding user `{username}`"))?;
    audit(store, "user.add", username, role.as_str(), place).await;
    Ok(())
}

/// A line in the audit log for a change made on this host rather than through the API.
async fn audit(store: &Arc<dyn Store>, action: &str, username: &str, detail: &str, place: &str) {
    let entry = AuditEntry {
        audit_id: 0,
        at: OffsetDateTime::now_utc(),
        username: None,
        role: None,
        action: action.to_string(),
        subject: Some(username.to_string()),
        target: None,
        address: Some(place.to_string()),
        outcome: "ok".to_string(),
        detail: Some(detail.to_string()),
    };
    if let Err(e) = store.insert_audit(&entry).await {
        eprintln!("meshbench: cannot write to the audit log: {e}");
    }
}

async fn known(store: &Arc<dyn Store>, username: &str) -> anyhow::Result<()> {
    if store.get_user(username).await?.is_none() {
        bail!("no user `{username}` (see `meshbench user list`)");
    }
    Ok(())
}

async fn change(store: &Arc<dyn Store>, username: &str, update: UserUpdate) -> anyhow::Result<()> {
    if !store.update_user(username, &update).await? {
        bail!("no user `{username}` (see `meshbench user list`)");
    }
    let mut what = Vec::new();
    if update.password_hash.is_some() {
        what.push("password".to_string());
    }
    if let Some(role) = update.role {
        what.push(format!("role {role}"));
    }
    if let Some(disabled) = update.disabled {
        what.push(if disabled { "disabled" } else { "enabled" }.to_string());
    }
    audit(store, "user.update", username, &what.join(", "), "cli").await;
    Ok(())
}

/// A new password: typed twice without echo at a terminal, else one line of standard input.
fn read_password(prompt: &str) -> anyhow::Result<String> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(prompt).context("reading the password")?;
        let again = rpassword::prompt_password("again: ").context("reading the password")?;
        if first != again {
            bail!("the two passwords differ");
        }
        first
    } else {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("reading the password from standard input")?;
        line.trim_end_matches(['\n', '\r']).to_string()
    };
    validate_password(&password)?;
    Ok(password)
}
