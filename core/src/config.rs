//! Configuration read from the environment. A bad value is an error that names the
//! variable, so that a process refuses to start with a one-line reason.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::crypto::{CryptoError, SecretBox};
use crate::ratelimit::{Limiter, LimiterError};
use crate::retry::{RetrySchedule, ScheduleError};

pub const DATABASE_URL: &str = "DATABASE_URL";
pub const LISTEN_ADDR: &str = "LISTEN_ADDR";
pub const SECRET_KEY: &str = "SOCIALSCALR_SECRET_KEY";
pub const RETRY_SCHEDULE: &str = "SOCIALSCALR_RETRY_SCHEDULE";
pub const ALLOW_LOOPBACK_TARGETS: &str = "SOCIALSCALR_ALLOW_LOOPBACK_TARGETS";
pub const ROTATION_GRACE: &str = "SOCIALSCALR_TOKEN_ROTATION_GRACE";
pub const POST_GRACE: &str = "SOCIALSCALR_POST_GRACE";
pub const SCHEDULER_INTERVAL: &str = "SOCIALSCALR_SCHEDULER_INTERVAL";
pub const DISPATCH_LEASE: &str = "SOCIALSCALR_DISPATCH_LEASE";
pub const DISPATCH_CONCURRENCY: &str = "SOCIALSCALR_DISPATCH_CONCURRENCY";
pub const DISPATCH_POLL_INTERVAL: &str = "SOCIALSCALR_DISPATCH_POLL_INTERVAL";
pub const REDIS_URL: &str = "REDIS_URL";
pub const METRICS_ADDR: &str = "METRICS_ADDR";
pub const METRICS_MAX_WORKSPACES: &str = "SOCIALSCALR_METRICS_MAX_WORKSPACES";
pub const OUTBOUND_WINDOW: &str = "SOCIALSCALR_OUTBOUND_WINDOW";

/// File in a data directory holding the generated secret key of a `dev` installation.
pub const SECRET_KEY_FILE: &str = "secret.key";
const DATABASE_FILE: &str = "socialscalr.db";

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{name}: {reason}")]
    Invalid { name: &'static str, reason: String },
    #[error("{name} is not set")]
    Missing { name: &'static str },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

fn invalid(name: &'static str, reason: impl ToString) -> ConfigError {
    ConfigError::Invalid {
        name,
        reason: reason.to_string(),
    }
}

/// A variable's value; an empty value counts as unset.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

/// The database to use: the data directory's SQLite file when a directory is given,
/// else `DATABASE_URL`, else the SQLite file in `default_dir`.
pub fn database_url(data_dir: Option<&Path>, default_dir: &Path) -> Result<String, ConfigError> {
    if let Some(dir) = data_dir {
        return Ok(sqlite_url(dir));
    }
    match var(DATABASE_URL) {
        Some(url) if url.starts_with("sqlite:") || url.starts_with("postgres") => Ok(url),
        Some(_) => Err(invalid(
            DATABASE_URL,
            "must start with sqlite:// or postgres://",
        )),
        None => Ok(sqlite_url(default_dir)),
    }
}

fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join(DATABASE_FILE).display())
}

/// The directory holding a `sqlite://` database file, to create it before opening.
pub fn sqlite_dir(url: &str) -> Option<PathBuf> {
    sqlite_file(url)?.parent().map(Path::to_path_buf)
}

/// The database file a `sqlite://` URL names; `None` for an in-memory database.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let path = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or(path);
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

pub fn listen_addr(flag: Option<SocketAddr>, default: &str) -> Result<SocketAddr, ConfigError> {
    if let Some(addr) = flag {
        return Ok(addr);
    }
    let text = var(LISTEN_ADDR).unwrap_or_else(|| default.to_owned());
    text.parse()
        .map_err(|_| invalid(LISTEN_ADDR, format!("`{text}` is not an address:port")))
}

/// Where the Prometheus metrics listener binds, if anywhere.
pub fn metrics_addr() -> Result<Option<SocketAddr>, ConfigError> {
    var(METRICS_ADDR)
        .map(|text| {
            text.parse()
                .map_err(|_| invalid(METRICS_ADDR, format!("`{text}` is not an address:port")))
        })
        .transpose()
}

/// The window of the outbound cap, `SOCIALSCALR_OUTBOUND_WINDOW`: a minute, as the plans'
/// events per minute say, unless a test shortens it.
pub fn outbound_window() -> Result<Duration, ConfigError> {
    duration(
        OUTBOUND_WINDOW,
        Duration::from_secs(60),
        Duration::from_secs(1),
    )
}

/// The limiter named by `REDIS_URL`, else one kept in this process. A malformed URL is
/// refused here; an unreachable server is not, since the limiter falls back without it.
pub fn limiter() -> Result<Limiter, ConfigError> {
    match var(REDIS_URL) {
        None => Ok(Limiter::local()),
        Some(url) => Limiter::redis(&url).map_err(|e: LimiterError| invalid(REDIS_URL, e)),
    }
}

