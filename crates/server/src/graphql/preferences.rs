//! A user's own preferences: language, e-mail subscription and front-end settings.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use steward_domain::DomainError;
use steward_domain::preferences::{PreferenceChanges, SettingKey, SettingValue};

use crate::error::{AppError, refused};
use crate::graphql::context::ContextExt as _;
use crate::graphql::organizations::expected;
use crate::graphql::types::{Language, User, UserError};

/// One front-end setting.
#[derive(SimpleObject, Debug, Clone)]
pub struct Setting {
    pub key: String,
    pub value: String,
}

/// A setting to write; a null `value` removes the key.
#[derive(InputObject)]
pub struct SettingInput {
    /// 1–64 ASCII letters, digits, `.`, `_` or `-`, such as `console.theme`.
    pub key: String,
    /// At most 4 096 characters; null removes the setting.
    pub value: Option<String>,
}

#[derive(InputObject, Default)]
pub struct UpdatePreferencesInput {
    /// The language of the interface and of e-mails.
    pub language: Option<Language>,
    /// Whether to receive notification e-mails; security and account e-mails are always sent.
    pub email_subscription: Option<bool>,
    /// Settings to write or remove. A user keeps at most 64.
    #[graphql(default)]
    pub settings: Vec<SettingInput>,
}

#[derive(SimpleObject)]
pub struct UpdatePreferencesPayload {
    pub user: Option<User>,
    pub errors: Vec<UserError>,
}

#[derive(Default)]
pub struct PreferencesMutation;

#[Object]
impl PreferencesMutation {
    /// Changes the caller's own preferences. Fields left out stay as they are; the whole
    /// change is applied or none of it.
    async fn update_preferences(
        &self,
        ctx: &Context<'_>,
        input: UpdatePreferencesInput,
    ) -> async_graphql::Result<UpdatePreferencesPayload> {
        let principal = ctx.principal()?;
        let changes = match parse_changes(input) {
            Ok(changes) => changes,
            Err(error) => {
                return Ok(UpdatePreferencesPayload {
                    user: None,
                    errors: vec![error],
                });
            }
        };
        let entry = ctx.audit_entry()?;
        let app = ctx.app()?;
        let updated = expected(
            app.store
                .update_preferences(principal.user_id, &changes, &entry)
                .await,
        )?;
        if let Err(error) = updated {
            return Ok(UpdatePreferencesPayload {
                user: None,
                errors: vec![UserError::from_domain("input", &error)],
            });
        }
        // Read afresh: the request's loader may hold the user as it was before the change.
        let user = app
            .store
            .user_by_id(principal.user_id)
            .await
            .map_err(AppError::from)?
            .ok_or_else(|| refused(DomainError::NotFound { what: "the user" }))?;
        Ok(UpdatePreferencesPayload {
            user: Some(User(user)),
            errors: Vec::new(),
        })
    }
}

/// The input as domain values. A bad setting's error points at it:
/// `["input", "settings", "2", "key"]`.
fn parse_changes(input: UpdatePreferencesInput) -> Result<PreferenceChanges, UserError> {
    let mut changes = PreferenceChanges {
        language: input.language.map(Into::into),
        email_subscription: input.email_subscription,
        ..Default::default()
    };
    for (index, setting) in input.settings.into_iter().enumerate() {
        let at = |error: DomainError| {
            let mut user_error = UserError::from_domain("input", &error);
            if let Some(field) = error.field() {
                user_error.field = vec![
                    "input".to_owned(),
                    "settings".to_owned(),
                    index.to_string(),
                    field.to_owned(),
                ];
            }
            user_error
        };
        let key = SettingKey::parse(&setting.key).map_err(at)?;
        match setting.value {
            Some(value) => changes
                .set
                .push((key, SettingValue::parse(&value).map_err(at)?)),
            None => changes.remove.push(key),
        }
    }
    changes
        .validate()
        .map_err(|error| UserError::from_domain("input", &error))?;
    Ok(changes)
}
