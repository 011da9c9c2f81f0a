//! The products service: the catalogue, stock, and stock reservations.
//!
//! - [`settings`], [`startup`]: configuration and start-up (migrations, seed).
//! - [`router`]: every route and who may call it.
//! - [`controllers`]: one file per action.
//! - [`domain`]: validated product input and search parameters.
//! - [`catalogue`]: the product and category tables, behind [`cache`].
//! - [`cache`]: cached catalogue reads, invalidated on every change in any
//!   replica (PostgreSQL `NOTIFY`).
//! - [`reservations`]: all-or-nothing, idempotent stock reservations.
//! - [`seed`]: the catalogue a new shop starts with; [`picture`]: product images.

pub mod cache;
pub mod catalogue;
pub mod controllers;
pub mod domain;
pub mod picture;
pub mod reservations;
pub mod router;
pub mod seed;
pub mod settings;
pub mod startup;
