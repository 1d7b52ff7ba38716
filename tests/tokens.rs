use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Value, json};

use crate::support::{TestApp, error_code, on_each_backend};

const ME: &str = "{ me { username } }";

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64")).expect("json")
}

fn header_of(token: &str) -> Value {
    let header = token.split('.').next().expect("header");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64")).expect("json")
}

/// Signs `claims` with the server's own current key, as only the server could.
async fn sign_with_server_key(app: &TestApp, claims: &Value) -> String {
    let keys = app
        .database
        .store
        .signing_keys(time::OffsetDateTime::now_utc())
        .await
        .expect("keys");
    let key = keys.first().expect("a signing key");
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&key.private_key))
        .expect("sign")
}

async fn assert_unauthenticated(app: &TestApp, token: &str, what: &str) {
    let body = app.graphql(Some(token), ME, json!({})).await;
    assert_eq!(
        error_code(&body),
        "UNAUTHENTICATED",
        "{:?}: {what}: {body}",
        app.backend
    );
    assert_eq!(body["data"], Value::Null, "{what}");
}

#[tokio::test]
async fn a_valid_token_is_accepted_so_the_refusals_below_mean_something() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let resigned = sign_with_server_key(&app, &claims_of(&token)).await;
        for token in [token, resigned] {
            let body = app.graphql(Some(&token), ME, json!({})).await;
            assert_eq!(
                body["data"]["me"]["username"], "admin",
                "{:?}: {body}",
                app.backend
            );
        }
        app
    })
    .await;
}

#[tokio::test]
async fn tampered_tokens_are_refused() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let parts: Vec<&str> = token.split('.').collect();

        let mut claims = claims_of(&token);
        claims["sub"] = json!(uuid::Uuid::new_v4());
        let forged_payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        let swapped = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
        assert_unauthenticated(&app, &swapped, "payload changed, signature kept").await;

        let mut signature = URL_SAFE_NO_PAD.decode(parts[2]).expect("signature");
        signature[0] ^= 0x01;
        let flipped = format!(
            "{}.{}.{}",
            parts[0],
            parts[1],
            URL_SAFE_NO_PAD.encode(signature)
        );
        assert_unauthenticated(&app, &flipped, "one signature bit flipped").await;

        assert_unauthenticated(&app, "not.a.token", "garbage").await;
        assert_unauthenticated(&app, "", "empty").await;
        app
    })
    .await;
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let mut claims = claims_of(&token);
        let past = time::OffsetDateTime::now_utc().unix_timestamp() - 60;
        claims["iat"] = json!(past - 900);
        claims["exp"] = json!(past);
        let expired = sign_with_server_key(&app, &claims).await;
        let body = app.graphql(Some(&expired), ME, json!({})).await;
        assert_eq!(
            error_code(&body),
            "UNAUTHENTICATED",
            "{:?}: {body}",
            app.backend
        );
        assert!(
            body["errors"][0]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("expired")
        );
        app
    })
    .await;
}

#[tokio::test]
async fn tokens_for_another_issuer_or_audience_are_refused() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let mut claims = claims_of(&token);
        claims["iss"] = json!("https://evil.example");
        assert_unauthenticated(
            &app,
            &sign_with_server_key(&app, &claims).await,
            "wrong issuer",
        )
        .await;

        let mut claims = claims_of(&token);
        claims["aud"] = json!("another-service");
        assert_unauthenticated(
            &app,
            &sign_with_server_key(&app, &claims).await,
            "wrong audience",
        )
        .await;
        app
    })
    .await;
}

#[tokio::test]
async fn unsigned_and_wrong_algorithm_tokens_are_refused() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let claims = claims_of(&token);
        let kid = header_of(&token)["kid"].clone();

        let none_header =
            URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string());
        let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
        assert_unauthenticated(&app, &format!("{none_header}.{payload}."), "alg none").await;

        // The classic confusion: HS256 keyed with the published public key.
        let jwks = app.jwks().await;
        let public = URL_SAFE_NO_PAD
            .decode(jwks["keys"][0]["x"].as_str().expect("x"))
            .expect("x");
        let mut header = Header::new(Algorithm::HS256);
        header.kid = kid.as_str().map(str::to_owned);
        let confused = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&public))
            .expect("sign");
        assert_unauthenticated(&app, &confused, "HS256 with the public key").await;
        app
    })
    .await;
}

#[tokio::test]
async fn a_malformed_authorization_header_is_refused() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let response = app
            .client
            .post(format!("{}/graphql", app.base))
            .header("Authorization", format!("Token {token}"))
            .json(&json!({ "query": ME }))
            .send()
            .await
            .expect("sent");
        let body: Value = response.json().await.expect("json");
        assert_eq!(
            error_code(&body),
            "UNAUTHENTICATED",
            "{:?}: {body}",
            app.backend
        );
        app
    })
    .await;
}

#[tokio::test]
async fn anonymous_callers_get_unauthenticated_from_me() {
    on_each_backend(&[], |app| async move {
        let body = app.graphql(None, ME, json!({})).await;
        assert_eq!(
            error_code(&body),
            "UNAUTHENTICATED",
            "{:?}: {body}",
            app.backend
        );
        app
    })
    .await;
}

#[tokio::test]
async fn issued_tokens_verify_against_the_published_jwks() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let jwks = app.jwks().await;
        let header = header_of(&token);
        assert_eq!(header["alg"], "EdDSA");
        let key = jwks["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .find(|key| key["kid"] == header["kid"])
            .unwrap_or_else(|| panic!("{:?}: the token's kid is published: {jwks}", app.backend));
        assert_eq!(key["kty"], "OKP");
        assert_eq!(key["crv"], "Ed25519");
        let decoding = DecodingKey::from_ed_components(key["x"].as_str().expect("x")).expect("key");
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&["http://steward.test"]);
        validation.set_audience(&["steward"]);
        let data = jsonwebtoken::decode::<Value>(&token, &decoding, &validation).expect("verifies");
        assert!(data.claims["sid"].is_string() && data.claims["jti"].is_string());
        app
    })
    .await;
}

#[tokio::test]
async fn tokens_of_unknown_keys_and_forged_api_keys_are_refused() {
    on_each_backend(&[], |app| async move {
        let token = app.admin_token().await;
        let claims = claims_of(&token);
        let kid = header_of(&token)["kid"].as_str().expect("kid").to_owned();
        // A well-formed Ed25519 token from a key the server never made.
        let stranger = steward_server::auth::tokens::generate_signing_key().expect("key");
        let sign = |kid: &str| {
            let mut header = Header::new(Algorithm::EdDSA);
            header.kid = Some(kid.to_owned());
            jsonwebtoken::encode(
                &header,
                &claims,
                &EncodingKey::from_ed_der(&stranger.private_key),
            )
            .expect("sign")
        };
        assert_unauthenticated(&app, &sign(&stranger.kid), "unknown kid").await;
        assert_unauthenticated(&app, &sign(&kid), "the server's kid, another key").await;

        // An API key is looked up by its hash, so no forged one matches, however it is signed.
        let mut api_claims = claims.clone();
        api_claims["token_use"] = json!("api_key");
        let none_header =
            URL_SAFE_NO_PAD.encode(json!({ "alg": "none", "typ": "JWT", "kid": kid }).to_string());
        let payload = URL_SAFE_NO_PAD.encode(api_claims.to_string());
        assert_unauthenticated(&app, &format!("{none_header}.{payload}."), "forged API key").await;
        let signed = sign_with_server_key(&app, &api_claims).await;
        assert_unauthenticated(&app, &signed, "an API key the server never issued").await;
        app
    })
    .await;
}
