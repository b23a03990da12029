//! Runs one IPMI command through `ipmi_rs::Ipmi` and sorts failures into "the BMC is
//! unreachable" (abandon this poll, open a new session next time) and "this command
//! failed" (skip one sensor or record, keep going).

use ipmi_rs::connection::{CompletionErrorCode, IpmiCommand, IpmiConnection};
use ipmi_rs::{Ipmi, IpmiError};

/// Why talking to one BMC failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum BmcError {
    /// No usable answer: timeout, socket error, device error. The session is dropped.
    #[error("{bmc}: {message}")]
    Transport { bmc: String, message: String },
    /// The BMC answered, but not with what the command needs.
    #[error("{bmc}: {command}: {message}")]
    Command {
        bmc: String,
        command: &'static str,
        message: String,
        completion_code: Option<CompletionErrorCode>,
    },
}

impl BmcError {
    pub fn is_transport(&self) -> bool {
        matches!(self, BmcError::Transport { .. })
    }

    pub fn completion_code(&self) -> Option<CompletionErrorCode> {
        match self {
            BmcError::Command {
                completion_code, ..
            } => *completion_code,
            BmcError::Transport { .. } => None,
        }
    }
}

/// Sends `cmd` and decodes the answer.
pub fn exec<CON, C>(
    ipmi: &mut Ipmi<CON>,
    bmc: &str,
    command: &'static str,
    cmd: C,
) -> Result<C::Output, BmcError>
where
    CON: IpmiConnection,
    C: IpmiCommand,
    C::Error: std::fmt::Debug,
{
    let failed = |message: String, completion_code| BmcError::Command {
        bmc: bmc.to_owned(),
        command,
        message,
        completion_code,
    };
    ipmi.send_recv(cmd).map_err(|err| match err {
        IpmiError::Connection(err) => BmcError::Transport {
            bmc: bmc.to_owned(),
            message: format!("{command}: {err:?}"),
        },
        IpmiError::Failed {
            completion_code, ..
        } => failed(
            format!("completion code {completion_code:?}"),
            Some(completion_code),
        ),
        IpmiError::Command {
            error,
            completion_code,
            ..
        } => failed(format!("{error:?}"), completion_code),
        other => failed(format!("{other:?}"), None),
    })
}
