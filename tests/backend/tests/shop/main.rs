//! The backend end to end: catalogue, orders, stock under concurrency,
//! reservations, recovery after a crash, and bad input.

mod bad_input;
mod catalogue;
mod concurrency;
mod database_tls;
mod orders;
mod recovery;
mod reservations;
