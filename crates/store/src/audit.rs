use serde_json::Value;
use sqlx::types::Json;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::{AuditEventId, OrganizationId, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::{Result, Store, Timestamp, Tx, on_pool, on_tx};

/// An audit event about to be written, inside the transaction of the change it records.
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub occurred_at: OffsetDateTime,
    pub actor: Option<UserId>,
    pub action: AuditAction,
    pub target_type: Option<&'static str>,
    pub target_id: Option<String>,
    pub organization: Option<OrganizationId>,
    pub client_address: Option<String>,
    pub outcome: AuditOutcome,
    /// Facts that help an investigator. Never a secret: no password, token or key.
    pub detail: Value,
}

/// Who acts, from where, and when: the part of an audit event that a request knows before it
/// knows what it will change.
#[derive(Debug, Clone)]
pub struct AuditEntry {
    pub actor: Option<UserId>,
    pub client_address: Option<String>,
    pub at: OffsetDateTime,
}

impl AuditEntry {
    pub fn event(&self, action: AuditAction, outcome: AuditOutcome) -> NewAuditEvent {
        NewAuditEvent {
            occurred_at: self.at,
            actor: self.actor,
            action,
            target_type: None,
            target_id: None,
            organization: None,
            client_address: self.client_address.clone(),
            outcome,
            detail: Value::Object(Default::default()),
        }
    }
}

impl NewAuditEvent {
    pub fn target(mut self, target_type: &'static str, target_id: impl ToString) -> Self {
        self.target_type = Some(target_type);
        self.target_id = Some(target_id.to_string());
        self
    }

    pub fn organization(mut self, organization: OrganizationId) -> Self {
        self.organization = Some(organization);
        self
    }

    pub fn detail(mut self, detail: Value) -> Self {
        self.detail = detail;
        self
    }
}

/// A stored audit event.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AuditEventRecord {
    pub id: Uuid,
    pub occurred_at: Timestamp,
    pub actor_user_id: Option<Uuid>,
    pub action: String,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    pub organization_id: Option<Uuid>,
    pub client_address: Option<String>,
    pub outcome: String,
    pub detail: Json<Value>,
}

impl Tx {
    /// Appends an audit event to this transaction.
    pub async fn audit(&mut self, event: &NewAuditEvent) -> Result<()> {
        on_tx!(self, |conn| {
            sqlx::query(
                "INSERT INTO audit_events (id, occurred_at, actor_user_id, action, target_type, \
                 target_id, organization_id, client_address, outcome, detail) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
            )
            .bind(AuditEventId::new().as_uuid())
            .bind(Timestamp::from(event.occurred_at))
            .bind(event.actor.map(|id| id.as_uuid()))
            .bind(event.action.code())
            .bind(event.target_type)
            .bind(event.target_id.as_deref())
            .bind(event.organization.map(|id| id.as_uuid()))
            .bind(event.client_address.as_deref())
            .bind(event.outcome.code())
            .bind(Json(&event.detail))
            .execute(conn)
            .await?;
        });
        Ok(())
    }
}

impl Store {
    /// Writes an event that records no change, such as a failed login.
    pub async fn record_audit_event(&self, event: &NewAuditEvent) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.audit(event).await?;
        tx.commit().await
    }

    /// The newest events first, optionally only one action's.
    pub async fn recent_audit_events(
        &self,
        action: Option<AuditAction>,
        limit: i64,
    ) -> Result<Vec<AuditEventRecord>> {
        let action = action.map(AuditAction::code);
        let events = on_pool!(self, |pool| {
            sqlx::query_as::<_, AuditEventRecord>(
                "SELECT id, occurred_at, actor_user_id, action, target_type, target_id, \
                 organization_id, client_address, outcome, detail FROM audit_events \
                 WHERE ($1 IS NULL OR action = $1) ORDER BY occurred_at DESC, id DESC LIMIT $2",
            )
            .bind(action)
            .bind(limit)
            .fetch_all(pool)
            .await?
        });
        Ok(events)
    }
}
