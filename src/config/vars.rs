//! The one reader of Worker vars and secrets: text, numbers within a range, flags, fractions and
//! choices, each refused with a message that names the variable and never echoes a secret.

use super::ConfigError;
use std::ops::RangeInclusive;

/// A var or secret by name.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

/// Vars and secrets by name; a value is trimmed, and an empty one counts as unset.
pub struct Vars<'a> {
    lookup: Lookup<'a>,
}

impl<'a> Vars<'a> {
    /// Reads through `lookup` (an `env` lookup in the Worker, a map in tests and the CLI).
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Vars {
            lookup: Box::new(lookup),
        }
    }

    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name)
            .map(|value| value.trim().to_owned())
            .filter(|value| !value.is_empty())
    }

    /// The value of `name`, or `default`.
    pub fn text(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    /// A whole number within `range`, or `default` when unset.
    pub fn number(
        &self,
        name: &str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<u64, ConfigError> {
        let value = match self.get(name) {
            None => default,
            Some(text) => text
                .parse()
                .map_err(|_| ConfigError(format!("{name}: {text:?} is not a whole number")))?,
        };
        if !range.contains(&value) {
            return Err(ConfigError(format!(
                "{name} must be {} to {}",
                range.start(),
                range.end()
            )));
        }
        Ok(value)
    }

    /// `true`/`1`/`yes` or `false`/`0`/`no`, or `default` when unset.
    pub fn flag(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes") => Ok(true),
            Some("false" | "0" | "no") => Ok(false),
            Some(v) => Err(ConfigError(format!("{name}: {v:?} is not true or false"))),
        }
    }

    /// A decimal fraction from 0 to 1 ([`parse_fraction`]), or `default` when unset.
    pub fn fraction(&self, name: &str, default: f64) -> Result<f64, ConfigError> {
        match self.get(name) {
            None => Ok(default),
            Some(v) => parse_fraction(&v)
                .ok_or_else(|| ConfigError(format!("{name}: {v:?} is not between 0 and 1"))),
        }
    }

    /// One of `choices` by its name, or the first choice when unset.
    pub fn choice<T: Copy>(&self, name: &str, choices: &[(&str, T)]) -> Result<T, ConfigError> {
        let Some(value) = self.get(name) else {
            return choices
                .first()
                .map(|(_, choice)| *choice)
                .ok_or_else(|| ConfigError(format!("{name}: no choices")));
        };
        choices
            .iter()
            .find(|(text, _)| *text == value)
            .map(|(_, choice)| *choice)
            .ok_or_else(|| {
                let names: Vec<String> = choices.iter().map(|(n, _)| format!("{n:?}")).collect();
                ConfigError(format!("{name}: {value:?} is not {}", names.join(" or ")))
            })
    }

    /// A comma-separated list (entries trimmed, empty ones dropped).
    pub fn list(&self, name: &str) -> Vec<String> {
        self.text(name, "")
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// A decimal fraction from 0 to 1 such as `0`, `1`, `0.5` or `.01` (at most 9 decimal places).
/// Plain digits only, no sign or exponent, so no general float parser (and its ~10 KB of tables)
/// ends up in the Worker.
pub fn parse_fraction(text: &str) -> Option<f64> {
    let (whole, decimals) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.len() + decimals.len() == 0 || whole.len() > 1 || decimals.len() > 9 {
        return None;
    }
    if !digits(whole) || !digits(decimals) {
        return None;
    }
    let scale = 10u64.pow(decimals.len() as u32);
    let numerator = format!("{whole}{decimals}").parse::<u64>().ok()?;
    (numerator <= scale).then(|| numerator as f64 / scale as f64)
}
