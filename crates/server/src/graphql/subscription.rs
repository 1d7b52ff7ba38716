//! Subscriptions, over WebSocket at `/graphql/ws` (the `graphql-transport-ws` and older
//! `graphql-ws` protocols). The caller authenticates in the `connection_init` payload:
//! `{"Authorization": "Bearer <access token or API key>"}`.

use std::time::Duration;

use async_graphql::{Context, ID, Subscription};
use futures_util::Stream;
use futures_util::stream;
use steward_domain::JobId;
use steward_store::{JobRecord, Store};

use crate::error::AppError;
use crate::graphql::context::{ContextExt as _, parse_id};
use crate::graphql::jobs::{Job, visible_job};

/// How often a subscription reads its job again. Reading the database (rather than events of
/// this instance) sees progress made by any instance.
const POLL: Duration = Duration::from_millis(500);

#[derive(Default)]
pub struct Subscription;

#[Subscription]
impl Subscription {
    /// The job at once, then again each time its progress or status changes, ending with the
    /// job in its final state. Needs to be able to see the job.
    async fn job_progress(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<impl Stream<Item = Job> + use<>> {
        let id: JobId = parse_id("id", &id)?;
        let record = visible_job(ctx, id).await?;
        let store = ctx.app()?.store.clone();
        Ok(stream::unfold(Next::Emit(record), move |next| {
            progress(store.clone(), next)
        }))
    }
}

enum Next {
    Emit(JobRecord),
    Watch(JobRecord),
    Done,
}

async fn progress(store: Store, next: Next) -> Option<(Job, Next)> {
    let mut last = match next {
        Next::Done => return None,
        Next::Emit(record) => return Some(emit(record)),
        Next::Watch(last) => last,
    };
    loop {
        tokio::time::sleep(POLL).await;
        let record = match store.job_by_id(last.id).await {
            Ok(Some(record)) => record,
            Ok(None) => return None,
            Err(error) => {
                tracing::warn!(job = %last.id, error = %AppError::from(error).describe(), "a job progress subscription could not read its job");
                continue;
            }
        };
        let changed = record.status != last.status
            || record.processed_rows != last.processed_rows
            || record.cancel_requested != last.cancel_requested;
        if changed {
            return Some(emit(record));
        }
        last = record;
    }
}

fn emit(record: JobRecord) -> (Job, Next) {
    let next = if record.status.is_finished() {
        Next::Done
    } else {
        Next::Watch(record.clone())
    };
    (Job(record), next)
}
