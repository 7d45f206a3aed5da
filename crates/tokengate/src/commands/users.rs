//! `tokengate user ...`: create, list, change and unlock users through `manage`, acting as the
//! local operator (`AdminIdentity::local_operator()`; the self lock-out rule never refuses it:
//! the operator is not a user). Prints; decides nothing.

use super::{CommandError, about_user, read_secret_line};
use crate::cli::UserCommand;
use crate::output::{self, note, print_json, print_line, table};
use tokengate_core::manage::{self, AdminChange, UserUpdate};
use tokengate_core::model::UserView;
use tokengate_core::store::Store;
use tokengate_server::effects;

pub async fn run(
    store: &dyn Store,
    change: &AdminChange<'_>,
    command: UserCommand,
) -> Result<(), CommandError> {
    match command {
        UserCommand::Add {
            name,
            admin,
            password_stdin,
        } => add(store, change, &name, admin, password_stdin).await,
        UserCommand::List { json } => list(store, json).await,
        UserCommand::SetAdmin { name, admin } => {
            let update = UserUpdate {
                admin: Some(admin),
                ..UserUpdate::default()
            };
            let verb = if admin {
                "is now an administrator"
            } else {
                "is no longer an administrator"
            };
            apply(store, change, &name, update, verb).await
        }
        UserCommand::SetEmail { name, email } => {
            let address = Some(email.as_str()).filter(|email| !email.is_empty());
            let update = UserUpdate {
                email: Some(address),
                ..UserUpdate::default()
            };
            let verb = match address {
                Some(_) => "has a new e-mail address",
                None => "has no e-mail address now",
            };
            apply(store, change, &name, update, verb).await
        }
        UserCommand::Disable { name } => {
            let update = UserUpdate {
                disabled: Some(true),
                ..UserUpdate::default()
            };
            apply(store, change, &name, update, "is disabled").await
        }
        UserCommand::Enable { name } => {
            let update = UserUpdate {
                disabled: Some(false),
                ..UserUpdate::default()
            };
            apply(store, change, &name, update, "is enabled").await
        }
        UserCommand::ResetFailedLogins { name } => {
            let reset = manage::reset_failed_logins(store, change, &name).await;
            effects::in_store(store, reset)
                .await
                .map_err(about_user(&name))?;
            print_line(&format!(
                "The failed-login counter of user \"{name}\" is reset and any lock lifted."
            ))?;
            Ok(())
        }
    }
}

async fn add(
    store: &dyn Store,
    change: &AdminChange<'_>,
    name: &str,
    admin: bool,
    password_stdin: bool,
) -> Result<(), CommandError> {
    let password = if password_stdin {
        Some(read_secret_line()?)
    } else {
        None
    };
    let user = manage::create_user(store, change, name, admin, password.as_ref())
        .await
        .map_err(about_user(name))?;
    let role = if user.admin { "administrator" } else { "user" };
    print_line(&format!("Created {role} \"{}\".", user.name))?;
    if user.password_hash.is_none() {
        note(&format!(
            "\"{}\" has no password: they can authenticate with API tokens only.",
            user.name
        ))?;
    }
    Ok(())
}

async fn list(store: &dyn Store, json: bool) -> Result<(), CommandError> {
    let users: Vec<UserView> = store.users().await?.iter().map(UserView::from).collect();
    if json {
        print_json(&users)?;
        return Ok(());
    }
    let yes_no = |flag: bool| if flag { "yes" } else { "no" }.to_owned();
    let rows: Vec<Vec<String>> = users
        .iter()
        .map(|user| {
            vec![
                user.name.clone(),
                yes_no(user.admin),
                yes_no(user.disabled),
                user.failed_logins.to_string(),
                output::time_or(user.locked_until, "-"),
            ]
        })
        .collect();
    output::print(&table(
        &["NAME", "ADMIN", "DISABLED", "FAILED LOGINS", "LOCKED UNTIL"],
        &rows,
    ))?;
    Ok(())
}

async fn apply(
    store: &dyn Store,
    change: &AdminChange<'_>,
    name: &str,
    update: UserUpdate<'_>,
    verb: &str,
) -> Result<(), CommandError> {
    // A new password or disabling ends the user's web sessions, also in a running `serve`
    // (it reads sessions from the same database on every request).
    let updated = manage::update_user(store, change, name, update).await;
    effects::in_store(store, updated)
        .await
        .map_err(about_user(name))?;
    print_line(&format!("User \"{name}\" {verb}."))?;
    Ok(())
}
