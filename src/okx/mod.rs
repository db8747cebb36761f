//! Everything that speaks OKX v5 REST: signing, endpoint table, wire types, client.

pub mod client;
pub mod endpoints;
pub mod error;
pub mod host;
pub mod pacing;
pub mod shared;
pub mod sign;
pub mod wire;

pub use client::{ClientConfig, EndpointStats, OkxClient};
pub use error::OkxError;
