//! `tokengate token ...`: create (the secret printed once), list (never secrets), delete one or
//! all of a user's, through `manage` as the local operator. Prints; decides nothing.

use super::CommandError;
use crate::cli::{AccessArg, CreateTokenArgs, RestrictionArgs, TokenCommand};
use crate::output::{self, note, print_json, print_line, table};
use tokengate_core::allowlist::IpAllowList;
use tokengate_core::manage::{self, AdminChange, ManageError, Scope};
use tokengate_core::model::{TokenFilter, TokenRecord, TokenView, User};
use tokengate_core::restrictions::{Access, Restrictions};
use tokengate_core::store::Store;
use tokengate_core::validity::ValidityRequest;
use tokengate_server::effects;
use tokengate_store::MAX_PAGE_SIZE;

pub async fn run(
    store: &dyn Store,
    change: &AdminChange<'_>,
    command: TokenCommand,
) -> Result<(), CommandError> {
    match command {
        TokenCommand::Create(args) => create(store, change, args).await,
        TokenCommand::List { user, json } => list(store, user, json).await,
        TokenCommand::Delete { id } => {
            let deleted = manage::delete_token(store, Scope::Admin(change), &id).await;
            let deleted = effects::in_store(store, deleted)
                .await
                .map_err(|error| match error {
                    ManageError::NotFound(_) => CommandError::TokenNotFound(id.clone()),
                    other => CommandError::Manage(other),
                })?;
            let token = &deleted.record;
            print_line(&format!(
                "Deleted token {} \"{}\" of user \"{}\".",
                token.id, token.name, token.owner
            ))?;
            if !deleted.also_deleted.is_empty() {
                print_line(&format!(
                    "Also deleted the tokens made by it: {}.",
                    deleted.also_deleted.join(", ")
                ))?;
            }
            Ok(())
        }
        TokenCommand::Restrict { id, restrictions } => {
            let wanted = self::restrictions(&restrictions)?;
            let restricted =
                manage::restrict_token(store, Scope::Admin(change), &id, &wanted, None).await;
            let token =
                effects::in_store(store, restricted)
                    .await
                    .map_err(|error| match error {
                        ManageError::NotFound(_) => CommandError::TokenNotFound(id.clone()),
                        other => CommandError::Manage(other),
                    })?;
            print_line(&format!(
                "Token {} \"{}\" now reaches: {}.",
                token.id,
                token.name,
                describe(&token.restrictions)
            ))?;
            Ok(())
        }
        TokenCommand::Rotate { id, grace, json } => rotate(store, change, &id, grace, json).await,
        TokenCommand::RevokeBefore { before, user } => {
            let revoked = manage::revoke_before(store, change, before, user.as_deref()).await;
            let count =
                effects::in_store(store, revoked)
                    .await
                    .map_err(|error| match (error, &user) {
                        (ManageError::NotFound(_), Some(user)) => {
                            CommandError::UserNotFound(user.clone())
                        }
                        (other, _) => CommandError::Manage(other),
                    })?;
            print_line(&format!(
                "Deleted {count} token(s) created before {}.",
                before.to_rfc3339()
            ))?;
            Ok(())
        }
        TokenCommand::DeleteAll { user } => {
            existing_user(store, &user).await?;
            let count = manage::delete_all_tokens(store, &change.as_change(), &user).await;
            let count = effects::in_store(store, count).await?;
            let noun = if count == 1 { "token" } else { "tokens" };
            print_line(&format!("Deleted {count} {noun} of user \"{user}\"."))?;
            Ok(())
        }
    }
}

/// The restrictions the options ask for (checked by `manage` before anything is stored).
fn restrictions(args: &RestrictionArgs) -> Result<Restrictions, CommandError> {
    let trimmed = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|entry| entry.trim().to_owned())
            .filter(|entry| !entry.is_empty())
            .collect()
    };
    Ok(Restrictions {
        access: match args.access {
            Some(AccessArg::Read) => Access::Read,
            Some(AccessArg::Write) | None => Access::Write,
        },
        paths: trimmed(&args.paths),
        routes: trimmed(&args.routes),
        ip_allowlist: IpAllowList::parse_text(args.ip_allowlist.as_deref().unwrap_or(""))?,
    })
}