pub fn retry_schedule() -> Result<RetrySchedule, ConfigError> {
    match var(RETRY_SCHEDULE) {
        None => Ok(RetrySchedule::standard()),
        Some(text) => {
            RetrySchedule::parse(&text).map_err(|e: ScheduleError| invalid(RETRY_SCHEDULE, e))
        }
    }
}

pub fn flag(name: &'static str) -> Result<bool, ConfigError> {
    match var(name).as_deref() {
        None | Some("0" | "false") => Ok(false),
        Some("1" | "true") => Ok(true),
        Some(other) => Err(invalid(
            name,
            format!("`{other}` is not one of true, false, 1, 0"),
        )),
    }
}

/// A whole-number variable within `range`, else `default`.
pub fn count(
    name: &'static str,
    default: u32,
    range: std::ops::RangeInclusive<u32>,
) -> Result<u32, ConfigError> {
    let Some(text) = var(name) else {
        return Ok(default);
    };
    match text.parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ => Err(invalid(
            name,
            format!(
                "`{text}` is not a whole number from {} to {}",
                range.start(),
                range.end()
            ),
        )),
    }
}

/// A duration variable in the syntax of [`crate::duration`] (`90s`, `5m`, `1h`), else
/// `default`; a value under `minimum` is refused.
pub fn duration(
    name: &'static str,
    default: Duration,
    minimum: Duration,
) -> Result<Duration, ConfigError> {
    parse_duration(name, var(name).as_deref(), default, minimum)
}

fn parse_duration(
    name: &'static str,
    text: Option<&str>,
    default: Duration,
    minimum: Duration,
) -> Result<Duration, ConfigError> {
    let Some(text) = text else {
        return Ok(default);
    };
    let value = crate::duration::parse(text).map_err(|e| invalid(name, format!("`{text}` {e}")))?;
    if value < minimum {
        let minimum = crate::duration::format(minimum);
        return Err(invalid(
            name,
            format!("`{text}` is under the minimum {minimum}"),
        ));
    }
    Ok(value)
}

/// The key sealing webhook secrets, from `SOCIALSCALR_SECRET_KEY`.
pub fn secret_key() -> Result<SecretBox, ConfigError> {
    let text = var(SECRET_KEY).ok_or(ConfigError::Missing { name: SECRET_KEY })?;
    SecretBox::from_base64(&text).map_err(|e: CryptoError| invalid(SECRET_KEY, e))
}

/// The key from `SOCIALSCALR_SECRET_KEY` or, for a local installation, from the data
/// directory's key file, created with a new random key on first use.
pub fn secret_key_or_file(data_dir: &Path) -> Result<SecretBox, ConfigError> {
    if var(SECRET_KEY).is_some() {
        return secret_key();
    }
    let path = data_dir.join(SECRET_KEY_FILE);
    let io = |source| ConfigError::Io {
        path: path.clone(),
        source,
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(io)?;
            let key = SecretBox::generate_key();
            write_private_file(&path, &key).map_err(io)?;
            key
        }
        Err(error) => return Err(io(error)),
    };
    SecretBox::from_base64(&text).map_err(|e| ConfigError::Invalid {
        name: SECRET_KEY_FILE,
        reason: format!("{}: {e}", path.display()),
    })
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;

    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_dir_wins_over_the_environment() {
        let url = database_url(Some(Path::new("/data")), Path::new("/default")).unwrap();
        assert_eq!(url, "sqlite:///data/socialscalr.db");
        assert_eq!(sqlite_dir(&url), Some(PathBuf::from("/data")));
    }

    #[test]
    fn the_key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = secret_key_or_file(dir.path()).unwrap();
        let sealed = first.seal("ep_1", "whsec_x");
        let second = secret_key_or_file(dir.path()).unwrap();
        assert_eq!(second.open("ep_1", &sealed).unwrap(), "whsec_x");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(SECRET_KEY_FILE))
                .unwrap()
                .permissions();
            assert_eq!(mode.mode() & 0o777, 0o600);
        }
    }

    #[test]
    fn durations_default_parse_and_refuse_values_under_the_minimum() {
        let hour = Duration::from_secs(3_600);
        let parse = |text| parse_duration(POST_GRACE, text, hour, Duration::from_secs(1));
        assert_eq!(parse(None).unwrap(), hour);
        assert_eq!(parse(Some("90s")).unwrap(), Duration::from_secs(90));
        let error = parse(Some("0s")).unwrap_err().to_string();
        assert!(error.starts_with("SOCIALSCALR_POST_GRACE:"), "{error}");
        assert!(error.contains("minimum 1s"), "{error}");
        let error = parse(Some("1.5h")).unwrap_err().to_string();
        assert!(error.contains("whole number"), "{error}");
    }

    #[test]
    fn a_malformed_redis_url_names_the_variable_but_not_its_password() {
        let error = Limiter::redis("redis://:hunter2@[::1").map_err(|e| invalid(REDIS_URL, e));
        let error = error.err().expect("a malformed URL is refused").to_string();
        assert!(error.starts_with("REDIS_URL:"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
    }

    #[test]
    fn a_corrupt_key_file_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SECRET_KEY_FILE), "short").unwrap();
        let error = secret_key_or_file(dir.path()).unwrap_err().to_string();
        assert!(error.contains("secret.key"), "{error}");
    }
}
