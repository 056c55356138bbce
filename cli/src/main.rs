//! `socialscalr`: the all-in-one dev server, migrations and admin commands on the store.

mod admin;
mod dev;

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand};
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
        #[arg(long, value_parser = parse_plan)]
        plan: Plan,
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
        #[command(flatten)]
        store: StoreArgs,
        /// Prints JSON.
        #[arg(long)]
        json: bool,
    },
}

fn parse_plan(text: &str) -> Result<Plan, String> {
    text.parse()
        .map_err(|e: socialscalr_core::plan::UnknownPlan| e.to_string())
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev { listen, store } => dev::run(listen, store).await,
        Command::Migrate { store } => admin::migrate(&store).await,
        Command::Workspace {
            command:
                WorkspaceCommand::Create {
                    name,
                    plan,
                    store,
                    json,
                },
        } => admin::create_workspace(&store, &name, plan, json).await,
        Command::Token {
            command:
                TokenCommand::Create {
                    workspace,
                    name,
                    store,
                    json,
                },
        } => admin::create_token(&store, &workspace, &name, json).await,
    };
    if let Err(error) = result {
        eprintln!("socialscalr: {error:#}");
        std::process::exit(1);
    }
}