async fn rotate(
    store: &dyn Store,
    change: &AdminChange<'_>,
    id: &str,
    grace: Option<String>,
    json: bool,
) -> Result<(), CommandError> {
    let grace = match grace.as_deref() {
        None => chrono::TimeDelta::zero(),
        Some(text) => tokengate_server::config::values::parse_duration(text)
            .ok()
            .and_then(|duration| chrono::TimeDelta::from_std(duration).ok())
            .ok_or(ManageError::InvalidGrace)?,
    };
    let settings = store.settings().await?;
    let rotated =
        manage::rotate_token(store, Scope::Admin(change), id, grace, &settings, None).await;
    let created = effects::in_store(store, rotated)
        .await
        .map_err(|error| match error {
            ManageError::NotFound(_) => CommandError::TokenNotFound(id.to_owned()),
            other => CommandError::Manage(other),
        })?;
    let view = TokenView::from(&created.record).with_secret(&created.secret);
    if json {
        print_json(&view)?;
        return Ok(());
    }
    note(&format!(
        "Rotated token {} \"{}\"; the new secret is shown this once:",
        created.record.id, created.record.name
    ))?;
    print_line(created.secret.expose())?;
    Ok(())
}

/// Restrictions as a person reads them.
fn describe(restrictions: &Restrictions) -> String {
    if restrictions.is_unrestricted() {
        return "everything its owner may".into();
    }
    let mut parts = vec![format!("{} access", restrictions.access.as_str())];
    if !restrictions.paths.is_empty() {
        parts.push(format!("paths {}", restrictions.paths.join(", ")));
    }
    if !restrictions.routes.is_empty() {
        parts.push(format!("routes {}", restrictions.routes.join(", ")));
    }
    if !restrictions.ip_allowlist.is_empty() {
        parts.push(format!(
            "from {}",
            restrictions.ip_allowlist.to_strings().join(", ")
        ));
    }
    parts.join("; ")
}

async fn existing_user(store: &dyn Store, name: &str) -> Result<User, CommandError> {
    store
        .user(name)
        .await?
        .ok_or_else(|| CommandError::UserNotFound(name.to_owned()))
}

async fn create(
    store: &dyn Store,
    change: &AdminChange<'_>,
    args: CreateTokenArgs,
) -> Result<(), CommandError> {
    let owner = existing_user(store, &args.user).await?;
    let settings = store.settings().await?;
    let validity = args.validity.or(args.expires.map(ValidityRequest::Until));
    let restrictions = restrictions(&args.restrictions)?;
    let new = manage::NewToken {
        name: &args.name,
        validity,
        restrictions: &restrictions,
        maker: None,
    };
    let created = manage::create_token(store, &change.as_change(), &owner, &new, &settings).await?;
    let view = TokenView::from(&created.record);
    if args.json {
        print_json(&view.with_secret(&created.secret))?;
        return Ok(());
    }
    print_line(created.secret.expose())?;
    note(&format!(
        "Created token {} \"{}\" for user \"{}\", expires {}.",
        view.id,
        view.name,
        view.owner,
        output::time_or(view.expires_at, "never")
    ))?;
    note("Store this token now; it will not be shown again.")?;
    Ok(())
}

/// Every token matching `owner`, read page by page, in id order.
async fn all_tokens(
    store: &dyn Store,
    owner: Option<String>,
) -> Result<Vec<TokenRecord>, CommandError> {
    let mut tokens = Vec::new();
    let mut filter = TokenFilter {
        owner,
        limit: MAX_PAGE_SIZE,
        ..TokenFilter::default()
    };
    loop {
        let page = store.tokens(&filter).await?;
        let full = page.len() >= MAX_PAGE_SIZE as usize;
        filter.after_id = page.last().map(|token| token.id.clone());
        tokens.extend(page);
        if !full || filter.after_id.is_none() {
            return Ok(tokens);
        }
    }
}

async fn list(store: &dyn Store, user: Option<String>, json: bool) -> Result<(), CommandError> {
    if let Some(name) = &user {
        existing_user(store, name).await?;
    }
    let views: Vec<TokenView> = all_tokens(store, user)
        .await?
        .iter()
        .map(TokenView::from)
        .collect();
    if json {
        print_json(&views)?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = views
        .iter()
        .map(|token| {
            vec![
                token.id.clone(),
                token.owner.clone(),
                token.hint.clone(),
                output::time(token.created_at),
                output::time_or(token.expires_at, "never"),
                output::time_or(token.last_used_at, "never"),
                output::or_dash(token.last_used_ip.as_deref()),
                token.name.clone(),
            ]
        })
        .collect();
    output::print(&table(
        &[
            "ID",
            "OWNER",
            "TOKEN",
            "CREATED",
            "EXPIRES",
            "LAST USED",
            "FROM",
            "NAME",
        ],
        &rows,
    ))?;
    Ok(())
}
