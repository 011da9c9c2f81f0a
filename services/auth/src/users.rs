//! The `users` table.

use cloudshop_platform::jwt::Role;
use sqlx::PgPool;
use uuid::Uuid;

use crate::domain::Email;

/// An account as stored. `Debug` leaves out the password hash, which an
/// attacker could try passwords against offline.
#[derive(Clone, sqlx::FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("role", &self.role)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("an account with this email already exists")]
    Taken,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

impl cloudshop_platform::db::DatabaseCause for CreateError {
    fn database_cause(&self) -> Option<&sqlx::Error> {
        match self {
            Self::Db(source) => Some(source),
            Self::Taken => None,
        }
    }
}

pub async fn find_by_email(pool: &PgPool, email: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, password_hash, role FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(pool)
        .await
}

pub async fn find_by_id(pool: &PgPool, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as("SELECT id, email, password_hash, role FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await
}

pub async fn create(
    pool: &PgPool,
    email: &Email,
    password_hash: &str,
    role: Role,
) -> Result<User, CreateError> {
    let result = sqlx::query_as(
        "INSERT INTO users (id, email, password_hash, role) VALUES ($1, $2, $3, $4) \
         RETURNING id, email, password_hash, role",
    )
    .bind(Uuid::now_v7())
    .bind(email.as_str())
    .bind(password_hash)
    .bind(role)
    .fetch_one(pool)
    .await;
    match result {
        Ok(user) => Ok(user),
        Err(sqlx::Error::Database(db)) if db.is_unique_violation() => Err(CreateError::Taken),
        Err(err) => Err(err.into()),
    }
}

pub async fn update_password_hash(pool: &PgPool, id: Uuid, password_hash: &str) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(password_hash)
        .execute(pool)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use cloudshop_host::redaction::assert_debug_hides;

    use super::*;

    #[test]
    fn debug_output_holds_none_of_the_password_hash() {
        let hash = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdC1kaXN0aW5jdGl2ZQ$aGFzaC1kaXN0aW5jdGl2ZS1Rdjd4Wms";
        let user = User {
            id: Uuid::nil(),
            email: "ada@example.com".into(),
            password_hash: hash.into(),
            role: Role::Customer,
        };
        assert_debug_hides(&user, hash.as_bytes());
        assert!(format!("{user:?}").contains("ada@example.com"));
    }
}
