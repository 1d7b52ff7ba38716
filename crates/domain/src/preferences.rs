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
        // Counted in characters, as the message says: a key of letters outside ASCII is
        // refused for its letters, not for a length it does not have.
        let len = value.chars().count();
        if !(1..=Self::MAX_LEN).contains(&len) {
            return Err(DomainError::invalid(
                "key",
                format!("must be 1 to {} characters long, got {len}", Self::MAX_LEN),
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
        // 40 characters but 80 bytes: refused for its letters, not as 40 characters too many.
        let error = SettingKey::parse(&"ж".repeat(40)).expect_err("not ASCII");
        assert!(error.to_string().contains("ASCII letters"), "{error}");
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

    mod properties {
        use proptest::prelude::*;

        use super::*;
        use crate::strategies::{any_text, text};

        fn key_char(c: char) -> bool {
            c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')
        }

        proptest! {
            // A key is accepted exactly when it is 1–64 ASCII letters, digits, '.', '_' or '-',
            // as typed; a refusal for length gives a length outside 1–64.
            #[test]
            fn a_setting_key_is_a_short_identifier(
                value in prop_oneof![any_text(), "[a-z._-]{0,70}", text(70)],
            ) {
                let rule = (1..=SettingKey::MAX_LEN).contains(&value.chars().count())
                    && value.chars().all(key_char);
                match SettingKey::parse(&value) {
                    Ok(key) => {
                        prop_assert!(rule, "{value:?} was accepted");
                        prop_assert_eq!(key.as_str(), value.as_str());
                    }
                    Err(error) => {
                        prop_assert!(!rule, "{value:?}: {error}");
                        prop_assert_eq!(error.field(), Some("key"));
                        let message = error.to_string();
                        if let Some(got) = message.split("got ").nth(1) {
                            let got: usize = got.parse().unwrap_or(0);
                            let in_bounds = (1..=SettingKey::MAX_LEN).contains(&got);
                            prop_assert!(!in_bounds, "{value:?}: {message}");
                        }
                    }
                }
            }

            // A value is kept exactly as given, and refused only over 4 096 characters.
            #[test]
            fn a_setting_value_is_any_text_up_to_4096_characters(
                value in prop_oneof![any_text(), text(4200)],
            ) {
                match SettingValue::parse(&value) {
                    Ok(kept) => {
                        prop_assert!(value.chars().count() <= SettingValue::MAX_LEN);
                        prop_assert_eq!(kept.as_str(), value.as_str());
                    }
                    Err(error) => {
                        prop_assert!(value.chars().count() > SettingValue::MAX_LEN);
                        prop_assert_eq!(error.field(), Some("value"));
                    }
                }
            }

            // A change is refused exactly when it names a key twice, in writes or removals.
            #[test]
            fn a_change_names_each_key_once(
                set in proptest::collection::vec("[a-e]", 0..5),
                remove in proptest::collection::vec("[a-e]", 0..5),
            ) {
                let key = |k: &String| SettingKey::parse(k).expect("key");
                let value = SettingValue::parse("1").expect("value");
                let changes = PreferenceChanges {
                    set: set.iter().map(|k| (key(k), value.clone())).collect(),
                    remove: remove.iter().map(key).collect(),
                    ..PreferenceChanges::default()
                };
                let mut all: Vec<&String> = set.iter().chain(&remove).collect();
                all.sort();
                let repeated = all.windows(2).any(|pair| pair[0] == pair[1]);
                match changes.validate() {
                    Ok(()) => prop_assert!(!repeated),
                    Err(error) => {
                        prop_assert!(repeated);
                        prop_assert_eq!(error.field(), Some("settings"));
                    }
                }
            }
        }
    }
}
