//! A user's preferences: language, e-mail subscription, and a bounded key/value map that
//! front-ends keep their own settings in.
//!
//! The map is bounded so that no client can turn a user record into a file store: keys are
//! short identifiers, values are at most a few kilobytes, and a user has a limited number.

use crate::DomainError;
use crate::user::Language;

/// 1–64 characters of ASCII letters, digits, `.`, `_` and `-` (`console.theme`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SettingKey(String);

impl SettingKey {
    pub const MAX_LEN: usize = 64;

    pub fn parse(value: &str) -> Result<Self, DomainError> {
        if value.is_empty() || value.len() > Self::MAX_LEN {
            return Err(DomainError::invalid(
                "key",
                format!(
                    "must be 1 to {} characters long, got {}",
                    Self::MAX_LEN,
                    value.chars().count()
                ),
            ));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(DomainError::invalid(
                "key",
                "may contain only ASCII letters, digits, '.', '_' and '-' (for example console.theme)",
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Any text up to 4 096 characters (a front-end usually stores JSON).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingValue(String);

impl SettingValue {
    pub const MAX_LEN: usize = 4096;

    pub fn parse(value: &str) -> Result<Self, DomainError> {
        let len = value.chars().count();
        if len > Self::MAX_LEN {
            return Err(DomainError::invalid(
                "value",
                format!(
                    "must be at most {} characters long, got {len}; keep large data elsewhere",
                    Self::MAX_LEN
                ),
            ));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How many settings one user may keep.
pub const MAX_SETTINGS: usize = 64;

/// What a user changes about their own preferences; `None` leaves a field as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreferenceChanges {
    pub language: Option<Language>,
    pub email_subscription: Option<bool>,
    /// Settings written (added or replaced).
    pub set: Vec<(SettingKey, SettingValue)>,
    /// Settings removed.
    pub remove: Vec<SettingKey>,
}

impl PreferenceChanges {
    /// Refuses a key named twice in one change, which would make its outcome depend on order.
    pub fn validate(&self) -> Result<(), DomainError> {
        let mut keys: Vec<&SettingKey> = self
            .set
            .iter()
            .map(|(key, _)| key)
            .chain(&self.remove)
            .collect();
        keys.sort();
        if let Some(pair) = keys.windows(2).find(|pair| pair[0] == pair[1]) {
            return Err(DomainError::invalid(
                "settings",
                format!(
                    "the key {:?} appears more than once; name each key once",
                    pair[0].0
                ),
            ));
        }
        Ok(())
    }
}

/// Checks the number of settings a user would have after a change.
pub fn check_setting_count(count: usize) -> Result<(), DomainError> {
    if count > MAX_SETTINGS {
        return Err(DomainError::invalid(
            "settings",
            format!(
                "a user may keep at most {MAX_SETTINGS} settings, this change would make {count}; \
                 remove some first"
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_keys_are_short_identifiers() {
        assert!(SettingKey::parse("console.theme").is_ok());
        assert!(SettingKey::parse("a_b-c.9").is_ok());
        assert!(SettingKey::parse("").is_err());
        assert!(SettingKey::parse(&"k".repeat(65)).is_err());
        assert!(SettingKey::parse(&"k".repeat(64)).is_ok());
        let error = SettingKey::parse("with space").expect_err("space");
        assert!(error.to_string().contains("console.theme"), "{error}");
    }

    #[test]
    fn setting_values_are_bounded_in_characters() {
        assert!(SettingValue::parse("").is_ok());
        assert!(SettingValue::parse(&"ж".repeat(4096)).is_ok());
        assert!(SettingValue::parse(&"ж".repeat(4097)).is_err());
    }

    #[test]
    fn a_user_keeps_a_bounded_number_of_settings() {
        assert!(check_setting_count(MAX_SETTINGS).is_ok());
        let error = check_setting_count(MAX_SETTINGS + 1).expect_err("too many");
        assert!(error.to_string().contains("remove some first"), "{error}");
    }

    #[test]
    fn a_key_may_be_named_once_per_change() {
        let key = |k: &str| SettingKey::parse(k).expect("key");
        let value = SettingValue::parse("1").expect("value");
        let twice = PreferenceChanges {
            set: vec![(key("a"), value.clone())],
            remove: vec![key("a")],
            ..Default::default()
        };
        assert!(twice.validate().is_err());
        let once = PreferenceChanges {
            set: vec![(key("a"), value)],
            remove: vec![key("b")],
            ..Default::default()
        };
        assert!(once.validate().is_ok());
    }
}
