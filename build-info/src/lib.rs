//! Build-script helper of the platform crates: the build date and time (UTC, from
//! `SOURCE_DATE_EPOCH` for reproducible builds, else now) and the source's git hash,
//! as `AT+GMR` reports them, passed to the crate as compile-time environment variables.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Prints the `cargo:` lines that set `<prefix>_BUILD_DATE` (`Mmm dd yyyy`),
/// `<prefix>_BUILD_TIME` (`hh:mm:ss`) and `<prefix>_SOURCE_HASH` (8 hex digits, or
/// `unknown` outside a git checkout) for the crate being built. Call it from `build.rs`.
pub fn emit(prefix: &str) {
    let secs = std::env::var("SOURCE_DATE_EPOCH")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
        });
    let (date, time) = civil(secs);
    println!("cargo:rustc-env={prefix}_BUILD_DATE={date}");
    println!("cargo:rustc-env={prefix}_BUILD_TIME={time}");
    let hash = Command::new("git")
        .args(["rev-parse", "--short=8", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env={prefix}_SOURCE_HASH={hash}");
    println!("cargo:rerun-if-env-changed=SOURCE_DATE_EPOCH");
}

/// `Mmm dd yyyy` and `hh:mm:ss` (UTC) for a Unix time, as C's `__DATE__`/`__TIME__`.
pub fn civil(secs: u64) -> (String, String) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's days-to-civil algorithm.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let date = format!("{} {:2} {}", MONTHS[(month - 1) as usize], day, year);
    let time = format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    (date, time)
}

#[cfg(test)]
mod test {
    #[test]
    fn civil_dates() {
        assert_eq!(super::civil(0), ("Jan  1 1970".into(), "00:00:00".into()));
        assert_eq!(
            super::civil(1_795_824_000 + 3_723),
            ("Nov 28 2026".into(), "01:02:03".into())
        );
    }
}
