use cloudshop_host::testing::env;
use cloudshop_platform::{ServiceId, db};
use sqlx::Executor;

#[tokio::test]
async fn the_auth_role_cannot_read_or_write_another_services_schema() {
    let env = env();
    let database = env.new_database();
    env.cluster()
        .psql(
            &database,
            "CREATE TABLE products.items (id int); ALTER TABLE products.items OWNER TO products; \
             CREATE TABLE orders.orders (id int); ALTER TABLE orders.orders OWNER TO orders;",
        )
        .expect("tables of other services");
    let pool = db::pool(&env.database(ServiceId::Auth, &database), ServiceId::Auth).expect("pool");
    pool.execute("CREATE TABLE own_table (id int)")
        .await
        .expect("auth may use its own schema");
    for sql in [
        "SELECT * FROM products.items",
        "SELECT * FROM orders.orders",
        "CREATE TABLE products.intruder (id int)",
        "CREATE TABLE public.intruder (id int)",
    ] {
        let err = pool.execute(sql).await.expect_err(sql);
        assert!(err.to_string().contains("permission denied"), "{sql}: {err}");
    }
}

#[tokio::test]
async fn plaintext_connections_to_postgres_are_refused() {
    let env = env();
    let settings = env.database("auth", "postgres");
    let password = std::fs::read_to_string(settings.password_file.path()).expect("password");
    let options = sqlx::postgres::PgConnectOptions::new()
        .host("127.0.0.1")
        .port(settings.port)
        .username("auth")
        .password(password.trim())
        .database("postgres")
        .ssl_mode(sqlx::postgres::PgSslMode::Disable);
    let result = sqlx::postgres::PgPool::connect_with(options).await;
    assert!(result.is_err(), "PostgreSQL accepted a plaintext connection");
}
