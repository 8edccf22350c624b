//! Flag values shared by the demos' hand-written argument parsers.

use std::time::Duration;

/// Parses a number, naming the flag when it is not one.
pub fn number<T: std::str::FromStr>(text: &str, flag: &str) -> Result<T, String> {
    text.parse()
        .map_err(|_| format!("{flag} expects a number, got {text:?}"))
}

/// Parses `500ms`, `5s`, `2m`.
pub fn duration(text: &str) -> Result<Duration, String> {
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .ok_or_else(|| format!("duration {text:?} needs a unit (ms, s, m)"))?;
    let (digits, unit) = text.split_at(split);
    let amount: u64 = number(digits, "duration")?;
    match unit {
        "ms" => Ok(Duration::from_millis(amount)),
        "s" => Ok(Duration::from_secs(amount)),
        "m" => Ok(Duration::from_secs(amount * 60)),
        _ => Err(format!("duration {text:?} has unknown unit {unit:?}")),
    }
}
