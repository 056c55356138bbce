//! Subscription and team changes of a workspace named by its name or id, as the CLI makes
//! them now and the operator will when it reconciles Workspace resources. Each change and
//! its event are written by the store in one transaction; this module finds the workspace
//! and turns the store's refusals into errors that name the workspace and the member.
//!
//! Events, delivered to the workspace's own endpoints:
//! - `subscription.created` when a workspace is created (`previous_plan: null`) and when
//!   its plan changes (`previous_plan` set): a plan change starts the subscription of the
//!   new plan, so one event carries both plans. Only agency workspaces receive these.
//! - `subscription.cancelled` when it is cancelled; its tokens stop working.
//! - `team.member_added` and `team.member_removed` when members change.

use crate::model::{Member, NewMember, Workspace};
use crate::plan::Plan;
use crate::store::{Cancellation, PlanChange, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum TenancyError {
    #[error("no workspace named or with id `{0}`")]
    UnknownWorkspace(String),
    #[error("{email} is not a member of workspace `{workspace}`")]
    UnknownMember { email: String, workspace: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = TenancyError> = std::result::Result<T, E>;

/// A member added or removed, with the workspace and the event it emitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberChange {
    pub workspace: Workspace,
    pub member: Member,
    pub event_id: String,
}

/// The workspace with this name or id.
pub async fn find(store: &dyn Store, name_or_id: &str) -> Result<Workspace> {
    store
        .find_workspace(name_or_id)
        .await?
        .ok_or_else(|| TenancyError::UnknownWorkspace(name_or_id.to_owned()))
}

/// Moves the workspace to `plan`; the plan it is already on changes nothing.
pub async fn set_plan(store: &dyn Store, name_or_id: &str, plan: Plan) -> Result<PlanChange> {
    let workspace = find(store, name_or_id).await?;
    Ok(store.change_plan(&workspace.id, plan).await?)
}

/// Cancels the workspace; one already cancelled stays as it is.
pub async fn cancel(store: &dyn Store, name_or_id: &str) -> Result<Cancellation> {
    let workspace = find(store, name_or_id).await?;
    Ok(store.cancel_workspace(&workspace.id).await?)
}

pub async fn members(store: &dyn Store, name_or_id: &str) -> Result<(Workspace, Vec<Member>)> {
    let workspace = find(store, name_or_id).await?;
    let members = store.list_members(&workspace.id).await?;
    Ok((workspace, members))
}

pub async fn add_member(
    store: &dyn Store,
    name_or_id: &str,
    new: &NewMember,
) -> Result<MemberChange> {
    let workspace = find(store, name_or_id).await?;
    let (member, event_id) = store.add_member(&workspace.id, new).await?;
    Ok(MemberChange {
        workspace,
        member,
        event_id,
    })
}

pub async fn remove_member(
    store: &dyn Store,
    name_or_id: &str,
    email: &str,
) -> Result<MemberChange> {
    let workspace = find(store, name_or_id).await?;
    match store.remove_member(&workspace.id, email).await {
        Ok((member, event_id)) => Ok(MemberChange {
            workspace,
            member,
            event_id,
        }),
        Err(StoreError::NotFound("member")) => Err(TenancyError::UnknownMember {
            email: email.to_owned(),
            workspace: workspace.name,
        }),
        Err(error) => Err(error.into()),
    }
}
