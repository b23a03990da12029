//! The `[ipmi]` configuration section: the in-band device, the BMCs reached over
//! RMCP+ (`[[ipmi.lan]]`), the bounds that keep a hung BMC from piling up work, and
//! which backend talks to them (our own RMCP+/ioctl code, or ipmitool or FreeIPMI).

use super::lanplus::Privilege;
use crate::config::{check_range, invalid, ConfigError};
use crate::duration;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// `[ipmi]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IpmiConfig {
    pub enabled: bool,
    /// How often each BMC is polled (sensors, SEL).
    #[serde(deserialize_with = "duration::deserialize")]
    pub interval: Duration,
    /// The in-band IPMI device (kernel modules `ipmi_si` + `ipmi_devintf`).
    pub local_device: PathBuf,
    /// How long one request may wait for its answer.
    #[serde(deserialize_with = "duration::deserialize")]
    pub timeout: Duration,
    /// How many times a request is re-sent after a timeout.
    pub retries: u32,
    /// BMCs reached over the network (RMCP+, cipher suite 3).
    pub lan: Vec<LanTarget>,
    /// Who talks to the BMCs: `native` (built in), `ipmitool` or `freeipmi`.
    pub backend: Backend,
    /// Where the external tools are; unset, `PATH` and the sbin directories.
    pub tool_dir: Option<PathBuf>,
    /// How long one external tool command may run before it is killed.
    #[serde(deserialize_with = "duration::deserialize")]
    pub command_timeout: Duration,
    /// Whether the external-tool backends read the DCMI power reading.
    pub dcmi: bool,
}

/// The backend that talks to the BMCs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// Our own RMCP+ session and the in-band device, through ipmi-rs.
    #[default]
    Native,
    /// `ipmitool`, for BMCs the native path cannot talk to (cipher suite 17, odd
    /// firmware) or hosts that standardise on it.
    Ipmitool,
    /// FreeIPMI's `ipmi-sensors`, `ipmi-sel`, `ipmi-dcmi` and `bmc-info`.
    Freeipmi,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Native => "native",
            Backend::Ipmitool => "ipmitool",
            Backend::Freeipmi => "freeipmi",
        }
    }
}

/// One `[[ipmi.lan]]` BMC.
#[derive(Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LanTarget {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    pub username: String,
    pub password: String,
    /// The session's privilege: `user` (enough for sensors and the SEL), `operator`
    /// or `administrator`.
    #[serde(default)]
    pub privilege: PrivilegeName,
    /// The RMCP+ cipher suite the external tools ask for (`-C`/`-I`); the native
    /// backend speaks suite 3 only.
    #[serde(default)]
    pub cipher_suite: Option<u8>,
    /// FreeIPMI workaround flags (`-W`), e.g. `opensesspriv`.
    #[serde(default)]
    pub workarounds: Vec<String>,
}

/// The privilege names accepted in the config file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrivilegeName {
    #[default]
    User,
    Operator,
    #[serde(alias = "admin")]
    Administrator,
}

impl PrivilegeName {
    pub fn level(self) -> Privilege {
        match self {
            PrivilegeName::User => Privilege::User,
            PrivilegeName::Operator => Privilege::Operator,
            PrivilegeName::Administrator => Privilege::Administrator,
        }
    }
}

fn default_port() -> u16 {
    623
}

impl std::fmt::Debug for LanTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LanTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("privilege", &self.privilege)
            .field("cipher_suite", &self.cipher_suite)
            .field("workarounds", &self.workarounds)
            .finish()
    }
}

impl LanTarget {
    /// `host:port`, the BMC's name in logs, labels and the SEL cursor file.
    pub fn name(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl Default for IpmiConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(60),
            local_device: PathBuf::from("/dev/ipmi0"),
            timeout: Duration::from_secs(2),
            retries: 2,
            lan: Vec::new(),
            backend: Backend::Native,
            tool_dir: None,
            command_timeout: Duration::from_secs(30),
            dcmi: true,
        }
    }
}

