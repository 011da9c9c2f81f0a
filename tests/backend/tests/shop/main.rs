//! The backend end to end: catalogue, orders, stock under concurrency,
//! reservations, recovery after a crash, bad input and login throttling.

mod bad_input;
mod catalogue;
mod concurrency;
mod database_tls;
mod login_throttle;
mod orders;
mod recovery;
mod reservations;
