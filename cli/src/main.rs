//! `socialscalr`: the all-in-one dev server, migrations and admin commands on the store.

mod admin;
mod dev;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use admin::{Limit, parse_limit};
use clap::{Parser, Subcommand};
use socialscalr_core::model::{NewToken, Role, Scope};
use socialscalr_core::plan::Plan;

#[derive(Parser)]
#[command(
    name = "socialscalr",
    version,
    about = "Multi-tenant REST API and signed webhooks"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args, Clone)]
pub struct StoreArgs {
    /// Data directory of an embedded (SQLite) installation; else DATABASE_URL, else
    /// ./.socialscalr.
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the API, the dispatcher and the schedulers in one process on an embedded
    /// database.
    Dev {
        /// Address to serve the API on [env: LISTEN_ADDR] [default: 127.0.0.1:8080].
        #[arg(long, value_name = "ADDR")]
        listen: Option<SocketAddr>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Applies pending schema migrations.
    Migrate {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Manages workspaces.
    Workspace {
        #[command(subcommand)]
        command: WorkspaceCommand,
    },
    /// Manages API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum WorkspaceCommand {
    /// Creates a workspace.
    Create {
        /// A slug: lowercase letters, digits and '-'.
        name: String,
        /// free, starter, pro or agency.
        #[arg(long, value_parser = parse_plan)]
        plan: Plan,
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Moves a workspace to another plan; emits subscription.created with previous_plan.
    SetPlan {
        /// The workspace's name or id.
        name_or_id: String,
        #[arg(long, value_parser = parse_plan)]
        plan: Plan,
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Overrides a workspace's limits; `plan` returns one to its plan's figure.
    SetLimits {
        /// The workspace's name or id.
        name_or_id: String,
        /// REST requests per rolling minute, or `plan`.
        #[arg(long, value_parser = parse_limit)]
        requests_per_minute: Option<Limit>,
        /// Webhook deliveries per rolling minute, or `plan`.
        #[arg(long, value_parser = parse_limit)]
        webhook_events_per_minute: Option<Limit>,
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Cancels a workspace: its tokens stop working; emits subscription.cancelled.
    Cancel {
        /// The workspace's name or id.
        name_or_id: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Manages the members of a workspace.
    Member {
        #[command(subcommand)]
        command: MemberCommand,
    },
}

#[derive(Subcommand)]
enum MemberCommand {
    /// Adds a member; emits team.member_added.
    Add {
        /// The workspace's name or id.
        name_or_id: String,
        #[arg(long)]
        email: String,
        #[arg(long, value_parser = parse_role, default_value = "member")]
        role: Role,
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Removes a member; emits team.member_removed.
    Remove {
        /// The workspace's name or id.
        name_or_id: String,
        #[arg(long)]
        email: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists the members of a workspace.
    List {
        /// The workspace's name or id.
        name_or_id: String,
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Issues an API token; it is printed once and only its hash is stored.
    Create {
        /// The workspace's name or id.
        #[arg(long, value_name = "NAME_OR_ID")]
        workspace: String,
        /// What the token is for.
        #[arg(long, default_value = "cli")]
        name: String,
        /// A scope such as leads:read or webhooks:write (repeatable); default: read and
        /// write on every resource.
        #[arg(long = "scope", value_name = "SCOPE", value_parser = parse_scope)]
        scopes: Vec<Scope>,
        /// An admin token: every scope, token management included.
        #[arg(long, conflicts_with = "scopes")]
        admin: bool,
        /// The agency seat the token belongs to.
        #[arg(long)]
        seat: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
    /// Lists a workspace's tokens (never their secrets).
    List {
        #[arg(long, value_name = "NAME_OR_ID")]
        workspace: String,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Issues a successor; the old token keeps working for the grace period.
    Rotate {
        /// The token's id (tok_...).
        id: String,
        #[arg(long, value_name = "NAME_OR_ID")]
        workspace: String,
        /// How long the old token keeps working, e.g. 2h [default: 24h or
        /// SOCIALSCALR_TOKEN_ROTATION_GRACE].
        #[arg(long, value_parser = parse_duration)]
        grace: Option<Duration>,
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        json: bool,
    },
    /// Revokes a token at once.
    Revoke {
        /// The token's id (tok_...).
        id: String,
        #[arg(long, value_name = "NAME_OR_ID")]
        workspace: String,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    text.parse()
        .map_err(|e: socialscalr_core::model::UnknownScope| e.to_string())
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    socialscalr_core::duration::parse(text).map_err(|e| format!("`{text}` {e}"))
}

fn parse_plan(text: &str) -> Result<Plan, String> {
    text.parse()
        .map_err(|e: socialscalr_core::plan::UnknownPlan| e.to_string())
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
        .map_err(|e: socialscalr_core::model::UnknownRole| e.to_string())
}

async fn workspace_command(command: WorkspaceCommand) -> anyhow::Result<()> {
    match command {
        WorkspaceCommand::Create {
            name,
            plan,
            store,
            json,
        } => admin::create_workspace(&store, &name, plan, json).await,
        WorkspaceCommand::SetPlan {
            name_or_id,
            plan,
            store,
            json,
        } => admin::set_plan(&store, &name_or_id, plan, json).await,
        WorkspaceCommand::SetLimits {
            name_or_id,
            requests_per_minute,
            webhook_events_per_minute,
            store,
            json,
        } => {
            let change = admin::LimitChange {
                requests_per_minute,
                webhook_events_per_minute,
            };
            admin::set_limits(&store, &name_or_id, change, json).await
        }
        WorkspaceCommand::Cancel {
            name_or_id,
            store,
            json,
        } => admin::cancel_workspace(&store, &name_or_id, json).await,
        WorkspaceCommand::Member { command } => match command {
            MemberCommand::Add {
                name_or_id,
                email,
                role,
                store,
                json,
            } => admin::add_member(&store, &name_or_id, &email, role, json).await,
            MemberCommand::Remove {
                name_or_id,
                email,
                store,
                json,
            } => admin::remove_member(&store, &name_or_id, &email, json).await,
            MemberCommand::List {
                name_or_id,
                store,
                json,
            } => admin::list_members(&store, &name_or_id, json).await,
        },
    }
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev { listen, store } => dev::run(listen, store).await,
        Command::Migrate { store } => admin::migrate(&store).await,
        Command::Workspace { command } => workspace_command(command).await,
        Command::Token { command } => match command {
            TokenCommand::Create {
                workspace,
                name,
                scopes,
                admin,
                seat,
                store,
                json,
            } => {
                let scopes = if admin {
                    vec![Scope::Admin]
                } else if scopes.is_empty() {
                    Scope::all_resources()
                } else {
                    scopes
                };
                let new = NewToken {
                    name,
                    scopes,
                    seat,
                    expires_at: None,
                };
                admin::create_token(&store, &workspace, &new, json).await
            }
            TokenCommand::List {
                workspace,
                store,
                json,
            } => admin::list_tokens(&store, &workspace, json).await,
            TokenCommand::Rotate {
                id,
                workspace,
                grace,
                store,
                json,
            } => admin::rotate_token(&store, &workspace, &id, grace, json).await,
            TokenCommand::Revoke {
                id,
                workspace,
                store,
            } => admin::revoke_token(&store, &workspace, &id).await,
        },
    };
    if let Err(error) = result {
        eprintln!("socialscalr: {error:#}");
        std::process::exit(1);
    }
}
