//! A user's own preferences and front-end settings.

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::preferences::{PreferenceChanges, check_setting_count};
use steward_domain::{DomainError, UserId};

use crate::{AuditEntry, Result, Store, Timestamp, on_pool, on_tx};

impl Store {
    /// Applies `changes` to the user's preferences in one transaction: a change that would
    /// leave the user with too many settings changes nothing.
    pub async fn update_preferences(
        &self,
        user: UserId,
        changes: &PreferenceChanges,
        entry: &AuditEntry,
    ) -> Result<()> {
        changes.validate()?;
        let now = Timestamp::from(entry.at);
        let mut tx = self.begin().await?;
        let count: i64 = on_tx!(&mut tx, |conn| {
            let updated = sqlx::query(
                "UPDATE users SET language = COALESCE($2, language), \
                 email_subscription = COALESCE($3, email_subscription), updated_at = $4 \
                 WHERE id = $1",
            )
            .bind(user.as_uuid())
            .bind(changes.language.map(|language| language.code()))
            .bind(changes.email_subscription)
            .bind(now)
            .execute(&mut *conn)
            .await?
            .rows_affected();
            if updated == 0 {
                return Err(DomainError::NotFound { what: "the user" }.into());
            }
            for key in &changes.remove {
                sqlx::query("DELETE FROM user_settings WHERE user_id = $1 AND key = $2")
                    .bind(user.as_uuid())
                    .bind(key.as_str())
                    .execute(&mut *conn)
                    .await?;
            }
            for (key, value) in &changes.set {
                sqlx::query(
                    "INSERT INTO user_settings (user_id, key, value, updated_at) \
                     VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (user_id, key) DO UPDATE SET value = excluded.value, \
                     updated_at = excluded.updated_at",
                )
                .bind(user.as_uuid())
                .bind(key.as_str())
                .bind(value.as_str())
                .bind(now)
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query_scalar("SELECT COUNT(*) FROM user_settings WHERE user_id = $1")
                .bind(user.as_uuid())
                .fetch_one(&mut *conn)
                .await?
        });
        check_setting_count(usize::try_from(count).unwrap_or(usize::MAX))?;
        tx.audit(
            &entry
                .event(AuditAction::PreferencesChanged, AuditOutcome::Success)
                .target("user", user)
                .detail(serde_json::json!({
                    "language": changes.language.map(|language| language.code()),
                    "emailSubscription": changes.email_subscription,
                    "settingsSet": changes.set.iter().map(|(key, _)| key.as_str()).collect::<Vec<_>>(),
                    "settingsRemoved": changes.remove.iter().map(|key| key.as_str()).collect::<Vec<_>>(),
                })),
        )
        .await?;
        tx.commit().await
    }

    /// The user's settings, by key.
    pub async fn settings_of(&self, user: UserId) -> Result<Vec<(String, String)>> {
        let settings = on_pool!(self, |pool| {
            sqlx::query_as("SELECT key, value FROM user_settings WHERE user_id = $1 ORDER BY key")
                .bind(user.as_uuid())
                .fetch_all(pool)
                .await?
        });
        Ok(settings)
    }
}
