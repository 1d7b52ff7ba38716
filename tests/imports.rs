//! Bulk user imports over HTTP: a GraphQL multipart upload and the plain `text/csv`
//! endpoint, per-row results, invitations through the outbox, the initiator's e-mail, an
//! idempotent re-run, refused files, cancellation and the `jobProgress` subscription.

use serde_json::{Value, json};

use crate::support::{TestApp, TestOrg, on_each_backend};

const FAST_JOBS: &[&str] = &["--job-poll-ms", "50", "--import-batch-rows", "4"];

const JOB_FIELDS: &str = "id status totalRows processedRows createdRows skippedRows failedRows \
     dryRun sendInvitations fileName error attempts";

/// Every rule of single creation, an in-file repeat and conflict, an existing member, a row
/// of the wrong length, and two good rows (one with a role and language).
const MIXED: &str = "\u{feff}Username,EMAIL,name,Role,language\r\n\
ann1,ann1@example.com,\"Lee, Ann\",Editor,de\r\n\
bob2,bob2@example.com,Bob Ray,,\r\n\
x,short@example.com,Too Short,,\r\n\
dan4,not-an-address,Dan,,\r\n\
eve5,eve5@example.com,,,\r\n\
fay6,fay6@example.com,Fay,No Such Role,\r\n\
gus7,gus7@example.com,Gus,,fr\r\n\
ANN1,ann1@example.com,Ann again,,\r\n\
hal9,bob2@example.com,Hal,,\r\n\
carol,carol@example.com,Carol,,\r\n\
ivy11,ivy11@example.com\r\n";

/// Starts an import with a GraphQL multipart request.
async fn upload(
    app: &TestApp,
    token: &str,
    organization: &str,
    file: &[u8],
    options: Value,
) -> Value {
    let query = format!(
        "mutation($o: ID!, $f: Upload!, $d: Boolean! = false, $s: Boolean! = true) {{ \
         startBulkUserImport(organization: $o, file: $f, dryRun: $d, sendInvitations: $s) \
         {{ job {{ {JOB_FIELDS} }} errors {{ field code message }} }} }}"
    );
    let variables = json!({
        "o": organization,
        "d": options.get("dryRun").cloned().unwrap_or(json!(false)),
        "s": options.get("sendInvitations").cloned().unwrap_or(json!(true)),
    });
    let body = app
        .graphql_upload(Some(token), &query, variables, "f", file)
        .await;
    assert!(body.get("errors").is_none(), "{:?}: {body}", app.backend);
    body["data"]["startBulkUserImport"].clone()
}

/// Polls the job until it has ended, and returns it.
async fn ended(app: &TestApp, token: &str, job: &str) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let body = app
            .graphql(
                Some(token),
                &format!("query($j: ID!) {{ job(id: $j) {{ {JOB_FIELDS} }} }}"),
                json!({ "j": job }),
            )
            .await;
        let found = body["data"]["job"].clone();
        let status = found["status"].as_str().unwrap_or_default();
        if ["SUCCEEDED", "FAILED", "CANCELLED"].contains(&status) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}: the job did not end: {body}",
            app.backend
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

