//! The one error type of the xtask: every variant names what failed and, where
//! there is one, the tool and its own message.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::process::ExitStatus;

use crate::json::JsonError;

/// Why an xtask command failed.
#[derive(Debug)]
pub enum Error {
    /// Bad command-line input: the caller prints usage and exits with 2.
    Usage(String),
    /// A file-system operation failed.
    Io {
        /// What was being done, e.g. "reading target/ptx/x.ptx".
        action: String,
        /// The underlying error.
        source: io::Error,
    },
    /// A program could not be started at all.
    Spawn {
        /// The program's name or path.
        tool: String,
        /// The underlying error (usually "not found").
        source: io::Error,
    },
    /// A program ran and exited unsuccessfully.
    ToolFailed {
        /// Short name of the tool ("llvm-link", "ptxas", "cargo test").
        tool: String,
        /// The command line, for rerunning by hand.
        command: String,
        /// Its exit status.
        status: ExitStatus,
        /// What it printed (stderr, then stdout); empty when its output went
        /// straight to the terminal.
        output: String,
    },
    /// ptxas rejected a PTX file.
    Ptxas {
        /// The PTX file ptxas was given.
        file: PathBuf,
        /// ptxas's exit status.
        status: ExitStatus,
        /// ptxas's own message.
        message: String,
    },
    /// `--deny-spills` and ptxas reported spill bytes.
    Spills {
        /// One line per function that spills.
        functions: Vec<String>,
    },
    /// A required tool is not installed.
    Missing {
        /// What is missing.
        what: String,
        /// How to get it.
        hint: String,
    },
    /// A program printed JSON we could not read.
    Json {
        /// Whose output it was.
        what: String,
        /// Where the JSON was bad.
        source: JsonError,
    },
    /// Anything else that is wrong with inputs or outputs (a PTX file for
    /// the wrong target, an unknown package, ...).
    Invalid(String),
}

impl Error {
    /// Wrap an I/O error with what was being done.
    pub fn io(action: impl Into<String>) -> impl FnOnce(io::Error) -> Error {
        let action = action.into();
        move |source| Error::Io { action, source }
    }
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(msg) => write!(f, "{msg}"),
            Error::Io { action, source } => write!(f, "{action}: {source}"),
            Error::Spawn { tool, source } => write!(f, "could not run `{tool}`: {source}"),
            Error::ToolFailed { tool, command, status, output } => {
                write!(f, "{tool} failed ({status})\n  command: {command}")?;
                let output = output.trim_end();
                if !output.is_empty() {
                    write!(f, "\n{output}")?;
                }
                Ok(())
            }
            Error::Ptxas { file, status, message } => {
                write!(f, "ptxas rejected {} ({status}):\n{}", file.display(), message.trim_end())
            }
            Error::Spills { functions } => {
                write!(f, "--deny-spills: ptxas reports register spills in:")?;
                for line in functions {
                    write!(f, "\n  {line}")?;
                }
                Ok(())
            }
            Error::Missing { what, hint } => write!(f, "{what} not found: {hint}"),
            Error::Json { what, source } => write!(f, "could not read the JSON from {what}: {source}"),
            Error::Invalid(msg) => write!(f, "{msg}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } | Error::Spawn { source, .. } => Some(source),
            Error::Json { source, .. } => Some(source),
            _ => None,
        }
    }
}
