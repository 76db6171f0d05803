//! The supervisor as a service (issue 13): its configuration file, read
//! again on SIGHUP.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::CommandFactory;

use super::Supervisor;
use crate::limits::DEFAULT_SERVER_CONFIG;
use crate::server::config::{ServerArgs, ServerCli, ServerConfig};
use crate::service::config_file::{self, ConfigTool, Layered};

/// What the supervisor keeps to run as a service.
pub(crate) struct Service {
    /// The command line and the configuration file, to read again.
    layered: Layered,
}

/// `ftpserver`'s configuration: the command line `argv` over the file
/// `--config` names, or the default one when it exists.
pub(crate) fn layered(argv: Vec<OsString>, config: Option<PathBuf>) -> Layered {
    Layered::new(ServerCli::command(), argv, config, DEFAULT_SERVER_CONFIG)
}

/// The options and the checked configuration to start with.
pub(crate) fn first_config(layered: &Layered) -> Result<(ServerArgs, ServerConfig), String> {
    let loaded = layered.load::<ServerCli>()?;
    let cfg = loaded.value.server.to_config().map_err(|e| loaded.annotate(e))?;
    Ok((loaded.value.server, cfg))
}

/// `ftpserver config`.
pub(crate) fn config_tool(tool: ConfigTool) -> Result<(), String> {
    let intro = "ftpserver's configuration file (TOML): one key for each option of `ftpserver --help`,\n\
                 named as the option without its dashes. Options given on the command line win over this file.\n\
                 Read at start and again on SIGHUP; `ftpserver config --print` shows the result.\n\
                 Every key below is commented out with its default value.";
    config_file::run_tool::<ServerCli>(ServerCli::command(), tool, DEFAULT_SERVER_CONFIG, intro, |cli| {
        cli.server.to_config().map(drop)
    })
}

impl Service {
    /// The service side of a supervisor started from `layered`.
    pub(crate) fn new(layered: Layered) -> Service {
        Service { layered }
    }
}

impl Supervisor {
    /// The configuration read again (SIGHUP): the file over the defaults,
    /// the command line over both. On success the supervisor keeps the new
    /// options; on failure, nothing changes.
    pub(super) fn reread_config(&mut self) -> Result<ServerConfig, String> {
        let loaded = self.service.layered.load::<ServerCli>()?;
        let cfg = loaded.value.server.to_config().map_err(|e| loaded.annotate(e))?;
        self.args = loaded.value.server;
        Ok(cfg)
    }
}
