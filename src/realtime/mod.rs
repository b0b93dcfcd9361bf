//! The Realtime client: provider endpoints (URL, auth, dialect) and a
//! WebSocket connection that timestamps and traces every event.

pub mod client;
pub mod provider;
pub mod trace;

pub use client::{ClientError, ClientReceiver, ClientSender, RealtimeClient, TimedEvent};
pub use provider::{Endpoint, ProviderError, Secret};
pub use trace::{Direction, TraceRecord};
