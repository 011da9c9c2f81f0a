//! The orders service.
//!
//! - [`settings`], [`startup`]: configuration and start-up.
//! - [`router`]: every route; [`controllers`]: one file per action.
//! - [`domain`]: a validated order request and idempotency key.
//! - [`store`]: the `orders` and `order_lines` tables.
//! - [`stock`]: the client of the products service's reservations.
//! - [`workflow`]: PENDING → CONFIRMED or REJECTED, and the reconciler that
//!   finishes orders a crash left PENDING.

pub mod controllers;
pub mod domain;
pub mod router;
pub mod settings;
pub mod startup;
pub mod stock;
pub mod store;
pub mod workflow;
