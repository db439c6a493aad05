//! The `ferry` command line.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

pub mod args;
pub mod bundle;
pub mod check;
mod cluster;
pub mod connect;
pub mod discover;
mod loopback;
pub mod map;
pub mod plugin_test;
pub mod plugins;
pub mod report;
pub mod safe;
pub mod scaffold;
pub mod schema;
mod secret_file;
pub mod serve;
pub mod sync;
pub mod test;
pub mod triggers;
pub mod validate;
pub mod view;
mod worker;

/// Ferry keeps billing and CRM systems in step.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// How logs go to stderr: `text`, or `json` (one object a line). Their
    /// level follows `RUST_LOG` (default: `info` for `serve`, else `warn`).
    #[arg(
        long,
        global = true,
        value_enum,
        default_value = "text",
        env = "FERRY_LOG_FORMAT"
    )]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn init_logs(format: LogFormat, default_level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    use std::io::IsTerminal;
    use tracing_subscriber::field::MakeExt;
    let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr);
    let _ = match format {
        // Log messages carry vendor and plugin text (reasons, errors):
        // every field is escaped before it reaches a terminal.
        LogFormat::Text => builder
            .fmt_fields(
                tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
                    let value = format!("{value:?}");
                    let value = safe::line(&value);
                    if field.name() == "message" {
                        write!(w, "{value}")
                    } else {
                        write!(w, "{field}={value}")
                    }
                })
                .delimited(" "),
            )
            .try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Get a connection's refresh token from Zoho (a pasted grant code, or
    /// the browser) and keep it in a `file:` secret.
    Connect(connect::Args),
    /// Try each connection: credentials, organisation, and every module
    /// the workspace uses.
    Check(check::Args),
    /// Check a workspace: print every problem, or a summary of what it defines.
    Validate(validate::Args),
    /// Show what a sync or trigger makes of a record.
    Map(map::Args),
    /// Run the workspace's config tests (`*.test.yaml`).
    Test(test::Args),
    /// Work with connector plugins (WebAssembly components).
    #[command(subcommand)]
    Plugins(plugins::Command),
    /// Run syncs, pause and resume them, retry failed records.
    #[command(subcommand)]
    Sync(sync::Command),
    /// What syncs and trigger rules did: runs, and the per-record ledger of a run.
    History(sync::HistoryArgs),
    /// Run every sync and trigger rule of the workspace once (each vendor
    /// module read once).
    Run(triggers::WorkspaceArgs),
    /// Run trigger rules.
    #[command(subcommand)]
    Triggers(triggers::TriggersCommand),
    /// The link table: list, add or remove links by hand.
    #[command(subcommand)]
    Links(triggers::LinksCommand),
    /// Run as a service: schedules, instant runs on vendor notifications,
    /// the admin API, metrics.
    Serve(serve::ServeArgs),
    /// API tokens of `ferry serve` (stored hashed).
    #[command(subcommand)]
    Tokens(serve::TokensCommand),
    /// A cluster of workers on PostgreSQL (`ferry serve --workspaces`).
    #[command(subcommand)]
    Cluster(cluster::ClusterCommand),
    /// Describe connections live (modules, fields, custom fields) and keep
    /// it in the state for `validate`, `test` and `map`.
    Discover(discover::Args),
}

/// `ferry --version`: the version, the contracts it loads, and the
/// connectors it carries.
fn version_text() -> String {
    let mut text = format!(
        "{}\ncontracts: {}",
        env!("CARGO_PKG_VERSION"),
        crate::connector::SUPPORTED_CONTRACTS.join(", ")
    );
    match bundle::carried() {
        Some(b) => {
            let mut names: Vec<String> = crate::connector::Manifest::load_dir(&b.connectors)
                .map(|ms| {
                    ms.into_iter()
                        .map(|m| format!("{} ({})", m.name, m.contract))
                        .collect()
                })
                .unwrap_or_default();
            names.sort();
            text.push_str(&format!(
                "\nconnectors carried ({}): {}",
                b.connectors.display(),
                names.join(", ")
            ));
        }
        None => text.push_str("\nconnectors carried: none (give `--connectors`)"),
    }
    text
}

/// The exit codes of commands that run syncs and rules.
pub mod exit {
    use std::process::ExitCode;

    /// 0: every run completed. 1: a run failed or could not start (its
    /// reason is printed). 2: the runs finished, but some records failed
    /// for good — not a success a script should take for one.
    pub const RECORDS_FAILED: u8 = 2;

    pub fn records_failed() -> ExitCode {
        ExitCode::from(RECORDS_FAILED)
    }
}

/// Entry point of the `ferry` binary.
pub fn main() -> ExitCode {
    // `--version` names the connectors this binary carries, found at run
    // time (clap wants the text for the life of the program).
    let version: &'static str = Box::leak(version_text().into_boxed_str());
    let matches = Cli::command().long_version(version).get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let level = if matches!(cli.command, Command::Serve(_)) {
        "info"
    } else {
        "warn"
    };
    init_logs(cli.log_format, level);
    match cli.command {
        Command::Connect(a) => connect::run(a),
        Command::Check(a) => check::run(a),
        Command::Validate(a) => validate::run(a),
        Command::Map(a) => map::run(a),
        Command::Test(a) => test::run(a),
        Command::Plugins(c) => plugins::run(c),
        Command::Sync(c) => sync::run(c),
        Command::History(h) => sync::history(h),
        Command::Run(w) => triggers::run_workspace(w),
        Command::Triggers(c) => triggers::triggers(c),
        Command::Links(c) => triggers::links(c),
        Command::Serve(a) => serve::serve(a),
        Command::Tokens(c) => serve::tokens(c),
        Command::Cluster(c) => cluster::cluster(c),
        Command::Discover(a) => discover::run(a),
    }
}