impl IpmiConfig {
    /// Checks every value; the error names the first bad key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        check_range(
            "ipmi.interval",
            self.interval,
            Duration::from_secs(1),
            Duration::from_secs(3600),
        )?;
        check_range(
            "ipmi.timeout",
            self.timeout,
            Duration::from_millis(50),
            Duration::from_secs(60),
        )?;
        if self.retries > 10 {
            return Err(invalid("ipmi.retries", "must be at most 10"));
        }
        // A poll that may take longer than the interval would pile up behind itself.
        if self.timeout * (self.retries + 1) >= self.interval {
            return Err(invalid(
                "ipmi.timeout",
                "timeout × (retries + 1) must be shorter than ipmi.interval",
            ));
        }
        if self.local_device.as_os_str().is_empty() {
            return Err(invalid("ipmi.local_device", "must not be empty"));
        }
        check_range(
            "ipmi.command_timeout",
            self.command_timeout,
            Duration::from_secs(1),
            Duration::from_secs(600),
        )?;
        // The tool runs on the BMC's own thread, but a command that outlives the
        // interval would still let polls fall behind.
        if self.backend != Backend::Native && self.command_timeout >= self.interval {
            return Err(invalid(
                "ipmi.command_timeout",
                "must be shorter than ipmi.interval",
            ));
        }
        if self.tool_dir.as_ref().is_some_and(|d| !d.is_absolute()) {
            return Err(invalid("ipmi.tool_dir", "must be an absolute path"));
        }
        for (i, target) in self.lan.iter().enumerate() {
            let key = |k: &str| format!("ipmi.lan[{i}].{k}");
            if target.host.trim().is_empty() {
                return Err(invalid(key("host"), "must not be empty"));
            }
            if target.port == 0 {
                return Err(invalid(key("port"), "must not be 0"));
            }
            if target.username.is_empty() || target.username.len() > 16 {
                return Err(invalid(
                    key("username"),
                    "must be 1 to 16 bytes (IPMI limit)",
                ));
            }
            if target.password.len() > 20 {
                return Err(invalid(
                    key("password"),
                    "must be at most 20 bytes (IPMI v2.0 limit)",
                ));
            }
            // The password goes to the tools in a file, one line; FreeIPMI's config
            // file splits its values at blanks and comments at '#'.
            if target.password.contains(['\n', '\r']) {
                return Err(invalid(key("password"), "must not contain a line break"));
            }
            if self.backend == Backend::Freeipmi
                && target
                    .password
                    .contains(|c: char| c.is_whitespace() || c == '#' || c == '"')
            {
                return Err(invalid(
                    key("password"),
                    "with backend = \"freeipmi\", must not contain blanks, '#' or '\"'",
                ));
            }
            match (self.backend, target.cipher_suite) {
                (_, None) | (Backend::Native, Some(3)) => {}
                (Backend::Native, Some(_)) => {
                    return Err(invalid(
                        key("cipher_suite"),
                        "the native backend speaks cipher suite 3 only; use backend = \"ipmitool\" or \"freeipmi\" for others",
                    ))
                }
                (_, Some(suite)) if suite > 19 => {
                    return Err(invalid(key("cipher_suite"), "must be 0 to 19"))
                }
                _ => {}
            }
            if !target.workarounds.is_empty() && self.backend != Backend::Freeipmi {
                return Err(invalid(
                    key("workarounds"),
                    "FreeIPMI workaround flags need backend = \"freeipmi\"",
                ));
            }
            if let Some(bad) = target
                .workarounds
                .iter()
                .find(|w| w.is_empty() || !w.chars().all(|c| c.is_ascii_alphanumeric()))
            {
                return Err(invalid(
                    key("workarounds"),
                    format!("{bad:?} is not a FreeIPMI workaround flag"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<IpmiConfig, String> {
        let config: IpmiConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        config.validate().map_err(|e| e.to_string())?;
        Ok(config)
    }

    #[test]
    fn defaults_and_a_lan_target() {
        let config = parse("").expect("defaults valid");
        assert_eq!(config.interval, Duration::from_secs(60));
        assert_eq!(config.local_device, PathBuf::from("/dev/ipmi0"));
        let config = parse(
            "interval = \"30s\"\n[[lan]]\nhost = \"10.0.0.5\"\nusername = \"monitor\"\npassword = \"pw-secret\"\n",
        )
        .expect("valid");
        assert_eq!(config.lan[0].port, 623);
        assert_eq!(config.lan[0].privilege, PrivilegeName::User);
        assert_eq!(config.lan[0].name(), "10.0.0.5:623");
        assert!(
            !format!("{config:?}").contains("pw-secret"),
            "password redacted"
        );
    }

    #[test]
    fn errors_name_the_key() {
        let err = parse("interval = \"500ms\"").expect_err("too short");
        assert!(err.starts_with("ipmi.interval:"), "{err}");
        let err = parse("interval = \"5s\"\ntimeout = \"2s\"").expect_err("piles up");
        assert!(err.starts_with("ipmi.timeout:"), "{err}");
        let err = parse("[[lan]]\nhost = \"\"\nusername = \"u\"\npassword = \"p\"")
            .expect_err("empty host");
        assert!(err.starts_with("ipmi.lan[0].host:"), "{err}");
        let err = parse(
            "[[lan]]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\nprivilege = \"root\"",
        )
        .expect_err("unknown privilege");
        assert!(err.contains("root"), "{err}");
        let err =
            parse("[[lan]]\nhost = \"h\"\nusername = \"u\"\npasword = \"p\"").expect_err("typo");
        assert!(err.contains("pasword"), "{err}");
    }

    #[test]
    fn tool_backends() {
        let config = parse("backend = \"ipmitool\"\n[[lan]]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\ncipher_suite = 17\n")
            .expect("valid");
        assert_eq!(config.backend, Backend::Ipmitool);
        assert_eq!(config.lan[0].cipher_suite, Some(17));
        assert_eq!(
            parse("").map(|c| (c.backend, c.dcmi)),
            Ok((Backend::Native, true))
        );
        let err =
            parse("[[lan]]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\ncipher_suite = 17\n")
                .expect_err("native speaks suite 3");
        assert!(err.starts_with("ipmi.lan[0].cipher_suite:"), "{err}");
        let err = parse("backend = \"ipmitool\"\n[[lan]]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\nworkarounds = [\"opensesspriv\"]\n")
            .expect_err("workarounds are FreeIPMI's");
        assert!(err.starts_with("ipmi.lan[0].workarounds:"), "{err}");
        let err = parse("backend = \"freeipmi\"\n[[lan]]\nhost = \"h\"\nusername = \"u\"\npassword = \"p\"\nworkarounds = [\"a,b\"]\n")
            .expect_err("one flag per entry");
        assert!(err.starts_with("ipmi.lan[0].workarounds:"), "{err}");
        let err = parse("backend = \"freeipmi\"\ninterval = \"20s\"\ncommand_timeout = \"30s\"")
            .expect_err("outlives the interval");
        assert!(err.starts_with("ipmi.command_timeout:"), "{err}");
        let err = parse("backend = \"snmp\"").expect_err("unknown backend");
        assert!(err.contains("snmp"), "{err}");
        let err = parse("tool_dir = \"bin\"").expect_err("relative");
        assert!(err.starts_with("ipmi.tool_dir:"), "{err}");
    }
}
