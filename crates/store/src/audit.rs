use std::borrow::Cow;

use serde_json::Value;
use sqlx::QueryBuilder;
use sqlx::types::Json;
use steward_domain::audit::{AuditAction, AuditOutcome};
use steward_domain::policy::ConsoleAuthorized;
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
    pub target_type: Option<Cow<'static, str>>,
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
    pub fn target(
        mut self,
        target_type: impl Into<Cow<'static, str>>,
        target_id: impl ToString,
    ) -> Self {
        self.target_type = Some(target_type.into());
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

/// Which audit events to list. Every field narrows the list; `None` does not filter.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// `None`: every event, platform events (no organization) included, as a SuperAdmin sees
    /// them. `Some(list)`: only events of those organizations; an empty list matches nothing.
    pub organizations: Option<Vec<OrganizationId>>,
    pub actor: Option<UserId>,
    /// An action code, such as `role.created`.
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub target_id: Option<String>,
    /// Events at or after this instant.
    pub from: Option<OffsetDateTime>,
    /// Events before this instant.
    pub to: Option<OffsetDateTime>,
}

impl Tx {
    /// Appends an audit event to this transaction.
    pub async fn audit(&mut self, event: &NewAuditEvent) -> Result<()> {
        self.audit_all(std::slice::from_ref(event)).await
    }

    /// Appends audit events to this transaction, many to a statement.
    pub async fn audit_all(&mut self, events: &[NewAuditEvent]) -> Result<()> {
        // 10 parameters an event: well under both databases' limits.
        for chunk in events.chunks(500) {
            on_tx!(&mut *self, |conn| {
                let mut query = QueryBuilder::new(
                    "INSERT INTO audit_events (id, occurred_at, actor_user_id, action, target_type, \
                     target_id, organization_id, client_address, outcome, detail) ",
                );
                query.push_values(chunk, |mut values, event| {
                    values
                        .push_bind(AuditEventId::new().as_uuid())
                        .push_bind(Timestamp::from(event.occurred_at))
                        .push_bind(event.actor.map(|id| id.as_uuid()))
                        .push_bind(event.action.code())
                        .push_bind(event.target_type.as_deref().map(str::to_owned))
                        .push_bind(event.target_id.clone())
                        .push_bind(event.organization.map(|id| id.as_uuid()))
                        .push_bind(event.client_address.clone())
                        .push_bind(event.outcome.code())
                        .push_bind(Json(event.detail.clone()));
                });
                query.build().execute(&mut *conn).await?;
            });
        }
        Ok(())
    }
}

impl Store {
    /// Writes an event that records no change, such as a failed login.
    pub async fn record_audit_event(&self, event: &NewAuditEvent) -> Result<()> {
        self.record_audit_events(std::slice::from_ref(event)).await
    }

    /// Writes events that record no change, such as a refused mutation's (one per trail it
    /// belongs to), in one transaction of their own.
    pub async fn record_audit_events(&self, events: &[NewAuditEvent]) -> Result<()> {
        let mut tx = self.begin().await?;
        tx.audit_all(events).await?;
        tx.commit().await
    }

    /// The retention purge: deletes the events that occurred before `before`, and records
    /// that it did (an `audit.purged` event, which is not purged); returns how many went.
    ///
    /// This is the one path by which audit events leave the database: the table's triggers
    /// (migration 0016) refuse every UPDATE, and every DELETE except of events older than the
    /// limit this transaction writes in `audit_retention_purge` and removes again before it
    /// commits.
    pub async fn purge_audit_events(
        &self,
        _console: &ConsoleAuthorized,
        before: OffsetDateTime,
        entry: &AuditEntry,
    ) -> Result<u64> {
        let before = Timestamp::from(before);
        let mut tx = self.begin().await?;
        let purged = on_tx!(&mut tx, |conn| {
            sqlx::query("INSERT INTO audit_retention_purge (purge_before) VALUES ($1)")
                .bind(before)
                .execute(&mut *conn)
                .await?;
            let purged = sqlx::query("DELETE FROM audit_events WHERE occurred_at < $1")
                .bind(before)
                .execute(&mut *conn)
                .await?
                .rows_affected();
            sqlx::query("DELETE FROM audit_retention_purge WHERE purge_before = $1")
                .bind(before)
                .execute(&mut *conn)
                .await?;
            purged
        });
        tx.audit(
            &entry
                .event(AuditAction::AuditPurged, AuditOutcome::Success)
                .detail(serde_json::json!({
                    "before": before
                        .into_inner()
                        .format(&time::format_description::well_known::Rfc3339)
                        .unwrap_or_default(),
                    "events": purged,
                })),
        )
        .await?;
        tx.commit().await?;
        Ok(purged)
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

    /// A page of events matching `filter`, newest first (by time, then id), continuing after
    /// the event `after`, and how many match in all.
    ///
    /// The cursor is the last event's id; its time is looked up in the same statement, so
    /// events sharing one instant are neither repeated nor skipped across pages. Only the
    /// retention purge deletes events, the oldest ones: a cursor into a purged part of the
    /// trail finds no event, and the page is empty.
    pub async fn audit_events_page(
        &self,
        filter: &AuditFilter,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<(Vec<AuditEventRecord>, i64)> {
        if filter.organizations.as_ref().is_some_and(Vec::is_empty) {
            return Ok((Vec::new(), 0));
        }
        let from = filter.from.map(Timestamp::from);
        let to = filter.to.map(Timestamp::from);
        // A macro, not a closure: it is expanded once per backend's query builder.
        macro_rules! push_filter {
            ($query:expr) => {
                $query.push(" WHERE 1 = 1");
                if let Some(organizations) = &filter.organizations {
                    $query.push(" AND organization_id IN (");
                    push_in_list!($query, organizations.iter().map(|id| id.as_uuid()));
                }
                if let Some(actor) = filter.actor {
                    $query
                        .push(" AND actor_user_id = ")
                        .push_bind(actor.as_uuid());
                }
                if let Some(action) = &filter.action {
                    $query.push(" AND action = ").push_bind(action.as_str());
                }
                if let Some(target_type) = &filter.target_type {
                    $query
                        .push(" AND target_type = ")
                        .push_bind(target_type.as_str());
                }
                if let Some(target_id) = &filter.target_id {
                    $query
                        .push(" AND target_id = ")
                        .push_bind(target_id.as_str());
                }
                if let Some(from) = from {
                    $query.push(" AND occurred_at >= ").push_bind(from);
                }
                if let Some(to) = to {
                    $query.push(" AND occurred_at < ").push_bind(to);
                }
            };
        }
        let (events, total) = on_pool!(self, |pool| {
            let mut query = QueryBuilder::new(
                "SELECT id, occurred_at, actor_user_id, action, target_type, target_id, \
                 organization_id, client_address, outcome, detail FROM audit_events",
            );
            push_filter!(query);
            if let Some(after) = after {
                query
                    .push(
                        " AND (occurred_at, id) < \
                         (SELECT occurred_at, id FROM audit_events WHERE id = ",
                    )
                    .push_bind(after)
                    .push(")");
            }
            query
                .push(" ORDER BY occurred_at DESC, id DESC LIMIT ")
                .push_bind(limit);
            let events = query
                .build_query_as::<AuditEventRecord>()
                .fetch_all(pool)
                .await?;
            let mut count = QueryBuilder::new("SELECT COUNT(*) FROM audit_events");
            push_filter!(count);
            let total: i64 = count.build_query_scalar().fetch_one(pool).await?;
            (events, total)
        });
        Ok((events, total))
    }
}
