//! Password composition rules of organizations.

use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::password::CompositionRules;
use steward_domain::policy::{Authorized, ManageOrganization};
use steward_domain::{OrganizationId, UserId};
use uuid::Uuid;

use crate::{AuditEntry, Result, Store, Timestamp, on_pool, on_tx};

#[derive(sqlx::FromRow)]
struct RulesRow {
    organization_id: Uuid,
    require_lowercase: bool,
    require_uppercase: bool,
    require_digit: bool,
    require_symbol: bool,
    min_length: Option<i32>,
}

impl From<&RulesRow> for CompositionRules {
    fn from(row: &RulesRow) -> Self {
        CompositionRules {
            lowercase: row.require_lowercase,
            uppercase: row.require_uppercase,
            digit: row.require_digit,
            symbol: row.require_symbol,
            min_len: row
                .min_length
                .and_then(|length| usize::try_from(length).ok()),
        }
    }
}

macro_rules! select_rules {
    () => {
        "SELECT r.organization_id, r.require_lowercase, r.require_uppercase, r.require_digit, \
         r.require_symbol, r.min_length FROM organization_password_rules r"
    };
}

/// Pushes the statement of [`Store::password_rules_of_organizations`].
macro_rules! push_password_rules_of_organizations {
    ($query:expr, $organizations:expr) => {{
        $query.push(concat!(select_rules!(), " WHERE r.organization_id IN ("));
        push_in_list!($query, $organizations.iter().map(|id| id.as_uuid()));
    }};
}

impl Store {
    /// Sets the proof's organization's rules; all off removes them.
    pub async fn set_password_rules(
        &self,
        proof: &Authorized<ManageOrganization>,
        rules: CompositionRules,
        entry: &AuditEntry,
    ) -> Result<()> {
        let rules = rules.validate()?;
        let organization = proof.organization();
        let min_length = rules.min_len.and_then(|length| i32::try_from(length).ok());
        let mut tx = self.begin().await?;
        tx.refuse_deleted_organization(proof.organization()).await?;
        on_tx!(&mut tx, |conn| {
            sqlx::query(
                "INSERT INTO organization_password_rules (organization_id, require_lowercase, \
                 require_uppercase, require_digit, require_symbol, min_length, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (organization_id) DO UPDATE SET \
                 require_lowercase = excluded.require_lowercase, \
                 require_uppercase = excluded.require_uppercase, \
                 require_digit = excluded.require_digit, require_symbol = excluded.require_symbol, \
                 min_length = excluded.min_length, updated_at = excluded.updated_at",
            )
            .bind(organization.as_uuid())
            .bind(rules.lowercase)
            .bind(rules.uppercase)
            .bind(rules.digit)
            .bind(rules.symbol)
            .bind(min_length)
            .bind(Timestamp::from(entry.at))
            .execute(conn)
            .await?;
        });
        tx.audit(
            &entry
                .event(AuditAction::PasswordRulesChanged, AuditOutcome::Success)
                .target("organization", organization)
                .organization(organization)
                .detail(serde_json::json!({
                    "lowercase": rules.lowercase,
                    "uppercase": rules.uppercase,
                    "digit": rules.digit,
                    "symbol": rules.symbol,
                    "minLength": min_length,
                })),
        )
        .await?;
        tx.commit().await
    }

    /// The rules of several organizations; one without rules is left out.
    pub async fn password_rules_of_organizations(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<(OrganizationId, CompositionRules)>> {
        if organizations.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<RulesRow> = on_pool!(self, |pool| {
            let mut query = sqlx::QueryBuilder::new("");
            push_password_rules_of_organizations!(query, organizations);
            query.build_query_as().fetch_all(pool).await?
        });
        Ok(rows
            .iter()
            .map(|row| (OrganizationId(row.organization_id), row.into()))
            .collect())
    }

    /// The plan of [`Store::password_rules_of_organizations`]'s statement (see
    /// `explain_plan!`).
    #[cfg(feature = "testing")]
    pub async fn explain_password_rules_of_organizations(
        &self,
        organizations: &[OrganizationId],
    ) -> Result<Vec<String>> {
        Ok(explain_plan!(self, |query| {
            push_password_rules_of_organizations!(query, organizations)
        }))
    }

    /// The strictest rules of the organizations `user` is an active or invited member of:
    /// what a new password of theirs must meet.
    pub async fn password_rules_for_user(&self, user: UserId) -> Result<CompositionRules> {
        let rows: Vec<RulesRow> = on_pool!(self, |pool| {
            sqlx::query_as(concat!(
                select_rules!(),
                " JOIN memberships m ON m.organization_id = r.organization_id \
                 WHERE m.user_id = $1 AND m.status IN ('ACTIVE', 'INVITED')"
            ))
            .bind(user.as_uuid())
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .iter()
            .map(CompositionRules::from)
            .fold(CompositionRules::default(), CompositionRules::and))
    }
}