async fn rows(app: &TestApp, token: &str, job: &str, status: &str) -> Vec<Value> {
    let body = app
        .graphql(
            Some(token),
            "query($j: ID!, $s: ImportRowStatus) { job(id: $j) { rows(status: $s, first: 100) { \
             totalCount nodes { rowNumber username email status field reason \
             user { username status } } } } }",
            json!({ "j": job, "s": status }),
        )
        .await;
    body["data"]["job"]["rows"]["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("{:?}: no rows: {body}", app.backend))
}

fn row(rows: &[Value], number: i64) -> &Value {
    rows.iter()
        .find(|row| row["rowNumber"] == number)
        .unwrap_or_else(|| panic!("row {number} not among {rows:?}"))
}

/// Subscribes to `jobProgress` over WebSocket with `init` as the `connection_init` payload.
async fn subscribe(app: &TestApp, init: Value, job: &str) -> Vec<Value> {
    app.subscribe(
        init,
        "subscription($j: ID!) { jobProgress(id: $j) { status processedRows createdRows } }",
        json!({ "j": job }),
    )
    .await
}

/// A server whose worker looks for jobs once, at start, then not for an hour: a job stays
/// queued, and the tests play the workers against the store.
const IDLE_WORKER: &[&str] = &["--job-poll-ms", "3600000"];

/// Queues an import of `file` once the idle worker's first look has passed; its id.
async fn queued(
    app: &TestApp,
    token: &str,
    organization: &str,
    file: &str,
    options: Value,
) -> String {
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let started = upload(app, token, organization, file.as_bytes(), options).await;
    assert_eq!(
        started["job"]["status"], "QUEUED",
        "{:?}: {started}",
        app.backend
    );
    started["job"]["id"].as_str().expect("job id").to_owned()
}

/// Claims the queued job as a worker would at `now`, with a 30-second lease.
async fn claim(app: &TestApp, now: time::OffsetDateTime) -> steward_store::ClaimedJob {
    app.database
        .store
        .claim_job(now, time::Duration::seconds(30))
        .await
        .expect("claim")
        .expect("a queued job")
}

async fn start(app: &TestApp) -> TestOrg {
    let org = app.organization_owned_by("Importers", "owner").await;
    app.member_of(&org, "carol").await;
    org
}

#[tokio::test]
async fn an_uploaded_file_creates_its_users_once_and_reports_every_row() {
    on_each_backend(FAST_JOBS, |app| async move {
        let org = start(&app).await;
        let token = org.owner_token.clone();
        let started = upload(&app, &token, &org.id, MIXED.as_bytes(), json!({})).await;
        assert_eq!(started["errors"], json!([]), "{:?}: {started}", app.backend);
        assert_eq!(started["job"]["totalRows"], 11);
        assert_eq!(started["job"]["fileName"], "people.csv");
        assert_eq!(started["job"]["sendInvitations"], true);
        let job = started["job"]["id"].as_str().expect("job id").to_owned();

        let done = ended(&app, &token, &job).await;
        assert_eq!(done["status"], "SUCCEEDED", "{:?}: {done}", app.backend);
        assert_eq!(
            (
                &done["createdRows"],
                &done["skippedRows"],
                &done["failedRows"]
            ),
            (&json!(2), &json!(2), &json!(7)),
            "{:?}: {done}",
            app.backend
        );
        assert_eq!(done["processedRows"], 11);

        let created = rows(&app, &token, &job, "CREATED").await;
        assert_eq!(created.len(), 2);
        assert_eq!(row(&created, 1)["user"]["username"], "ann1");
        assert_eq!(row(&created, 2)["user"]["status"], "PENDING_VALIDATION");

        let skipped = rows(&app, &token, &job, "SKIPPED").await;
        assert!(
            row(&skipped, 8)["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("repeats row 1"))
        );
        assert!(
            row(&skipped, 10)["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("is a member of this organization"))
        );

        let failed = rows(&app, &token, &job, "FAILED").await;
        let fields: Vec<(i64, &str)> = failed
            .iter()
            .map(|row| {
                (
                    row["rowNumber"].as_i64().unwrap_or_default(),
                    row["field"].as_str().unwrap_or_default(),
                )
            })
            .collect();
        assert_eq!(
            fields,
            vec![
                (3, "username"),
                (4, "email"),
                (5, "name"),
                (6, "role"),
                (7, "language"),
                (9, "email"),
                (11, "row"),
            ],
            "{:?}: {failed:?}",
            app.backend
        );
        assert!(
            row(&failed, 9)["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("row 2"))
        );
        assert!(
            row(&failed, 6)["reason"]
                .as_str()
                .is_some_and(|reason| reason.contains("No Such Role"))
        );

        // Every row, a page at a time.
        let page = |after: Value| {
            let token = token.clone();
            let job = job.clone();
            let app = &app;
            async move {
                app.graphql(
                    Some(&token),
                    "query($j: ID!, $a: String) { job(id: $j) { rows(first: 5, after: $a) { \
                     totalCount pageInfo { hasNextPage endCursor } nodes { rowNumber } } } }",
                    json!({ "j": job, "a": after }),
                )
                .await["data"]["job"]["rows"]
                    .clone()
            }
        };
        let first = page(Value::Null).await;
        assert_eq!(first["totalCount"], 11);
        assert_eq!(first["pageInfo"]["hasNextPage"], true);
        let second = page(first["pageInfo"]["endCursor"].clone()).await;
        let numbers: Vec<&Value> = second["nodes"]
            .as_array()
            .map(|nodes| nodes.iter().map(|node| &node["rowNumber"]).collect())
            .unwrap_or_default();
        assert_eq!(
            numbers,
            [6, 7, 8, 9, 10]
                .map(|n| json!(n))
                .iter()
                .collect::<Vec<_>>()
        );

        // The new users were invited through the outbox, each in their own language, and
        // the owner heard that the import ended.
        let invitation = app.mail_about("ann1@example.com", "Importers").await;
        assert!(
            invitation["text"]
                .as_str()
                .is_some_and(|text| text.contains("/invitations/accept")),
            "{invitation}"
        );
        app.mail_about("bob2@example.com", "Importers").await;
        let finished = app.mail_about("owner@example.com", "import").await;
        assert!(
            finished["text"]
                .as_str()
                .is_some_and(|text| text.contains("Users created: 2. Skipped: 2. Failed: 7.")),
            "{finished}"
        );
        let members = app
            .graphql(
                Some(&token),
                "query($o: ID!) { organization(id: $o) { members(first: 50) { nodes { \
                 status user { username } defaultRole { name } } } } }",
                json!({ "o": org.id }),
            )
            .await;
        let ann = members["data"]["organization"]["members"]["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|node| node["user"]["username"] == "ann1"))
            .cloned()
            .unwrap_or_else(|| panic!("{:?}: ann1 is no member: {members}", app.backend));
        assert_eq!(ann["status"], "INVITED");
        assert_eq!(ann["defaultRole"]["name"], "Editor");

        // The same file again creates nothing new: every row that was created is skipped.
        let again = upload(&app, &token, &org.id, MIXED.as_bytes(), json!({})).await;
        let again = again["job"]["id"].as_str().expect("job id").to_owned();
        let done = ended(&app, &token, &again).await;
        assert_eq!(done["createdRows"], 0, "{:?}: {done}", app.backend);
        assert_eq!(done["skippedRows"], 4);
        assert_eq!(done["failedRows"], 7);
        app.mails("ann1@example.com", 1).await;
        let total = app
            .database
            .store
            .mailbox_page(Some("ann1@example.com"), None, 100)
            .await
            .expect("mailbox")
            .0
            .len();
        assert_eq!(total, 1, "{:?}: a second invitation was sent", app.backend);
        app
    })
    .await;
}

#[tokio::test]
async fn a_dry_run_creates_nothing_and_a_file_that_is_not_csv_starts_nothing() {
    on_each_backend(FAST_JOBS, |app| async move {
        let org = start(&app).await;
        let token = org.owner_token.clone();
        let file =
            "username,email,name\nnew1,new1@example.com,New One\nnew1,new1@example.com,Again\n";
        let dry = upload(
            &app,
            &token,
            &org.id,
            file.as_bytes(),
            json!({ "dryRun": true }),
        )
        .await;
        let job = dry["job"]["id"].as_str().expect("job id").to_owned();
        let done = ended(&app, &token, &job).await;
        assert_eq!(done["dryRun"], true);
        assert_eq!(
            (&done["createdRows"], &done["skippedRows"]),
            (&json!(1), &json!(1))
        );
        let created = rows(&app, &token, &job, "CREATED").await;
        assert_eq!(
            created[0]["user"],
            Value::Null,
            "{:?}: a dry run made a user",
            app.backend
        );
        let login = app.login("new1", "whatever password").await;
        assert!(login["accessToken"].is_null(), "{login}");
        assert_eq!(login["errors"][0]["code"], "WRONG_CREDENTIALS", "{login}");

        for (file, words) in [
            (
                &b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe"[..],
                "is not UTF-8 text",
            ),
            (
                &b"username,name\nann,Ann\n"[..],
                "lacks the columns \"email\"",
            ),
            (&b"{\"users\": [1, 2]}\n"[..], "is this a CSV file?"),
            (&b""[..], "is empty"),
            (&b"username,email,name\n"[..], "no rows"),
        ] {
            let refused = upload(&app, &token, &org.id, file, json!({})).await;
            assert_eq!(refused["job"], Value::Null, "{:?}: {refused}", app.backend);
            assert_eq!(refused["errors"][0]["field"], json!(["file"]));
            assert!(
                refused["errors"][0]["message"]
                    .as_str()
                    .is_some_and(|message| message.contains(words)),
                "{:?}: expected {words:?}: {refused}",
                app.backend
            );
        }
        // Refused files leave no half-staged import behind.
        let leftover = app
            .database
            .store
            .purge_abandoned_imports(time::OffsetDateTime::now_utc() + time::Duration::days(1))
            .await
            .expect("purge");
        assert_eq!(
            leftover, 0,
            "{:?}: a refused file left an import",
            app.backend
        );
        let jobs = app
            .graphql(
                Some(&token),
                "query($o: ID!) { jobs(filter: {organization: $o}) { totalCount } }",
                json!({ "o": org.id }),
            )
            .await;
        assert_eq!(jobs["data"]["jobs"]["totalCount"], 1, "{jobs}");

        // Another organization's administrator sees neither the job nor its rows.
        let other = app.organization_owned_by("Others", "stranger").await;
        let hidden = app
            .graphql(
                Some(&other.owner_token),
                "query($j: ID!) { job(id: $j) { id } }",
                json!({ "j": job }),
            )
            .await;
        assert_eq!(hidden["data"]["job"], Value::Null, "{hidden}");
        let cancel = app
            .graphql(
                Some(&other.owner_token),
                "mutation($j: ID!) { cancelJob(id: $j) { job { id } } }",
                json!({ "j": job }),
            )
            .await;
        assert_eq!(crate::support::error_code(&cancel), "NOT_FOUND", "{cancel}");
        app
    })
    .await;
}

#[tokio::test]
async fn scripts_post_csv_and_subscribers_follow_the_job_to_its_end() {
    on_each_backend(FAST_JOBS, |app| async move {
        let org = start(&app).await;
        let token = org.owner_token.clone();
        let file = "username,email,name\nzed1,zed1@example.com,Zed\nzoe2,zoe2@example.com,Zoe\n";
        let response = app
            .client
            .post(format!(
                "{}/imports/users?organization={}&sendInvitations=false&fileName=staff.csv",
                app.base, org.id
            ))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(file)
            .send()
            .await
            .expect("sent");
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.expect("JSON");
        let started = &body["data"]["startBulkUserImport"];
        assert_eq!(started["errors"], json!([]), "{body}");
        assert_eq!(started["job"]["sendInvitations"], false);
        let job = started["job"]["id"].as_str().expect("job id").to_owned();

        // Subscribed over WebSocket, authenticated in connection_init: the job until it
        // ends, then the end of the subscription.
        let messages = subscribe(
            &app,
            json!({ "Authorization": format!("Bearer {token}") }),
            &job,
        )
        .await;
        assert_eq!(
            messages.last().map(|message| &message["type"]),
            Some(&json!("complete")),
            "{:?}: {messages:?}",
            app.backend
        );
        let last = &messages[messages.len() - 2]["payload"]["data"]["jobProgress"];
        assert_eq!(last["status"], "SUCCEEDED", "{:?}: {last}", app.backend);
        assert_eq!(last["createdRows"], 2);

        // Added as active members waiting for validation; nobody was written to but the
        // owner.
        let members = app
            .graphql(
                Some(&token),
                "query($o: ID!) { organization(id: $o) { members(first: 50) { nodes { \
                 status user { username status } } } } }",
                json!({ "o": org.id }),
            )
            .await;
        let zed = members["data"]["organization"]["members"]["nodes"]
            .as_array()
            .and_then(|nodes| nodes.iter().find(|node| node["user"]["username"] == "zed1"))
            .cloned()
            .unwrap_or_else(|| panic!("{members}"));
        assert_eq!(zed["status"], "ACTIVE");
        assert_eq!(zed["user"]["status"], "PENDING_VALIDATION");
        app.mail_about("owner@example.com", "import").await;
        let (mails, _) = app
            .database
            .store
            .mailbox_page(Some("zed1@example.com"), None, 10)
            .await
            .expect("mailbox");
        assert!(mails.is_empty(), "{:?}: zed1 got mail", app.backend);

        // Without credentials, or as another organization's administrator, the job does not
        // exist.
        let stranger = app.organization_owned_by("Others", "stranger").await;
        for init in [
            json!({}),
            json!({ "Authorization": format!("Bearer {}", stranger.owner_token) }),
        ] {
            let messages = subscribe(&app, init.clone(), &job).await;
            let [refusal, end] = messages.as_slice() else {
                panic!("{:?}: {init}: {messages:?}", app.backend);
            };
            assert_eq!(end["type"], "complete", "{end}");
            assert_eq!(refusal["payload"]["data"], Value::Null, "{refusal}");
            let code = refusal["payload"]["errors"][0]["extensions"]["code"].as_str();
            assert!(
                matches!(code, Some("UNAUTHENTICATED") | Some("NOT_FOUND")),
                "{:?}: {refusal}",
                app.backend
            );
        }

        // Wrong content type, and a missing organization, are refused with a hint.
        let wrong = app
            .client
            .post(format!(
                "{}/imports/users?organization={}",
                app.base, org.id
            ))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body("{}")
            .send()
            .await
            .expect("sent");
        assert_eq!(wrong.status(), 415);
        let missing = app
            .client
            .post(format!("{}/imports/users", app.base))
            .bearer_auth(&token)
            .header("content-type", "text/csv")
            .body(file)
            .send()
            .await
            .expect("sent");
        assert_eq!(missing.status(), 400);
        app
    })
    .await;
}

#[tokio::test]
async fn a_queued_job_can_be_cancelled_and_then_never_runs() {
    on_each_backend(IDLE_WORKER, |app| async move {
        let org = start(&app).await;
        let token = org.owner_token.clone();
        let file = "username,email,name\nqueued1,queued1@example.com,Q\n";
        let job = queued(&app, &token, &org.id, file, json!({})).await;
        let cancelled = app
            .graphql(
                Some(&token),
                "mutation($j: ID!) { cancelJob(id: $j) { job { status processedRows } errors { message } } }",
                json!({ "j": job }),
            )
            .await;
        assert_eq!(
            cancelled["data"]["cancelJob"]["job"]["status"],
            "CANCELLED",
            "{:?}: {cancelled}",
            app.backend
        );
        let again = app
            .graphql(
                Some(&token),
                "mutation($j: ID!) { cancelJob(id: $j) { job { id } errors { field message } } }",
                json!({ "j": job }),
            )
            .await;
        assert!(
            again["data"]["cancelJob"]["errors"][0]["message"]
                .as_str()
                .is_some_and(|message| message.contains("the job has ended already")),
            "{again}"
        );
        let claimed = app
            .database
            .store
            .claim_job(time::OffsetDateTime::now_utc(), time::Duration::seconds(60))
            .await
            .expect("claim");
        assert!(claimed.is_none(), "{:?}: a cancelled job was claimed", app.backend);
        app.mail_about("owner@example.com", "import").await;

        // Past its retention, an ended job goes with its rows; a younger one stays.
        let store = &app.database.store;
        let now = time::OffsetDateTime::now_utc();
        assert_eq!(
            store
                .purge_finished_jobs(now - time::Duration::days(1))
                .await
                .expect("purge"),
            0
        );
        assert_eq!(
            store
                .purge_finished_jobs(now + time::Duration::days(1))
                .await
                .expect("purge"),
            1
        );
        let gone = app
            .graphql(
                Some(&token),
                "query($j: ID!) { job(id: $j) { id } }",
                json!({ "j": job }),
            )
            .await;
        assert_eq!(gone["data"]["job"], Value::Null, "{gone}");
        app
    })
    .await;
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_over_and_resumed_after_its_checkpoint() {
    on_each_backend(IDLE_WORKER, |app| async move {
        use steward_store::BatchOutcome;
        let org = start(&app).await;
        let mut file = String::from("username,email,name\n");
        for n in 1..=10 {
            file.push_str(&format!("worker{n},worker{n}@example.com,Worker {n}\n"));
        }
        let options = json!({ "sendInvitations": false });
        queued(&app, &org.owner_token, &org.id, &file, options).await;
        let store = &app.database.store;
        let lease = time::Duration::seconds(30);
        let now = time::OffsetDateTime::now_utc();
        let first = claim(&app, now).await;
        assert!(
            store.claim_job(now, lease).await.expect("claim").is_none(),
            "{:?}: a leased job was claimed twice",
            app.backend
        );
        let outcome = store
            .import_batch(&first, 4, &mut Vec::new(), now, lease)
            .await
            .expect("batch");
        let BatchOutcome::Advanced(job) = outcome else {
            panic!("{:?}: {outcome:?}", app.backend);
        };
        assert_eq!((job.checkpoint, job.created_rows), (4, 4));

        // The first worker dies; once its lease has run out, another takes the job over
        // and goes on after row 4, while the first is refused.
        let later = now + lease + time::Duration::seconds(1);
        let second = store
            .claim_job(later, lease)
            .await
            .expect("claim")
            .expect("taken over");
        assert_eq!((second.job.attempts, second.job.checkpoint), (2, 4));
        let stale = store
            .import_batch(&first, 4, &mut Vec::new(), later, lease)
            .await
            .expect("batch");
        assert!(matches!(stale, BatchOutcome::LeaseLost), "{stale:?}");
        loop {
            match store
                .import_batch(&second, 4, &mut Vec::new(), later, lease)
                .await
                .expect("batch")
            {
                BatchOutcome::Advanced(_) => {}
                BatchOutcome::Exhausted(_) => break,
                other => panic!("{:?}: {other:?}", app.backend),
            }
        }
        let ended = store
            .finish_job(
                &second,
                steward_domain::job::JobStatus::Succeeded,
                None,
                later,
            )
            .await
            .expect("finish")
            .expect("still leased");
        assert_eq!(
            (ended.processed_rows, ended.created_rows, ended.attempts),
            (10, 10, 2)
        );
        let (rows, _) = store
            .import_rows_page(ended.id, None, None, 100)
            .await
            .expect("rows");
        let users: std::collections::BTreeSet<_> = rows.iter().filter_map(|row| row.user).collect();
        assert_eq!(
            users.len(),
            10,
            "{:?}: every row created one user",
            app.backend
        );
        app
    })
    .await;
}

#[tokio::test]
async fn a_running_job_asked_to_cancel_stops_before_its_next_batch() {
    on_each_backend(IDLE_WORKER, |app| async move {
        use steward_store::BatchOutcome;
        let org = start(&app).await;
        let file = "username,email,name\nrun1,run1@example.com,R\nrun2,run2@example.com,R\n";
        let options = json!({ "sendInvitations": false });
        let job = queued(&app, &org.owner_token, &org.id, file, options).await;
        let store = &app.database.store;
        let lease = time::Duration::seconds(30);
        let now = time::OffsetDateTime::now_utc();
        let worker = claim(&app, now).await;
        let BatchOutcome::Advanced(_) = store
            .import_batch(&worker, 1, &mut Vec::new(), now, lease)
            .await
            .expect("batch")
        else {
            panic!("{:?}: the first batch did not advance", app.backend);
        };
        let asked = app
            .graphql(
                Some(&org.owner_token),
                "mutation($j: ID!) { cancelJob(id: $j) { job { status cancelRequested } errors { message } } }",
                json!({ "j": job }),
            )
            .await;
        assert_eq!(
            asked["data"]["cancelJob"]["job"],
            json!({ "status": "RUNNING", "cancelRequested": true }),
            "{:?}: {asked}",
            app.backend
        );
        let next = store
            .import_batch(&worker, 1, &mut Vec::new(), now, lease)
            .await
            .expect("batch");
        assert!(matches!(next, BatchOutcome::CancelRequested(_)), "{next:?}");
        let ended = store
            .finish_job(&worker, steward_domain::job::JobStatus::Succeeded, None, now)
            .await
            .expect("finish")
            .expect("still leased");
        assert_eq!(ended.status, steward_domain::job::JobStatus::Cancelled);
        assert_eq!((ended.processed_rows, ended.created_rows), (1, 1));
        app.mail_about("owner@example.com", "import").await;
        app
    })
    .await;
}

#[tokio::test]
async fn an_import_stops_when_its_initiator_may_no_longer_manage_users() {
    on_each_backend(IDLE_WORKER, |app| async move {
        let org = start(&app).await;
        let manager = app
            .create_user("manager", crate::support::ADMIN_PASSWORD)
            .await;
        let administrator = app
            .role_id(&org.owner_token, &org.id, "Administrator")
            .await;
        let added = app
            .graphql(
                Some(&app.admin_token().await),
                "mutation($o: ID!, $u: ID!, $r: ID!) { addMember(input: {organization: $o, \
                 user: $u, role: $r}) { errors { message } } }",
                json!({ "o": org.id, "u": manager, "r": administrator }),
            )
            .await;
        assert_eq!(added["data"]["addMember"]["errors"], json!([]), "{added}");
        let token = app.token("manager", crate::support::ADMIN_PASSWORD).await;
        let file = "username,email,name\nlate1,late1@example.com,L\n";
        queued(&app, &token, &org.id, file, json!({})).await;

        // The manager is suspended before a worker gets to the import.
        let suspended = app
            .graphql(
                Some(&org.owner_token),
                "mutation($u: ID!) { suspendUser(input: {user: $u}) { errors { message } } }",
                json!({ "u": manager }),
            )
            .await;
        assert_eq!(
            suspended["data"]["suspendUser"]["errors"],
            json!([]),
            "{suspended}"
        );
        let claimed = claim(&app, time::OffsetDateTime::now_utc()).await;
        let (_stop, stopped) = tokio::sync::watch::channel(false);
        let worked = steward_server::jobs::JobWorker {
            app: app.server.app.clone(),
        }
        .work_on(&claimed, &stopped)
        .await
        .expect("worked");
        let steward_server::jobs::Worked::Ended(job) = worked else {
            panic!("{:?}: the job did not end: {worked:?}", app.backend);
        };
        assert_eq!(job.status, steward_domain::job::JobStatus::Failed);
        assert_eq!(job.created_rows, 0);
        assert!(
            job.error
                .as_deref()
                .is_some_and(|error| error.contains("no longer active")),
            "{:?}: {:?}",
            app.backend,
            job.error
        );
        app
    })
    .await;
}
