//! `tokengate group ...`: local groups and their members through `tokengate_core::manage`
//! (audited with actor `cli`); `list` shows directory groups beside them. Prints; decides
//! nothing.

use super::CommandError;
use crate::cli::GroupCommand;
use crate::output::{self, print_json, print_line, table};
use tokengate_core::manage::{self, AdminChange};
use tokengate_core::store::Store;
use tokengate_server::effects::in_store;

pub async fn run(
    store: &dyn Store,
    change: &AdminChange<'_>,
    command: GroupCommand,
) -> Result<(), CommandError> {
    match command {
        GroupCommand::Add { name } => {
            in_store(store, manage::create_group(store, change, &name, &[]).await).await?;
            print_line(&format!("Created group \"{name}\"."))?;
        }
        GroupCommand::Delete { name } => {
            in_store(store, manage::delete_group(store, change, &name).await).await?;
            print_line(&format!("Deleted group \"{name}\"."))?;
        }
        GroupCommand::AddMember { group, user } => {
            let added =
                manage::change_members(store, change, &group, std::slice::from_ref(&user), &[])
                    .await;
            in_store(store, added).await?;
            print_line(&format!("\"{user}\" is now a member of \"{group}\"."))?;
        }
        GroupCommand::RemoveMember { group, user } => {
            let removed =
                manage::change_members(store, change, &group, &[], std::slice::from_ref(&user))
                    .await;
            in_store(store, removed).await?;
            print_line(&format!("\"{user}\" is no longer a member of \"{group}\"."))?;
        }
        GroupCommand::List { json } => list(store, json).await?,
    }
    Ok(())
}

async fn list(store: &dyn Store, json: bool) -> Result<(), CommandError> {
    let groups = manage::list_groups(store).await?;
    if json {
        print_json(&groups)?;
        return Ok(());
    }
    let rows: Vec<Vec<String>> = groups
        .into_iter()
        .map(|group| vec![group.name, group.source, group.members.join(", ")])
        .collect();
    output::print(&table(&["GROUP", "SOURCE", "MEMBERS"], &rows))?;
    Ok(())
}
