//! The small duration syntax of registry URLs: `500ms`, `10s`, `2m`.

use std::time::Duration;

/// Parses a positive whole number followed by `ms`, `s` or `m`.
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = text.split_at(digits);
    let explain = || {
        format!(
            "{text:?} is not a duration; expected a whole number and ms, s or m, as in 500ms or 10s"
        )
    };
    let number: u64 = number.parse().map_err(|_| explain())?;
    let duration = match unit {
        "ms" => Duration::from_millis(number),
        "s" => Duration::from_secs(number),
        "m" => number
            .checked_mul(60)
            .map(Duration::from_secs)
            .ok_or_else(explain)?,
        _ => return Err(explain()),
    };
    if duration.is_zero() {
        return Err(format!("{text:?} is zero; a lease needs a positive TTL"));
    }
    Ok(duration)
}
